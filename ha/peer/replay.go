package peer

// Window is the replay guard for one sender: the newest epoch and a
// sliding window of the last 1024 sequence numbers of it.
type Window struct {
	epoch uint64
	top   uint64
	bits  [windowWords]uint64
}

const (
	windowWords = 16
	windowSize  = windowWords * 64
)

// Check reports whether (epoch, seq) is new, and records it if so.
func (w *Window) Check(epoch, seq uint64) bool {
	if seq == 0 || epoch < w.epoch {
		return false
	}
	if epoch > w.epoch {
		*w = Window{epoch: epoch}
	}
	switch {
	case seq > w.top:
		shift := seq - w.top
		if shift >= windowSize {
			w.bits = [windowWords]uint64{}
		} else {
			for i := w.top + 1; i <= seq; i++ {
				w.bits[(i/64)%windowWords] &^= 1 << (i % 64)
			}
		}
		w.top = seq
	case w.top-seq >= windowSize:
		return false
	}
	word, bit := &w.bits[(seq/64)%windowWords], uint64(1)<<(seq%64)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}
