package parser

import (
	"errors"
	"strconv"
)

// ErrIncomplete is returned by Parse when buf holds only the beginning of a value.
// Nothing was consumed: call Parse again with the same bytes followed by more.
var ErrIncomplete = errors.New("parser: incomplete value")

// ProtocolError reports a malformed stream or a value over a Limit. The stream cannot
// be parsed past it: the connection that produced it must be dropped.
type ProtocolError struct {
	Offset int    // byte offset in the buffer given to Parse where the bad item starts
	Reason string // what is wrong, such as "bulk length over the limit"
	Near   string // the bytes at Offset, escaped, at most 64 of them
}

// Error returns "parser: <reason> at offset N near "..."".
func (e *ProtocolError) Error() string {
	return "parser: " + e.Reason + " at offset " + strconv.Itoa(e.Offset) + " near " + e.Near
}

// nearLimit is how many bytes of the input a ProtocolError quotes at most.
const nearLimit = 64

func protoErr(buf []byte, off int, reason string) *ProtocolError {
	if off > len(buf) {
		off = len(buf)
	}
	near := buf[off:]
	if len(near) > nearLimit {
		near = near[:nearLimit]
	}
	return &ProtocolError{Offset: off, Reason: reason, Near: strconv.QuoteToASCII(string(near))}
}
