//go:build tools

// The Temporal server's own binaries, which TestProductionTopology builds
// (temporal-server and temporal-sql-tool): importing them here keeps their
// dependencies in go.mod and go.sum at the versions the tests pin.
package e2e

import (
	_ "go.temporal.io/server/cmd/server"
	_ "go.temporal.io/server/cmd/tools/sql"
)
