package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// lz4Legacy starts the LZ4 stream a CONFIG_KERNEL_LZ4 bzImage carries.
var lz4Legacy = []byte{0x02, 0x21, 0x4c, 0x18}

// ErrNoELF says a bzImage's payload is not something ExtractELF can unpack
// (another compression); the bzImage itself still boots.
var ErrNoELF = errors.New("no LZ4-compressed kernel in the bzImage")

// maxVmlinux bounds the unpacked kernel (Debian's cloud kernel: 53 MB).
const maxVmlinux = 256 << 20

// ExtractELF unpacks the kernel ELF (vmlinux) from an LZ4 bzImage and
// checks it has the PVH entry note QEMU needs to start it directly.
// Booted as -kernel vmlinux, QEMU enters the kernel at its PVH entry: no
// real-mode setup, no decompressor (under TCG the bzImage's own LZ4
// decompression and relocation run emulated).
func ExtractELF(bzImage []byte) ([]byte, error) {
	i := bytes.Index(bzImage, lz4Legacy)
	if i < 0 {
		return nil, ErrNoELF
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(lz4.NewReader(bytes.NewReader(bzImage[i:])), maxVmlinux+1))
	if err != nil {
		return nil, fmt.Errorf("unpack the kernel: %w", err)
	}
	if n > maxVmlinux {
		return nil, fmt.Errorf("unpacked kernel larger than %d bytes", maxVmlinux)
	}
	f, err := elf.NewFile(bytes.NewReader(out.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("unpacked kernel: %w", err)
	}
	defer f.Close()
	if !hasPVHNote(f) {
		return nil, errors.New("unpacked kernel has no PVH entry note (CONFIG_PVH)")
	}
	return out.Bytes(), nil
}

// hasPVHNote looks for the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (18),
// which QEMU's -kernel takes as the PVH entry point.
func hasPVHNote(f *elf.File) bool {
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(b) >= 12 {
			nameSz := int(f.ByteOrder.Uint32(b[0:4]))
			descSz := int(f.ByteOrder.Uint32(b[4:8]))
			typ := f.ByteOrder.Uint32(b[8:12])
			off := 12 + align4(nameSz)
			if off > len(b) {
				break
			}
			name := string(bytes.TrimRight(b[12:12+nameSz], "\x00"))
			if name == "Xen" && typ == 18 {
				return true
			}
			off += align4(descSz)
			if off > len(b) {
				break
			}
			b = b[off:]
		}
	}
	return false
}

func align4(n int) int { return (n + 3) &^ 3 }
