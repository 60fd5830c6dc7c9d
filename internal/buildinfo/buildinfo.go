// Package buildinfo reports the version of the running wirebox binary.
package buildinfo

import "runtime/debug"

// Version is set at link time with -ldflags "-X github.com/wirebox/wirebox/internal/buildinfo.Version=...".
// When unset it falls back to the VCS revision recorded by the Go toolchain.
var Version = ""

// String returns the best available version string.
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "devel-" + rev + dirty
}
