// Command deposits runs rental security deposits as durable Temporal
// workflows. See `deposits --help`.
package main

import (
	"os"

	"github.com/depositflow/depositflow/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
