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
