//go:build windows

package driver

import (
	"errors"
	"net"
	"time"
)

// directIO is false here: gnet on Windows reads each connection on a goroutine of
// its own and writes through the net.Conn, so the loop must not touch the socket
// itself. Every read and write goes through gnet; large commands are copied into the
// batch (no writev) and large replies read through gnet's buffer.
const directIO = false

// iovec is not used here (no writev).
type iovec struct{}

// rawRead and rawWrite are never called here (directIO is false).
func rawRead(int, []byte) (int, error)  { return 0, errors.ErrUnsupported }
func rawWrite(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

// closeFD has nothing to close here: no waker has a descriptor.
func closeFD(int) {}

// wakePair is not available here: links wake their loop with gnet's Conn.Wake.
func wakePair() (net.Conn, int, error) { return nil, -1, errors.ErrUnsupported }

// setUserTimeout is a no-op here (no TCP_USER_TIMEOUT).
func setUserTimeout(net.Conn, time.Duration) {}
