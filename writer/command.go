package writer

import (
	"math"
	"reflect"
	"strconv"

	"github.com/respring/respring/parser"
)

// AppendCommand appends one command made of args to dst and returns the extended
// slice: a RESP array header "*N\r\n" followed by each argument as a bulk string
// "$len\r\narg\r\n". With no args it appends the empty array "*0\r\n".
//
// dst is grown at most once. With enough spare capacity nothing is allocated.
func AppendCommand(dst []byte, args ...string) []byte {
	size := 3 + decimalLen(uint64(len(args)))
	for _, a := range args {
		size += 5 + decimalLen(uint64(len(a))) + len(a)
	}
	if cap(dst)-len(dst) < size {
		dst = grow(dst, size)
	}
	dst = appendHeader(dst, '*', len(args))
	for _, a := range args {
		dst = appendHeader(dst, '$', len(a))
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendArgs appends one command made of args to dst and returns the extended slice.
// Every argument goes on the wire as a bulk string; the accepted types and their text
// are listed in the package documentation (strings, []byte, integers, floats, bools
// and scalar parser.Values).
//
// An argument of any other type, a NaN, or a parser.Value that is an error, a null or
// an aggregate, makes AppendArgs return dst exactly as it was given (same length and
// capacity; bytes past its length may have been written over) and an *ArgError naming
// the argument.
//
// AppendArgs keeps no reference to args or to what they point to; with enough spare
// capacity in dst it allocates nothing.
func AppendArgs(dst []byte, args ...any) ([]byte, error) {
	return appendArgs(dst, appendHeader(dst, '*', len(args)), 0, args)
}

// AppendCommandArgs appends one command whose first arguments are the strings head
// (a command name and fixed words, keys, ...) and the rest args, each as AppendArgs
// writes it. It is AppendArgs(dst, head..., args...) without building that []any:
// with enough spare capacity in dst it allocates nothing, however the head strings were
// made. An *ArgError's Index counts head too.
func AppendCommandArgs(dst []byte, head []string, args ...any) ([]byte, error) {
	orig := dst
	dst = appendHeader(dst, '*', len(head)+len(args))
	for _, h := range head {
		dst = appendHeader(dst, '$', len(h))
		dst = append(dst, h...)
		dst = append(dst, '\r', '\n')
	}
	return appendArgs(orig, dst, len(head), args)
}

// appendArgs writes args after dst (which already holds the array header); on an error
// it returns orig. first is the index of args[0] in the command, for errors.
func appendArgs(orig, dst []byte, first int, args []any) ([]byte, error) {
	for j, arg := range args {
		i := first + j
		switch a := arg.(type) {
		case string:
			dst = appendHeader(dst, '$', len(a))
			dst = append(dst, a...)
			dst = append(dst, '\r', '\n')
		case []byte:
			dst = appendHeader(dst, '$', len(a))
			dst = append(dst, a...)
			dst = append(dst, '\r', '\n')
		case int:
			dst = appendBulkInt(dst, int64(a))
		case int64:
			dst = appendBulkInt(dst, a)
		case int32:
			dst = appendBulkInt(dst, int64(a))
		case int16:
			dst = appendBulkInt(dst, int64(a))
		case int8:
			dst = appendBulkInt(dst, int64(a))
		case uint:
			dst = appendBulkUint(dst, uint64(a))
		case uint64:
			dst = appendBulkUint(dst, a)
		case uint32:
			dst = appendBulkUint(dst, uint64(a))
		case uint16:
			dst = appendBulkUint(dst, uint64(a))
		case uint8:
			dst = appendBulkUint(dst, uint64(a))
		case float64:
			if a != a {
				return orig, nanError(i, arg)
			}
			dst = appendBulkFloat(dst, a, 64)
		case float32:
			if a != a {
				return orig, nanError(i, arg)
			}
			dst = appendBulkFloat(dst, float64(a), 32)
		case bool:
			if a {
				dst = append(dst, "$1\r\n1\r\n"...)
			} else {
				dst = append(dst, "$1\r\n0\r\n"...)
			}
		case parser.Value:
			var ok bool
			if dst, ok = appendValueArg(dst, a); !ok {
				return orig, valueError(i, a)
			}
		default:
			return orig, typeError(i, arg)
		}
	}
	return dst, nil
}

// Ref is an argument that AppendArgsRefs did not copy: its payload, S for a string
// or B for a []byte (the other one empty), belongs at offset At of the encoded
// command, after the argument's header and before its CRLF.
type Ref struct {
	At int
	S  string
	B  []byte
}

// AppendArgsRefs is AppendArgs, except that a string argument of minStr bytes or more
// (minStr > 0), and a []byte argument of minBytes bytes or more (minBytes > 0), is not
// copied into dst: dst gets its header and its closing CRLF, and refs gets a Ref
// saying where its payload belongs. The caller may then write the command from the
// pieces, in order, at any later time; this is how a large value goes on the wire
// without being copied first. Strings are immutable; a []byte must stay unchanged
// until the command was written. On an error, dst and refs come back as they were
// given, with the *ArgError AppendArgs would return.
func AppendArgsRefs(dst []byte, minStr, minBytes int, refs []Ref, args ...any) ([]byte, []Ref, error) {
	orig, origRefs := dst, refs
	dst = appendHeader(dst, '*', len(args))
	for i, arg := range args {
		var r Ref
		ref := false
		switch a := arg.(type) {
		case string:
			r.S, ref = a, minStr > 0 && len(a) >= minStr
		case []byte:
			r.B, ref = a, minBytes > 0 && len(a) >= minBytes
		}
		if ref {
			dst = appendHeader(dst, '$', len(r.S)+len(r.B))
			r.At = len(dst)
			refs = append(refs, r)
			dst = append(dst, '\r', '\n')
			continue
		}
		var err error
		if dst, err = appendArgs(dst, dst, i, args[i:i+1]); err != nil {
			return orig, origRefs, err
		}
	}
	return dst, refs, nil
}

// appendValueArg writes a scalar parser.Value as a bulk string argument. It reports
// false for the kinds that cannot be an argument.
func appendValueArg(dst []byte, v parser.Value) ([]byte, bool) {
	switch v.Kind() {
	case parser.SimpleString, parser.BulkString, parser.VerbatimString, parser.BigNumber:
		b := v.Bytes()
		dst = appendHeader(dst, '$', len(b))
		dst = append(dst, b...)
		return append(dst, '\r', '\n'), true
	case parser.Integer:
		return appendBulkInt(dst, v.Int()), true
	case parser.Boolean:
		if v.Bool() {
			return append(dst, "$1\r\n1\r\n"...), true
		}
		return append(dst, "$1\r\n0\r\n"...), true
	case parser.Double:
		f := v.Float()
		if f != f {
			return dst, false
		}
		return appendBulkFloat(dst, f, 64), true
	}
	return dst, false
}

// ArgError reports an argument that AppendArgs cannot write. Match it with errors.As.
type ArgError struct {
	Index  int          // position of the argument in args; 0 is the command name
	Type   reflect.Type // the argument's dynamic Go type; nil for a nil interface
	Reason string       // what is wrong with it, such as "unsupported type"
}

// Error returns a message such as
// "writer: argument 2 (map[string]int): unsupported type".
func (e *ArgError) Error() string {
	t := "nil"
	if e.Type != nil {
		t = e.Type.String()
	}
	return "writer: argument " + strconv.Itoa(e.Index) + " (" + t + "): " + e.Reason
}

// The error constructors are kept out of line so that AppendArgs stays small and its
// arguments provably do not escape (reflect.TypeOf only reads the type word).

//go:noinline
func typeError(i int, arg any) error {
	reason := "unsupported type"
	if arg == nil {
		reason = "nil is not an argument"
	}
	return &ArgError{Index: i, Type: reflect.TypeOf(arg), Reason: reason}
}

//go:noinline
func nanError(i int, arg any) error {
	return &ArgError{Index: i, Type: reflect.TypeOf(arg), Reason: "NaN is not a number Redis accepts"}
}

//go:noinline
func valueError(i int, v parser.Value) error {
	reason := "a parser.Value of kind " + v.Kind().String() + " is not an argument"
	if v.Kind() == parser.Double {
		reason = "NaN is not a number Redis accepts"
	}
	return &ArgError{Index: i, Type: reflect.TypeFor[parser.Value](), Reason: reason}
}

// appendHeader appends prefix, n in decimal and CRLF: "*3\r\n", "$16\r\n", "%2\r\n".
// The common one- and two-digit counts stay inline.
func appendHeader(dst []byte, prefix byte, n int) []byte {
	if uint(n) < 10 {
		return append(dst, prefix, byte('0'+n), '\r', '\n')
	}
	if uint(n) < 100 {
		return append(dst, prefix, byte('0'+n/10), byte('0'+n%10), '\r', '\n')
	}
	return appendLongHeader(dst, prefix, n)
}

func appendLongHeader(dst []byte, prefix byte, n int) []byte {
	dst = append(dst, prefix)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// appendBulkInt appends n in decimal as a bulk string.
func appendBulkInt(dst []byte, n int64) []byte {
	if uint64(n) < 10 {
		return append(dst, '$', '1', '\r', '\n', byte('0'+n), '\r', '\n')
	}
	var buf [20]byte
	return appendBulkText(dst, strconv.AppendInt(buf[:0], n, 10))
}

// appendBulkUint appends n in decimal as a bulk string.
func appendBulkUint(dst []byte, n uint64) []byte {
	if n < 10 {
		return append(dst, '$', '1', '\r', '\n', byte('0'+n), '\r', '\n')
	}
	var buf [20]byte
	return appendBulkText(dst, strconv.AppendUint(buf[:0], n, 10))
}

// appendBulkFloat appends f (not NaN) as a bulk string; see appendFloat.
func appendBulkFloat(dst []byte, f float64, bitSize int) []byte {
	var buf [32]byte
	return appendBulkText(dst, appendFloat(buf[:0], f, bitSize))
}

// appendFloat appends f in a form Redis parses (strtod, strtold, fast_float): "inf",
// "-inf", or the shortest decimal that reads back as the same float of bitSize bits,
// in plain notation for magnitudes in [1e-4, 1e21) and zero (so whole numbers look like
// integers: 3.0 is "3"), in exponent notation otherwise ("1e+21"). f must not be NaN.
func appendFloat(dst []byte, f float64, bitSize int) []byte {
	if math.IsInf(f, 0) {
		if f > 0 {
			return append(dst, "inf"...)
		}
		return append(dst, "-inf"...)
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e21) {
		return strconv.AppendFloat(dst, f, 'f', -1, bitSize)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bitSize)
}

// appendBulkText appends a short text (at most 99 bytes) as a bulk string.
func appendBulkText(dst, text []byte) []byte {
	n := len(text)
	if n < 10 {
		dst = append(dst, '$', byte('0'+n), '\r', '\n')
	} else {
		dst = append(dst, '$', byte('0'+n/10), byte('0'+n%10), '\r', '\n')
	}
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// decimalLen returns the number of decimal digits of n.
func decimalLen(n uint64) int {
	d := 1
	for n >= 10000 {
		n /= 10000
		d += 4
	}
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// grow returns dst with room for at least n more bytes, growing it like append does.
func grow(dst []byte, n int) []byte {
	return append(dst[:cap(dst)], make([]byte, n-(cap(dst)-len(dst)))...)[:len(dst)]
}
