//go:build !linux && !windows

package redistest

import "syscall"

// procAttr puts a server in its own process group (there is no Pdeathsig here: a
// test process that dies leaves its servers running).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
