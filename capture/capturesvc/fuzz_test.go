package capturesvc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/api"
)

// FuzzRequestBodies: the bodies of POST /v1/captures and POST /v1/replay
// are outside input; decoding and converting them never panics, and what
// is accepted survives a round trip.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"ports":["eth1"],"filter":"tcp port 80","rotate_size":1048576,"rotate_time":"10m","keep":5,"compress":"zstd","out_dir":"web"}`,
		`{"ports":["eth1","eth2"],"match":"GET /","direction":"rx","snaplen":128,"queue":4096,"out_dir":"/var/lib/wirebox/captures/x"}`,
		`{"file":"trace.pcap","port":"eth1","speed":2,"loop":-1,"to":"host"}`,
		`{"ports":null}`, `{"rotate_time":"-1s"}`, `{"unknown":1}`, `{} {}`, `[]`, `{"queue":1e99}`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var cs api.CaptureStart
		if decodeBody(strings.NewReader(body), &cs) == nil {
			if cfg, err := sessionConfig(cs); err == nil && cfg.RotateTime < 0 {
				t.Fatalf("%q: negative rotation %v accepted", body, cfg.RotateTime)
			}
			b, err := json.Marshal(cs)
			if err != nil {
				t.Fatal(err)
			}
			var again api.CaptureStart
			if err := decodeBody(strings.NewReader(string(b)), &again); err != nil {
				t.Fatalf("%q: re-encoded %s does not decode: %v", body, b, err)
			}
		}
		var rp api.Replay
		_ = decodeBody(strings.NewReader(body), &rp)
	})
}
