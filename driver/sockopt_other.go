//go:build !linux && !windows

package driver

import (
	"net"
	"syscall"
	"time"
)

// setUserTimeout is a no-op where TCP_USER_TIMEOUT is not available.
func setUserTimeout(net.Conn, time.Duration) {}

// socketpair makes a connected pair of Unix stream sockets, closed on exec: marked
// so after they are made, under ForkLock, since macOS has no SOCK_CLOEXEC.
func socketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	return fds, err
}
