package parser

import (
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// Kind is the RESP type of a Value.
type Kind uint8

// The RESP2 and RESP3 types. Invalid is the Kind of the zero Value.
const (
	Invalid        Kind = iota // the zero Value; never produced by Parse
	SimpleString               // +
	SimpleError                // -
	Integer                    // :
	BulkString                 // $
	Array                      // *
	Null                       // _ , and RESP2 $-1 / *-1
	Boolean                    // #
	Double                     // ,
	BigNumber                  // (
	BulkError                  // !
	VerbatimString             // =
	Map                        // %
	Set                        // ~
	Push                       // >
)

var kindNames = [...]string{"invalid", "simple-string", "simple-error", "integer", "bulk-string",
	"array", "null", "boolean", "double", "big-number", "bulk-error", "verbatim-string", "map", "set", "push"}

// String returns the kind's name, such as "bulk-string".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// null flavours, kept so that a RESP2 null is written back the way it was read.
const (
	nullResp3 uint8 = iota
	nullBulk        // $-1
	nullArray       // *-1
)

// Value is one RESP value. It is a small struct passed by value; string-like payloads
// and elements may alias the buffer given to Parse and the Parser's arena (see Parse
// for how long they stay valid). Clone makes a copy that aliases nothing.
type Value struct {
	// ptr and n hold either the payload of a string-like kind (*byte) or the elements
	// of an aggregate (*Value; a Map as k1, v1, k2, v2, ...): never both, so one
	// pointer and one length keep Value at 40 bytes.
	ptr   unsafe.Pointer
	n     int
	num   int64  // Integer, Boolean (0/1), Double (IEEE bits), VerbatimString (format, 3 bytes)
	attrs *Value // a Map holding the RESP3 attributes attached to this value, or nil
	kind  Kind
	flag  uint8 // Null: which wire form
}

// str returns the payload of a string-like value.
func (v *Value) str() []byte {
	if v.ptr == nil {
		return nil
	}
	return unsafe.Slice((*byte)(v.ptr), v.n)
}

// elems returns the elements of an aggregate.
func (v *Value) elems() []Value {
	if v.ptr == nil {
		return nil
	}
	return unsafe.Slice((*Value)(v.ptr), v.n)
}

// setStr points v at b (an empty b holds no pointer).
func (v *Value) setStr(b []byte) {
	v.n = len(b)
	if len(b) == 0 {
		v.ptr = nil
		return
	}
	v.ptr = unsafe.Pointer(unsafe.SliceData(b))
}

// setElems points v at e.
func (v *Value) setElems(e []Value) {
	v.n = len(e)
	if len(e) == 0 {
		v.ptr = nil
		return
	}
	v.ptr = unsafe.Pointer(unsafe.SliceData(e))
}

// mkStr returns a string-like value of kind k aliasing b.
func mkStr(k Kind, b []byte) Value {
	v := Value{kind: k}
	v.setStr(b)
	return v
}

// mkAgg returns an aggregate of kind k aliasing e.
func mkAgg(k Kind, e []Value) Value {
	v := Value{kind: k}
	v.setElems(e)
	return v
}

// Kind returns the RESP type of v.
func (v Value) Kind() Kind { return v.kind }

// Bytes returns the payload of string-like kinds: simple and bulk strings, the text of a
// verbatim string (without its "txt:" prefix), simple and bulk error text, and the digits
// of a big number. It returns nil for other kinds. The bytes may alias the parser's
// buffer: copy them (or Clone the value) to keep them past the next Parse.
func (v Value) Bytes() []byte {
	switch v.kind {
	case SimpleString, SimpleError, BulkString, BulkError, VerbatimString, BigNumber:
		if v.ptr == nil {
			return []byte{}
		}
		return v.str()
	}
	return nil
}

// Text returns Bytes as a string (a copy).
func (v Value) Text() string { return string(v.Bytes()) }

// Int returns an Integer, or a Boolean as 1 or 0. Other kinds give 0.
func (v Value) Int() int64 {
	if v.kind == Integer || v.kind == Boolean {
		return v.num
	}
	return 0
}

// Float returns a Double, or an Integer converted to float64. Other kinds give 0.
func (v Value) Float() float64 {
	switch v.kind {
	case Double:
		return math.Float64frombits(uint64(v.num))
	case Integer:
		return float64(v.num)
	}
	return 0
}

// Bool returns a Boolean, or whether an Integer is non-zero. Other kinds give false.
func (v Value) Bool() bool {
	return (v.kind == Boolean || v.kind == Integer) && v.num != 0
}

// Format returns the 3-byte format of a VerbatimString ("txt", "mkd"), or "".
func (v Value) Format() string {
	if v.kind != VerbatimString {
		return ""
	}
	b := [3]byte{byte(v.num >> 16), byte(v.num >> 8), byte(v.num)}
	return string(b[:])
}

// Elems returns the elements of an Array, Set or Push, and of a Map as
// k1, v1, k2, v2, .... It returns nil for other kinds and for an empty aggregate.
func (v Value) Elems() []Value {
	switch v.kind {
	case Array, Set, Push, Map:
		return v.elems()
	}
	return nil
}

// Len returns the number of elements of an aggregate (pairs count twice for a Map),
// the payload length of string-like kinds, and 0 otherwise.
func (v Value) Len() int {
	switch v.kind {
	case Array, Set, Push, Map:
		return v.n
	}
	return len(v.Bytes())
}

// Attrs returns the RESP3 attributes attached to v as k1, v1, k2, v2, ..., or nil.
func (v Value) Attrs() []Value {
	if v.attrs == nil {
		return nil
	}
	return v.attrs.elems()
}

// IsNull reports whether v is a RESP3 null or a RESP2 null bulk string or null array.
func (v Value) IsNull() bool { return v.kind == Null }

// IsError reports whether v is a simple or bulk error reply.
func (v Value) IsError() bool { return v.kind == SimpleError || v.kind == BulkError }

// IsAggregate reports whether v is an Array, Map, Set or Push.
func (v Value) IsAggregate() bool {
	return v.kind == Array || v.kind == Map || v.kind == Set || v.kind == Push
}

// Constructors. They build values for fake servers, tests and AppendValue; the values
// alias the slices given to them.

// NewSimpleString returns a simple string (+).
func NewSimpleString(s string) Value { return mkStr(SimpleString, []byte(s)) }

// NewSimpleError returns a simple error (-), such as "ERR unknown command".
func NewSimpleError(s string) Value { return mkStr(SimpleError, []byte(s)) }

// NewBulkError returns a bulk error (!).
func NewBulkError(s string) Value { return mkStr(BulkError, []byte(s)) }

// NewBulk returns a bulk string ($) aliasing b. A nil b gives the empty string, not null.
func NewBulk(b []byte) Value { return mkStr(BulkString, b) }

// NewBulkString returns a bulk string ($) holding a copy of s.
func NewBulkString(s string) Value { return mkStr(BulkString, []byte(s)) }

// NewInteger returns an integer (:).
func NewInteger(n int64) Value { return Value{kind: Integer, num: n} }

// NewDouble returns a double (,).
func NewDouble(f float64) Value { return Value{kind: Double, num: int64(math.Float64bits(f))} }

// NewBool returns a boolean (#).
func NewBool(b bool) Value {
	if b {
		return Value{kind: Boolean, num: 1}
	}
	return Value{kind: Boolean}
}

// NewBigNumber returns a big number (() from its decimal digits, with an optional '-'.
// The digits are not checked here; AppendValue writes them as given.
func NewBigNumber(digits string) Value { return mkStr(BigNumber, []byte(digits)) }

// NewVerbatim returns a verbatim string (=). format must be 3 bytes ("txt", "mkd");
// a longer one is cut, a shorter one padded with spaces.
func NewVerbatim(format, text string) Value {
	f := [3]byte{' ', ' ', ' '}
	copy(f[:], format)
	v := mkStr(VerbatimString, []byte(text))
	v.num = int64(f[0])<<16 | int64(f[1])<<8 | int64(f[2])
	return v
}

// NewNull returns the RESP3 null (_).
func NewNull() Value { return Value{kind: Null} }

// NewNullBulk returns a null that AppendValue writes as the RESP2 null bulk string ($-1).
func NewNullBulk() Value { return Value{kind: Null, flag: nullBulk} }

// NewNullArray returns a null that AppendValue writes as the RESP2 null array (*-1).
func NewNullArray() Value { return Value{kind: Null, flag: nullArray} }

// NewArray returns an array (*) of elems.
func NewArray(elems ...Value) Value { return mkAgg(Array, elems) }

// NewSet returns a set (~) of elems.
func NewSet(elems ...Value) Value { return mkAgg(Set, elems) }

// NewPush returns a push (>) of elems.
func NewPush(elems ...Value) Value { return mkAgg(Push, elems) }

// NewMap returns a map (%) of pairs given as k1, v1, k2, v2, .... An odd count drops
// the last key.
func NewMap(kv ...Value) Value {
	return mkAgg(Map, kv[:len(kv)&^1])
}

// WithAttrs returns v with the RESP3 attributes kv (k1, v1, ...) attached; no
// arguments removes them.
func (v Value) WithAttrs(kv ...Value) Value {
	if len(kv) < 2 {
		v.attrs = nil
		return v
	}
	m := NewMap(kv...)
	v.attrs = &m
	return v
}

// IsNullBulk reports whether v is a null read or built as the RESP2 null bulk ($-1).
func (v Value) IsNullBulk() bool { return v.kind == Null && v.flag == nullBulk }

// IsNullArray reports whether v is a null read or built as the RESP2 null array (*-1).
func (v Value) IsNullArray() bool { return v.kind == Null && v.flag == nullArray }

// Equal reports whether a and b are the same value: same kinds, payloads, elements and
// attributes. Doubles compare by bits (so -0 differs from 0) except that all NaNs are
// equal. The wire form of a null ($-1, *-1, _) is not compared.
func Equal(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case Double:
		fa, fb := a.Float(), b.Float()
		if math.IsNaN(fa) || math.IsNaN(fb) {
			return math.IsNaN(fa) && math.IsNaN(fb)
		}
		if a.num != b.num {
			return false
		}
	case Integer, Boolean, VerbatimString:
		if a.num != b.num {
			return false
		}
	}
	if a.IsAggregate() {
		ae, be := a.elems(), b.elems()
		if len(ae) != len(be) {
			return false
		}
		for i := range ae {
			if !Equal(ae[i], be[i]) {
				return false
			}
		}
	} else if string(a.str()) != string(b.str()) {
		return false
	}
	aa, ba := a.Attrs(), b.Attrs()
	if len(aa) != len(ba) {
		return false
	}
	for i := range aa {
		if !Equal(aa[i], ba[i]) {
			return false
		}
	}
	return true
}

