// Package image builds the wirebox appliance: a Debian kernel (fetched with
// apt-get download, unpacked with dpkg -x and cached), an initramfs made
// with u-root's builder as a library (u-root's init, a busybox of u-root
// tools, the static wirebox binary as the uinit, the kernel modules the
// appliance needs with a modules.dep written as depmod writes it, the guest
// API's TLS certificate and token, the default configuration), and a hybrid
// BIOS/UEFI ISO made with grub-mkrescue.
//
// The guest side of the boot is in image/boot; the QEMU runner in qemu/.
package image
