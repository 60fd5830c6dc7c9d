package daemon

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
)

// AutoPortTemplate is what a port found by auto_ports gets: passive, and a
// ring of 8 MiB (not the 64 MiB of a configured port), so a box with many
// NICs and little memory still comes up.
var AutoPortTemplate = config.PortConfig{Mode: config.PortPassive, Queues: 1, RingBlocks: 8, BlockSize: 1 << 20}

// wantPort is the auto_ports rule with the management NIC this run found:
// until the management service has decided, no NIC is opened.
func (d *Daemon) wantPort(name, kind string) (open, decided bool) {
	mgmt := ""
	if d.mgmt != nil {
		m, ok := d.mgmt.Interface()
		if !ok {
			return false, false
		}
		mgmt = m
	}
	return d.cfg.Load().AutoPort(name, kind, mgmt, nil), true
}

// maxConfigBody bounds a POST /v1/config body.
const maxConfigBody = 1 << 20

func (d *Daemon) routes(mux *http.ServeMux, opts Options) {
	if opts.Appliance != nil {
		mux.HandleFunc(api.RouteAppliance, func(w http.ResponseWriter, r *http.Request) {
			api.WriteJSON(w, http.StatusOK, opts.Appliance(d))
		})
	}
	if opts.Apply != nil {
		mux.HandleFunc(api.RouteConfigApply, func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxConfigBody+1))
			if err != nil {
				api.WriteError(w, http.StatusBadRequest, err)
				return
			}
			if len(b) > maxConfigBody {
				api.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("configuration larger than %d bytes", maxConfigBody))
				return
			}
			res, err := opts.Apply(b)
			if err != nil {
				code := http.StatusBadRequest
				if errors.Is(err, errApplyBusy) {
					code = http.StatusConflict
				}
				api.WriteError(w, code, err)
				return
			}
			api.WriteJSON(w, http.StatusAccepted, res)
		})
	}
}

// Management is the management NIC's state, or nil when the daemon does
// not manage one.
func (d *Daemon) Management() *api.Management {
	if d.mgmt == nil {
		return nil
	}
	st := d.mgmt.Status()
	return &st
}

// ServiceStarts are boot phases for the services: when each became ready,
// in seconds since kernel start.
func (d *Daemon) ServiceStarts(now float64) []api.BootPhase {
	var out []api.BootPhase
	for _, st := range d.sup.Status() {
		if st.State != "running" && st.State != "degraded" {
			continue
		}
		out = append(out, api.BootPhase{Name: "service " + st.Name + " ready", Seconds: round2(now - st.Uptime.Seconds())})
	}
	if d.mgmt != nil {
		if at, how := d.mgmt.AddressedAt(); at > 0 {
			out = append(out, api.BootPhase{Name: "management address (" + how + ")", Seconds: round2(at)})
		}
	}
	return out
}

func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }
