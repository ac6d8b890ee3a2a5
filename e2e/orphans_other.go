//go:build !linux

package e2e

import "os/exec"

// diesWithUs: only Linux can tie a child's life to ours; elsewhere a crashed
// test binary may leave its children running.
func diesWithUs(*exec.Cmd) {}
