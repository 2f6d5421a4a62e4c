package parser

import (
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// parseInt parses an integer as Redis writes one: an optional '-', then decimal digits
// without a leading zero (0 alone is allowed, -0 is not). '+', spaces, leading zeros and
// values outside int64 are rejected: a server never writes them, and refusing them
// notices a desynchronised stream sooner.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && (len(b) > 1 || neg)) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// ParseInt parses b as Redis writes an integer (see the package documentation: an
// optional '-', digits without a leading zero, within int64). The driver uses it to
// convert string replies, so both read numbers the same way.
func ParseInt(b []byte) (int64, bool) { return parseInt(b) }

// validBig reports whether b is a big number: an optional '-' then one or more digits.
func validBig(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}

// parseDouble parses a RESP3 double: [+-]digits[.digits][(e|E)[+-]digits], or inf,
// -inf, nan in any case, and the nan(...) / -nan forms old servers wrote. Hexadecimal,
// "infinity", underscores and a missing integer part are rejected (strconv.ParseFloat
// alone would accept some of them).
func parseDouble(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	i := 0
	if b[0] == '-' || b[0] == '+' {
		i = 1
	}
	if i < len(b) && (b[i]|0x20 == 'i' || b[i]|0x20 == 'n') {
		w := b[i:]
		switch {
		case len(w) == 3 && w[0]|0x20 == 'i' && w[1]|0x20 == 'n' && w[2]|0x20 == 'f':
			if b[0] == '-' {
				return math.Inf(-1), true
			}
			return math.Inf(1), true
		case len(w) >= 3 && w[0]|0x20 == 'n' && w[1]|0x20 == 'a' && w[2]|0x20 == 'n':
			if len(w) == 3 {
				return math.NaN(), true
			}
			if w[3] != '(' || w[len(w)-1] != ')' {
				return 0, false
			}
			for _, c := range w[4 : len(w)-1] {
				if !(c-'0' <= 9 || c|0x20-'a' < 26 || c == '_') {
					return 0, false
				}
			}
			return math.NaN(), true
		}
		return 0, false
	}
	start := i
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	if i == start {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
		if i == f {
			return 0, false
		}
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			i++
		}
		e := i
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
		if i == e {
			return 0, false
		}
	}
	if i != len(b) {
		return 0, false
	}
	// The grammar above is a subset of what ParseFloat accepts. The string view does not
	// escape: the only error left is ErrRange, whose value (±Inf or a denormal) we keep.
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	if err != nil {
		if !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
	}
	return f, true
}
