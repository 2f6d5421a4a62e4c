package asm

import "encoding/binary"

// SWAR constants: every byte of the word holds the same value.
const (
	swarLow7 = 0x7f7f7f7f7f7f7f7f
	swarCR   = 0x0d0d0d0d0d0d0d0d // '\r' in every byte
	swarLF   = 0x0a0a0a0a0a0a0a0a // '\n' in every byte
	// swarGather moves bit 8j (j = 0..7) to bit 56+j in a multiplication:
	// it is the sum of 1<<(56-7j). The partial products land on distinct
	// bits, so there are no carries.
	swarGather = 0x0102040810204080
)

// swar8 returns the 8-bit mask of the bytes of x (little-endian: bit j is
// byte j) that are '\r' or '\n'.
//
// For each byte t of x^pattern, (t&0x7f)+0x7f has its high bit set iff the
// low seven bits of t are not all zero; the addition cannot carry into the
// next byte (0x7f+0x7f = 0xfe). Or-ing t back in covers the high bit, so the
// high bit of the result is clear exactly for the zero bytes, i.e. for the
// bytes of x equal to the pattern. Unlike the shorter (x-0x01..)&^x trick
// this has no false positives from borrows, which a per-byte mask needs.
func swar8(x uint64) uint64 {
	cr := x ^ swarCR
	lf := x ^ swarLF
	ncr := ((cr & swarLow7) + swarLow7) | cr // high bit clear iff byte == '\r'
	nlf := ((lf & swarLow7) + swarLow7) | lf // high bit clear iff byte == '\n'
	hit := ^(ncr & nlf) &^ swarLow7          // high bit set iff '\r' or '\n'
	return ((hit >> 7) * swarGather) >> 56
}

// mask64Generic is the reference implementation of Mask64.
func mask64Generic(b []byte) uint64 {
	_ = b[63] // panics if len(b) < 64, as documented for Mask64 (b[:64] would only check cap)
	b = b[:64]
	return swar8(binary.LittleEndian.Uint64(b[0:])) |
		swar8(binary.LittleEndian.Uint64(b[8:]))<<8 |
		swar8(binary.LittleEndian.Uint64(b[16:]))<<16 |
		swar8(binary.LittleEndian.Uint64(b[24:]))<<24 |
		swar8(binary.LittleEndian.Uint64(b[32:]))<<32 |
		swar8(binary.LittleEndian.Uint64(b[40:]))<<40 |
		swar8(binary.LittleEndian.Uint64(b[48:]))<<48 |
		swar8(binary.LittleEndian.Uint64(b[56:]))<<56
}

// MaskTail returns the mask Mask64 would return for b, for len(b) < 64:
// bit i is set iff i < len(b) and b[i] is '\r' or '\n'. It is generic code
// at every level and never reads past len(b). For len(b) >= 64 it returns
// the mask of b[0:64], like Mask64.
func MaskTail(b []byte) uint64 {
	if len(b) >= 64 {
		return mask64Generic(b)
	}
	var m uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		m |= swar8(binary.LittleEndian.Uint64(b[i:])) << uint(i)
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '\r' || c == '\n' {
			m |= 1 << uint(i)
		}
	}
	return m
}
