package asm

import "math/bits"

// Scanner finds line terminators ('\r' or '\n') in one buffer. It caches the
// mask of one block of up to 64 bytes, so that the successive queries of a
// parser walking short header lines cost a shift and a trailing-zero count.
//
// A Scanner reads buf only; buf must not change between Reset and the calls
// to Next that rely on it (call Reset again after changing it). The zero
// value is usable after Reset. A Scanner is not safe for concurrent use.
type Scanner struct {
	buf []byte
	// The cached block is buf[start:end] (end-start <= 64); bit i of mask
	// is buf[start+i], and bits at or past end-start are zero. The cache is
	// empty when start == end (then mask is zero too).
	start, end int
	mask       uint64
}

// Reset points the scanner at buf and drops the cached block.
func (s *Scanner) Reset(buf []byte) {
	*s = Scanner{buf: buf}
}

// Next returns the smallest index i >= from with buf[i] == '\r' or
// buf[i] == '\n', or -1 if there is none. from may be anywhere in
// [0, len(buf)], and successive calls may move forward or backward; a
// negative from counts as 0 and a from past the end returns -1.
func (s *Scanner) Next(from int) int {
	// Fast path: from lies in the 64 bits of the cached mask and the rest
	// of the mask holds a terminator. A shift by 64 or more gives 0 in Go,
	// a negative from-start converts to a huge shift count, and the mask
	// has no bits past the cached block: all of these miss and go to next.
	// (With Go 1.26 this function costs 83 against the inliner's budget of
	// 80, because of the call to next; it is a short leaf call instead.)
	if m := s.mask >> uint(from-s.start); m != 0 {
		return from + bits.TrailingZeros64(m)
	}
	return s.next(from)
}

// next is the slow path of Next: it loads new blocks until it finds a
// terminator or reaches the end of buf.
func (s *Scanner) next(from int) int {
	if from < 0 {
		from = 0
	}
	if off := uint(from - s.start); off < uint(s.end-s.start) {
		if m := s.mask >> (off & 63); m != 0 {
			return from + bits.TrailingZeros64(m)
		}
		from = s.end // nothing left in the cached block
	}
	for from < len(s.buf) {
		s.load(from)
		if s.mask != 0 {
			return s.start + bits.TrailingZeros64(s.mask)
		}
		from = s.end
	}
	return -1
}

// load caches the block that starts at from (0 <= from < len(buf)).
//
// With 64 bytes left it is buf[from:from+64], computed with Mask64 at any
// alignment. With fewer left but a buffer of at least 64 bytes it is the
// last 64 bytes of buf, shifted so that bit 0 is buf[from]: still Mask64,
// still in bounds, and the bits below from are simply dropped. Only a
// buffer shorter than 64 bytes uses MaskTail.
func (s *Scanner) load(from int) {
	n := len(s.buf)
	switch {
	case n-from >= 64:
		s.mask = Mask64(s.buf[from:])
		s.start, s.end = from, from+64
	case n >= 64:
		s.mask = Mask64(s.buf[n-64:]) >> uint(from-(n-64))
		s.start, s.end = from, n
	default:
		s.mask = MaskTail(s.buf[from:])
		s.start, s.end = from, n
	}
}
