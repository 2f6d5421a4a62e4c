package asm

import "encoding/binary"

// parseUintSWAR is the SWAR candidate for ParseUint, kept here for the
// tests and the benchmark that decided against it (see ParseUint).
//
// It converts eight digits at a time. Shorter chunks are read as a full
// word from the slice's capacity when there is room (reading within cap is
// in bounds), shifted so that the digits land in the high bytes, and padded
// with '0' below; without that room it falls back to the loop.
func parseUintSWAR(b []byte) (n uint64, ok bool) {
	if k := len(b); k > 0 && k < 8 && cap(b) >= 8 {
		// The common short case: one word, no loop.
		sh := uint(64 - 8*k)
		v := binary.LittleEndian.Uint64(b[:8])<<sh | 0x3030303030303030>>(64-sh)
		if !swarDigits8(v) {
			return 0, false
		}
		return swarValue8(v), true
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	for len(b) >= 8 {
		v := binary.LittleEndian.Uint64(b)
		if !swarDigits8(v) {
			return 0, false
		}
		n = n*100000000 + swarValue8(v)
		b = b[8:]
	}
	k := len(b)
	if k == 0 {
		return n, true
	}
	if cap(b) < 8 {
		for _, c := range b {
			c -= '0'
			if c > 9 {
				return 0, false
			}
			n = n*10 + uint64(c)
		}
		return n, true
	}
	sh := uint(8 * (8 - k))
	v := binary.LittleEndian.Uint64(b[:8])<<sh | 0x3030303030303030>>(64-sh)
	if !swarDigits8(v) {
		return 0, false
	}
	return n*pow10[k] + swarValue8(v), true
}

var pow10 = [8]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000}

// swarDigits8 reports whether all eight bytes of v are ASCII digits: the
// high nibble is 3 and adding 6 does not carry out of the low nibble (so
// the high nibble of v+6 is 3 too). One compare checks both: the high
// nibbles of v stay in place, those of v+6 move to the low nibbles. A
// carry between bytes of v+6 only starts at a byte that fails anyway.
func swarDigits8(v uint64) bool {
	const hi = 0xf0f0f0f0f0f0f0f0
	return v&hi|(v+0x0606060606060606)&hi>>4 == 0x3333333333333333
}

// swarValue8 converts eight ASCII digits (first digit in the low byte)
// with three multiplications: pairs, then quadruples, then the octet.
func swarValue8(v uint64) uint64 {
	v -= 0x3030303030303030
	v = v*10 + v>>8 // byte 2i: 10*d[2i] + d[2i+1]
	v = ((v&0x000000ff000000ff)*(100+1000000<<32) +
		(v>>16&0x000000ff000000ff)*(1+10000<<32)) >> 32
	return v
}
