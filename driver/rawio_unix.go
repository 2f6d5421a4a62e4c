//go:build !windows

package driver

import (
	"net"
	"os"
	"syscall"
)

// directIO says the loop may read and write a connection's socket itself (readDirect,
// writeDirect, writeVec) besides gnet: true where gnet runs an event loop over
// non-blocking sockets.
const directIO = true

// iovec is one buffer of a writev call (writev_linux.go).
type iovec = syscall.Iovec

// rawRead and rawWrite are read(2) and write(2) on the socket fd.
func rawRead(fd int, b []byte) (int, error)  { return syscall.Read(fd, b) }
func rawWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }

// closeFD closes fd.
func closeFD(fd int) { _ = syscall.Close(fd) }

// wakePair makes a waker's socketpair: the read end as a net.Conn for gnet to enroll,
// and the write end's descriptor, non-blocking.
func wakePair() (net.Conn, int, error) {
	fds, err := socketpair()
	if err != nil {
		return nil, -1, err
	}
	if err := syscall.SetNonblock(fds[1], true); err != nil {
		closeFD(fds[0])
		closeFD(fds[1])
		return nil, -1, err
	}
	f := os.NewFile(uintptr(fds[0]), "respring-waker")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		closeFD(fds[1])
		return nil, -1, err
	}
	return nc, fds[1], nil
}
