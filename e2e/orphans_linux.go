package e2e

import (
	"os/exec"
	"syscall"
)

// diesWithUs has the kernel kill cmd when this test process dies, so that a
// test binary that crashes or is killed leaves no Temporal server or worker
// behind (each holds 100-400 MB and its ports).
func diesWithUs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
