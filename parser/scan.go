package parser

import "github.com/respring/respring/asm"

// lineScanner finds line terminators with the asm package's block scanner, which
// caches the bitmask of 64 bytes at a time. One scanner serves every value parsed from
// the same buffer in a ParseEach call; Parse resets it for each call.
type lineScanner struct {
	sc  asm.Scanner
	off int // offset of the buffer being parsed within the scanner's buffer
}

// reset points the scanner at buf, the buffer of the values about to be parsed.
func (l *lineScanner) reset(buf []byte) {
	l.sc.Reset(buf)
	l.off = 0
}

// index returns the index of the first '\r' or '\n' in buf[from:limit] (buf being
// the buffer given to Parse, at offset off in the scanner's buffer), or -1.
func (l *lineScanner) index(from, limit int) int {
	i := l.sc.Next(from + l.off)
	if i < 0 || i-l.off >= limit {
		return -1
	}
	return i - l.off
}
