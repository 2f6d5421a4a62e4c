//go:build !linux

package driver

import "errors"

// armOut is not available here: a link gives what the socket does not take at once
// to gnet to buffer instead of holding it (see link.hold).
func armOut(*link, int) error { return errors.ErrUnsupported }

// forgetOut has nothing to forget where armOut is not available.
func forgetOut(*link, int) {}
