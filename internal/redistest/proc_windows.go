//go:build windows

package redistest

import "syscall"

// procAttr has nothing to set here (no process groups, no Pdeathsig): a test process
// that dies leaves its servers running.
func procAttr() *syscall.SysProcAttr { return nil }
