//go:build !linux

package pcapng

// writeSegs writes segs at the end of the current file, one write each.
func (w *Writer) writeSegs(segs [][]byte, _ int) error {
	for _, s := range segs {
		n, err := w.f.Write(s)
		w.onDisk += int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

type iovecs = []struct{}
