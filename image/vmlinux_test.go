package image

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
)

// TestExtractELF unpacks Debian's cloud kernel (the one the image boots):
// an ELF with the PVH entry note, which QEMU starts directly.
func TestExtractELF(t *testing.T) {
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, DefaultKernelPackage, filepath.Join(cache, "wirebox", "kernel"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bz, err := os.ReadFile(k.Vmlinuz)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ExtractELF(bz)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || len(b) <= len(bz) {
		t.Errorf("unpacked %d bytes (bzImage %d): machine %v type %v", len(b), len(bz), f.Machine, f.Type)
	}
	t.Logf("%s: bzImage %d bytes, vmlinux %d bytes", k.Version, len(bz), len(b))

	// A bzImage with another compression: no ELF, and it says so.
	if _, err := ExtractELF(bz[:bytes.Index(bz, lz4Legacy)]); !errors.Is(err, ErrNoELF) {
		t.Errorf("no LZ4 stream: %v, want ErrNoELF", err)
	}
}

func FuzzExtractELF(f *testing.F) {
	f.Add([]byte{})
	f.Add(append([]byte("HdrS"), lz4Legacy...))
	// An LZ4 legacy stream of something that is not an ELF, and of an
	// ELF header alone.
	for _, payload := range [][]byte{[]byte("not a kernel"), append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 57)...)} {
		var b bytes.Buffer
		w := lz4.NewWriter(&b)
		if err := w.Apply(lz4.LegacyOption(true)); err != nil {
			f.Fatal(err)
		}
		if _, err := w.Write(payload); err != nil {
			f.Fatal(err)
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte("bzImage setup "), b.Bytes()...))
	}
	f.Fuzz(func(t *testing.T, bz []byte) {
		b, err := ExtractELF(bz)
		if err == nil && (len(b) == 0 || len(b) > maxVmlinux) {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}
