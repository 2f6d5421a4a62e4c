package redistest

import "syscall"

// procAttr puts a server in its own process group; Pdeathsig makes a test process
// that dies (a panic, an OOM kill) take its server along.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
