// Command wirebox is the network test appliance's one binary: the daemon,
// its clients, and the image and QEMU tooling, as subcommands.
package main

import (
	"context"
	"os"

	"github.com/wirebox/wirebox/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
