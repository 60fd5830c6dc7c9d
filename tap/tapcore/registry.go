package tapcore

import (
	"os"
	"sync"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
)

// The in-process applications of each core, so that the tap service lists
// them beside the applications on its socket (`wirebox taps`): the
// subsystems that attach (the mirror's exclusive channels) do not know the
// tap service, and it does not know them.
var locals struct {
	sync.Mutex
	next uint32
	m    map[*capture.Core][]*Local
}

func register(core *capture.Core, l *Local) {
	locals.Lock()
	defer locals.Unlock()
	if locals.m == nil {
		locals.m = map[*capture.Core][]*Local{}
	}
	locals.next++
	l.id = locals.next
	locals.m[core] = append(locals.m[core], l)
}

func unregister(core *capture.Core, l *Local) {
	locals.Lock()
	defer locals.Unlock()
	ls := locals.m[core]
	for i, x := range ls {
		if x == l {
			ls = append(ls[:i:i], ls[i+1:]...)
			break
		}
	}
	if len(ls) == 0 {
		delete(locals.m, core)
	} else {
		locals.m[core] = ls
	}
}

// LocalStatus lists the in-process applications attached to core that
// are still open, in the order they attached: each as an api.TapApp with
// InProcess set, the daemon's PID and its own numbering.
func LocalStatus(core *capture.Core) []api.TapApp {
	locals.Lock()
	ls := append([]*Local(nil), locals.m[core]...)
	locals.Unlock()
	out := []api.TapApp{}
	for _, l := range ls {
		if l.a.ctx.Err() != nil {
			continue // disconnected, not yet closed by its owner
		}
		st := l.a.Status()
		st.ID, st.PID, st.UID, st.Name, st.InProcess = l.id, os.Getpid(), os.Getuid(), l.name, true
		st.Command = "wirebox"
		out = append(out, st)
	}
	return out
}
