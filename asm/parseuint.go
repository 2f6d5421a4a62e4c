package asm

// ParseUint parses b, 1 to 19 ASCII digits without a sign, into a uint64.
// ok is false if b is empty, longer than 19 bytes, or holds a byte that is
// not a digit. Nineteen digits always fit in a uint64, so there is no
// overflow case. Leading zeros are accepted.
//
// The implementation is the plain digit loop, which the compiler inlines.
// A SWAR version (eight digits per multiply trick, reading a short number
// as one word from the slice's capacity; parseUintSWAR in
// parseuint_swar_test.go) did not beat it on 1 to 5 digits on the
// reference machine: 53-57% slower on 1-2 digits, 21% slower on 3, even
// on 4, 14% faster on 5, 23% faster on a random mix of 1-5 digits, and
// 31-38% faster on 8-19 digits (see bench/RESULTS.md, "Kernels"). Revisit if long lengths
// dominate.
func ParseUint(b []byte) (n uint64, ok bool) {
	return parseUintLoop(b)
}

// parseUintLoop is the plain digit loop.
func parseUintLoop(b []byte) (n uint64, ok bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	for _, c := range b {
		c -= '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	return n, true
}
