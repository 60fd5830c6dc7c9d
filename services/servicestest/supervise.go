// Package servicestest runs services under a supervisor for a test.
package servicestest

import (
	"context"
	"testing"

	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/services"
)

// Supervise runs svcs under a supervisor until the test ends, then stops
// it and reports the error it returned. Cleanups registered before the
// call run after the supervisor has stopped.
func Supervise(tb testing.TB, opts services.Options, svcs ...services.Service) *services.Supervisor {
	tb.Helper()
	sup, err := services.New(opts, svcs...)
	if err != nil {
		tb.Fatal(err)
	}
	testutil.Go(tb, sup.Run)
	return sup
}

// Steady is a service that becomes ready at once and runs until stopped:
// the stand-in "core" a subsystem's service depends on when the test owns
// the capture core itself.
func Steady(name string, deps ...string) services.ServiceFunc {
	return services.ServiceFunc{ServiceName: name, DependsOn: deps, RunFunc: func(ctx context.Context, rt *services.Runtime) error {
		rt.Ready()
		<-ctx.Done()
		return nil
	}}
}
