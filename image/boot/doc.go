// Package boot is what the appliance runs as u-root's uinit (`wirebox
// boot`): it loads the kernel modules listed in the image's modules.dep,
// configures the network from the kernel command line, mounts the
// persistent data partition when a disk carries one, picks the
// configuration (kernel command line, then data partition, then the image's
// defaults, as gokrazy's getConfValue does), starts the daemon in its own
// session, runs the console in the foreground, and returns so u-root's init
// starts the fallback shell.
//
// Kernel command line parameters:
//
//	ip=CLIENT::GW:MASK:HOST:DEV:off   static management address (kernel syntax); ip=dhcp is not supported
//	wirebox.ip=DEV:ADDR/BITS,...      further addresses (e.g. the HA peer link)
//	wirebox.config=PATH               configuration file (in the image or under /data)
//	wirebox.data=DEV                  data partition device (default: the ext4 file system labelled wirebox-data)
//	wirebox.console=off               do not run the console (TUI); go straight to the shell
//	wirebox.tty=COLSxROWS             serial console size (serial lines report 0x0)
//	wirebox.debug=1                   daemon output on the console instead of /var/log/wirebox.log
package boot
