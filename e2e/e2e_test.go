// Package e2e runs depositflow end to end on real components: the Temporal
// server in-process (temporaltest), a real PostgreSQL and a real SMTP server,
// driving the deposits binary as a user would. Every test that links the
// Temporal server lives here, because each such test binary takes minutes to
// build on a small machine.
package e2e

import (
	_ "go.temporal.io/server/temporaltest"
)
