//go:build !linux

package driver

import "errors"

// outPoller does not exist here.
type outPoller struct{}

// theOutPoller reports that there is no poller here.
func theOutPoller() (*outPoller, error) { return nil, errors.ErrUnsupported }

// armOut is not available here: a link gives what the socket does not take at once
// to gnet to buffer instead of holding it (see link.hold).
func armOut(*link, int) error { return errors.ErrUnsupported }

// forgetOut has nothing to forget where armOut is not available.
func forgetOut(*link, int) {}

// writeVec writes the buffers of vec straight to the socket fd, in order, until it
// takes no more, and returns how many bytes it took: one write per buffer here (see
// writev_linux.go).
func writeVec(fd int, vec [][]byte, _ *[]iovec, _ bool) (int, error) {
	done := 0
	for _, b := range vec {
		n, err := writeDirect(fd, b)
		done += n
		if err != nil || n < len(b) {
			return done, err
		}
	}
	return done, nil
}
