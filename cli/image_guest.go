//go:build wirebox_guest

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// The appliance's own binary is built with -tags wirebox_guest: it never
// builds or boots images, and leaving u-root's builder and the Go package
// loader out keeps the initramfs small.
var errHostOnly = errors.New("this command is not in the appliance build; run it on the host")

func newImageCmd(*globals) *cobra.Command {
	return &cobra.Command{Use: "image", Hidden: true, RunE: func(*cobra.Command, []string) error { return errHostOnly }}
}

func newQemuCmd(*globals) *cobra.Command {
	return &cobra.Command{Use: "qemu", Hidden: true, RunE: func(*cobra.Command, []string) error { return errHostOnly }}
}