// String formats v for debugging and error messages, such as
// `["GET" (integer) 1 (nil)]`. Long payloads are not cut.
func (v Value) String() string {
	var sb strings.Builder
	v.format(&sb)
	return sb.String()
}

func (v Value) format(sb *strings.Builder) {
	if a := v.Attrs(); a != nil {
		sb.WriteString("(attrs ")
		mkAgg(Map, a).format(sb)
		sb.WriteString(") ")
	}
	switch v.kind {
	case SimpleString, BulkString:
		sb.WriteString(strconv.Quote(string(v.str())))
	case SimpleError, BulkError:
		sb.WriteString("(error) ")
		sb.WriteString(string(v.str()))
	case Integer:
		sb.WriteString("(integer) ")
		sb.WriteString(strconv.FormatInt(v.num, 10))
	case Double:
		sb.WriteString("(double) ")
		sb.WriteString(formatDouble(v.Float()))
	case BigNumber:
		sb.WriteString("(big) ")
		sb.WriteString(string(v.str()))
	case Boolean:
		sb.WriteString(strconv.FormatBool(v.num != 0))
	case Null:
		sb.WriteString("(nil)")
	case VerbatimString:
		sb.WriteString("(" + v.Format() + ") ")
		sb.WriteString(strconv.Quote(string(v.str())))
	case Array, Set, Push, Map:
		open, closer := "[", "]"
		switch v.kind {
		case Set:
			open, closer = "~{", "}"
		case Push:
			open = ">["
		case Map:
			open, closer = "{", "}"
		}
		sb.WriteString(open)
		for i, e := range v.elems() {
			if i > 0 {
				if v.kind == Map && i%2 == 1 {
					sb.WriteString(": ")
				} else {
					sb.WriteByte(' ')
				}
			}
			e.format(sb)
		}
		sb.WriteString(closer)
	default:
		sb.WriteString("(invalid)")
	}
}

// formatDouble writes f as RESP3 does: inf, -inf, nan, or the shortest decimal form.
func formatDouble(f float64) string {
	return string(AppendDouble(nil, f))
}

// AppendDouble appends f in RESP3 double syntax (without the ',' and CRLF): "inf",
// "-inf", "nan", or the shortest decimal that parses back to f ("-0" keeps its sign).
func AppendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// size counts the bytes and values a deep copy of v needs (v itself not included).
func (v Value) size() (nbytes, nvals int) {
	if !v.IsAggregate() {
		nbytes = v.n
	}
	elems := v.Elems()
	nvals = len(elems)
	for _, e := range elems {
		b, n := e.size()
		nbytes += b
		nvals += n
	}
	if v.attrs != nil {
		b, n := v.attrs.size()
		nbytes += b
		nvals += n + 1
	}
	return nbytes, nvals
}

// copyInto deep-copies v using the free capacity of *b and *vals, which the caller
// sized with size(); neither is reallocated.
func (v Value) copyInto(b *[]byte, vals *[]Value) Value {
	out := v
	if v.ptr != nil {
		if v.IsAggregate() {
			src := v.elems()
			start := len(*vals)
			*vals = (*vals)[:start+len(src)]
			dst := (*vals)[start : start+len(src) : start+len(src)]
			for i, e := range src {
				dst[i] = e.copyInto(b, vals)
			}
			out.setElems(dst)
		} else {
			start := len(*b)
			*b = append(*b, v.str()...)
			out.setStr((*b)[start:len(*b):len(*b)])
		}
	}
	if v.attrs != nil {
		i := len(*vals)
		*vals = (*vals)[:i+1]
		(*vals)[i] = v.attrs.copyInto(b, vals)
		out.attrs = &(*vals)[i]
	}
	return out
}

// Clone returns a deep copy of v that aliases no parser buffer or arena. It makes at
// most two allocations, none for scalars.
func (v Value) Clone() Value {
	nb, nv := v.size()
	var b []byte
	var vals []Value
	if nb > 0 {
		b = make([]byte, 0, nb)
	}
	if nv > 0 {
		vals = make([]Value, 0, nv)
	}
	return v.copyInto(&b, &vals)
}

// Store keeps a deep copy of one value in memory it reuses, so that holding the latest
// reply of a slot costs no allocation in steady state. The zero Store is ready to use.
// A Store is not safe for concurrent use.
type Store struct {
	b    []byte
	vals []Value
}

// storeKeep is the capacity above which Store drops its memory instead of keeping it.
const storeKeep = 64 << 10

// Copy deep-copies v into the store and returns the copy, which stays valid until the
// next Copy or Reset. Values previously returned by Copy become invalid.
func (s *Store) Copy(v Value) Value {
	nb, nv := v.size()
	if cap(s.b) < nb || (cap(s.b) > storeKeep && nb <= storeKeep) {
		s.b = make([]byte, 0, max(nb, 64))
	}
	if cap(s.vals) < nv || (cap(s.vals)*40 > storeKeep && nv*40 <= storeKeep) {
		s.vals = make([]Value, 0, max(nv, 4))
	}
	b, vals := s.b[:0], s.vals[:0]
	return v.copyInto(&b, &vals)
}

// Reset drops the store's memory.
func (s *Store) Reset() { *s = Store{} }

// Gather keeps deep copies of several values, appended one by one, in memory it
// reuses (the replies of a batch of commands, gathered into one Array). The zero
// Gather is ready to use. It is not safe for concurrent use.
type Gather struct {
	b    []byte
	vals []Value
	top  []Value // the values given to Append since the last Rewind
}

// Append deep-copies v after the values appended since the last Rewind. The copies
// stay valid until the next Rewind. Memory grows as needed and is kept: appending the
// same sizes again after a Rewind allocates nothing.
func (s *Gather) Append(v Value) {
	if v.attrs == nil && !v.IsAggregate() {
		// The common case, a scalar reply: one payload copy, no walk.
		if v.ptr != nil {
			if cap(s.b)-len(s.b) < v.n {
				s.b = make([]byte, 0, max(2*cap(s.b), v.n, 64))
			}
			start := len(s.b)
			s.b = append(s.b, v.str()...)
			v.setStr(s.b[start:len(s.b):len(s.b)])
		}
		s.top = append(s.top, v)
		return
	}
	nb, nv := v.size()
	if cap(s.b)-len(s.b) < nb {
		// A new array: the copies made so far keep pointing into the old one, which
		// stays alive as long as they do.
		s.b = make([]byte, 0, max(2*cap(s.b), nb, 64))
	}
	if cap(s.vals)-len(s.vals) < nv {
		s.vals = make([]Value, 0, max(2*cap(s.vals), nv, 4))
	}
	s.top = append(s.top, v.copyInto(&s.b, &s.vals))
}

// Appended returns an Array of the values appended since the last Rewind, in order.
// It aliases the store: valid until the next Rewind.
func (s *Gather) Appended() Value { return mkAgg(Array, s.top) }

// Rewind forgets the appended values and keeps the memory for the next ones (memory
// over 64 KiB is dropped instead).
func (s *Gather) Rewind() {
	if cap(s.b) > storeKeep {
		s.b = nil
	}
	if cap(s.vals)*40 > storeKeep {
		s.vals = nil
	}
	if cap(s.top)*40 > storeKeep {
		s.top = nil
	}
	clear(s.top)
	s.b, s.vals, s.top = s.b[:0], s.vals[:0], s.top[:0]
}
