package writer_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

func TestAppendCommand(t *testing.T) {
	long := strings.Repeat("x", 1234)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "*0\r\n"},
		{[]string{"PING"}, "*1\r\n$4\r\nPING\r\n"},
		{[]string{"GET", "key"}, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"},
		{[]string{"SET", "k", ""}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"},
		{[]string{"SET", "k", "a\r\nb"}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"},
		{[]string{"ECHO", "0123456789"}, "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n"},
		{[]string{"ECHO", long}, "*2\r\n$4\r\nECHO\r\n$1234\r\n" + long + "\r\n"},
		{strings.Fields("a b c d e f g h i j k"),
			"*11\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n" +
				"$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n$1\r\nj\r\n$1\r\nk\r\n"},
	}
	for _, tt := range tests {
		for _, prefix := range []string{"", "prev"} {
			got := writer.AppendCommand([]byte(prefix), tt.args...)
			if string(got) != prefix+tt.want {
				t.Errorf("AppendCommand(%q, %q) = %q, want %q", prefix, tt.args, got, prefix+tt.want)
			}
		}
	}
}

// The size AppendCommand reserves is exact: a buffer with exactly the room needed is
// written in place, never reallocated.
func TestAppendCommandExactSize(t *testing.T) {
	for _, args := range [][]string{nil, {"PING"}, {"SET", "key", strings.Repeat("v", 9)},
		{"SET", "key", strings.Repeat("v", 10)}, {"SET", strings.Repeat("k", 99), strings.Repeat("v", 100)},
		{"SET", "k", strings.Repeat("v", 100000)}, strings.Fields(strings.Repeat("x ", 12))} {
		want := writer.AppendCommand(nil, args...)
		dst := make([]byte, 0, len(want))
		got := writer.AppendCommand(dst, args...)
		if !bytes.Equal(got, want) || cap(got) != len(want) || &got[:1][0] != &dst[:1][0] {
			t.Errorf("%d args: reallocated or differs (len %d cap %d)", len(args), len(got), cap(got))
		}
	}
}

type myString string

func TestAppendArgs(t *testing.T) {
	bulk := func(s string) string { return "$" + itoa(len(s)) + "\r\n" + s + "\r\n" }
	tests := []struct {
		name string
		arg  any
		want string // the argument's text
	}{
		{"string", "hello", "hello"},
		{"empty string", "", ""},
		{"crlf string", "a\r\nb", "a\r\nb"},
		{"bytes", []byte("world"), "world"},
		{"empty bytes", []byte{}, ""},
		{"nil bytes", []byte(nil), ""},
		{"int 0", 0, "0"},
		{"int 7", 7, "7"},
		{"int 10", 10, "10"},
		{"int -1", -1, "-1"},
		{"int -9", -9, "-9"},
		{"int 1000", 1000, "1000"},
		{"int min", math.MinInt, "-9223372036854775808"},
		{"int max", math.MaxInt, "9223372036854775807"},
		{"int8 min", int8(math.MinInt8), "-128"},
		{"int8 max", int8(math.MaxInt8), "127"},
		{"int16 min", int16(math.MinInt16), "-32768"},
		{"int32 min", int32(math.MinInt32), "-2147483648"},
		{"int32 max", int32(math.MaxInt32), "2147483647"},
		{"int64 min", int64(math.MinInt64), "-9223372036854775808"},
		{"int64 max", int64(math.MaxInt64), "9223372036854775807"},
		{"int64 -42", int64(-42), "-42"},
		{"uint 0", uint(0), "0"},
		{"uint 42", uint(42), "42"},
		{"uint8 max", uint8(math.MaxUint8), "255"},
		{"uint16 max", uint16(math.MaxUint16), "65535"},
		{"uint32 max", uint32(math.MaxUint32), "4294967295"},
		{"uint64 max", uint64(math.MaxUint64), "18446744073709551615"},
		{"uint max", uint(math.MaxUint), "18446744073709551615"},
		{"float 0", 0.0, "0"},
		{"float -0", math.Copysign(0, -1), "-0"},
		{"float 1", 1.0, "1"},
		{"float 3", 3.0, "3"},
		{"float 0.5", 0.5, "0.5"},
		{"float 0.1", 0.1, "0.1"},
		{"float -2.5", -2.5, "-2.5"},
		{"float 1/3", 1.0 / 3, "0.3333333333333333"},
		{"float 1e10", 1e10, "10000000000"},
		{"float 1e20", 1e20, "100000000000000000000"},
		{"float 1e21", 1e21, "1e+21"},
		{"float -1e21", -1e21, "-1e+21"},
		{"float 1e-4", 1e-4, "0.0001"},
		{"float 1e-5", 1e-5, "1e-05"},
		{"float max", math.MaxFloat64, "1.7976931348623157e+308"},
		{"float smallest", math.SmallestNonzeroFloat64, "5e-324"},
		{"float -smallest normal", -2.2250738585072014e-308, "-2.2250738585072014e-308"},
		{"float +inf", math.Inf(1), "inf"},
		{"float -inf", math.Inf(-1), "-inf"},
		{"float32 0.1", float32(0.1), "0.1"},
		{"float32 1.5", float32(1.5), "1.5"},
		{"float32 max", float32(math.MaxFloat32), "3.4028235e+38"},
		{"float32 -inf", float32(math.Inf(-1)), "-inf"},
		{"float32 1e-5", float32(1e-5), "1e-05"},
		{"true", true, "1"},
		{"false", false, "0"},
		{"value bulk", parser.NewBulkString("v"), "v"},
		{"value empty bulk", parser.NewBulk(nil), ""},
		{"value simple", parser.NewSimpleString("OK"), "OK"},
		{"value verbatim", parser.NewVerbatim("txt", "some text"), "some text"},
		{"value big number", parser.NewBigNumber("-3492890328409238509324850943850943825024385"),
			"-3492890328409238509324850943850943825024385"},
		{"value integer", parser.NewInteger(-17), "-17"},
		{"value integer min", parser.NewInteger(math.MinInt64), "-9223372036854775808"},
		{"value double", parser.NewDouble(2.5), "2.5"},
		{"value double inf", parser.NewDouble(math.Inf(1)), "inf"},
		{"value true", parser.NewBool(true), "1"},
		{"value false", parser.NewBool(false), "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := "*2\r\n$4\r\nECHO\r\n" + bulk(tt.want)
			got, err := writer.AppendArgs(nil, "ECHO", tt.arg)
			if err != nil || string(got) != want {
				t.Errorf("AppendArgs(%#v) = %q, %v; want %q", tt.arg, got, err, want)
			}
			// After existing bytes, and alone.
			got, err = writer.AppendArgs([]byte("+OK\r\n"), tt.arg)
			if want := "+OK\r\n*1\r\n" + bulk(tt.want); err != nil || string(got) != want {
				t.Errorf("AppendArgs(prefix, %#v) = %q, %v; want %q", tt.arg, got, err, want)
			}
		})
	}
}

func TestAppendArgsMixed(t *testing.T) {
	got, err := writer.AppendArgs(nil, "ZADD", []byte("zs"), 1.5, "a", -2, "b", uint8(3), "c", true)
	want := "*9\r\n$4\r\nZADD\r\n$2\r\nzs\r\n$3\r\n1.5\r\n$1\r\na\r\n$2\r\n-2\r\n$1\r\nb\r\n" +
		"$1\r\n3\r\n$1\r\nc\r\n$1\r\n1\r\n"
	if err != nil || string(got) != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	got, err = writer.AppendArgs(nil)
	if err != nil || string(got) != "*0\r\n" {
		t.Errorf("no args: got %q, %v", got, err)
	}
	// The same command from AppendCommand and AppendArgs.
	args := []string{"SET", "key", strings.Repeat("v", 300)}
	got, _ = writer.AppendArgs(nil, args[0], args[1], args[2])
	if want := writer.AppendCommand(nil, args...); !bytes.Equal(got, want) {
		t.Errorf("AppendArgs %q != AppendCommand %q", got, want)
	}
}

func TestAppendArgsErrors(t *testing.T) {
	var nilPtr *int
	var nilMap map[string]int
	tests := []struct {
		name   string
		args   []any
		index  int
		typ    reflect.Type
		reason string
	}{
		{"struct", []any{"SET", "k", struct{ A int }{1}}, 2, reflect.TypeFor[struct{ A int }](), "unsupported type"},
		{"nil", []any{"GET", nil}, 1, nil, "nil is not an argument"},
		{"nil first", []any{nil}, 0, nil, "nil is not an argument"},
		{"map", []any{"HSET", "h", map[string]string{"f": "v"}}, 2, reflect.TypeFor[map[string]string](), "unsupported type"},
		{"nil map", []any{"HSET", "h", nilMap}, 2, reflect.TypeFor[map[string]int](), "unsupported type"},
		{"chan", []any{"X", make(chan int)}, 1, reflect.TypeFor[chan int](), "unsupported type"},
		{"string slice", []any{"DEL", []string{"a", "b"}}, 1, reflect.TypeFor[[]string](), "unsupported type"},
		{"nil pointer", []any{"GET", nilPtr}, 1, reflect.TypeFor[*int](), "unsupported type"},
		{"pointer", []any{"GET", new(string)}, 1, reflect.TypeFor[*string](), "unsupported type"},
		{"named string", []any{"GET", myString("k")}, 1, reflect.TypeFor[myString](), "unsupported type"},
		{"uintptr", []any{"GET", uintptr(1)}, 1, reflect.TypeFor[uintptr](), "unsupported type"},
		{"complex", []any{"GET", 1i}, 1, reflect.TypeFor[complex128](), "unsupported type"},
		{"error", []any{"GET", errors.New("x")}, 1, reflect.TypeOf(errors.New("x")), "unsupported type"},
		{"NaN", []any{"INCRBYFLOAT", "k", math.NaN()}, 2, reflect.TypeFor[float64](), "NaN is not a number Redis accepts"},
		{"NaN32", []any{"INCRBYFLOAT", "k", float32(math.NaN())}, 2, reflect.TypeFor[float32](), "NaN is not a number Redis accepts"},
		{"value NaN", []any{"X", parser.NewDouble(math.NaN())}, 1, reflect.TypeFor[parser.Value](), "NaN is not a number Redis accepts"},
		{"value array", []any{"X", "y", parser.NewArray(parser.NewBulkString("a"))}, 2, reflect.TypeFor[parser.Value](),
			"a parser.Value of kind array is not an argument"},
		{"value map", []any{"X", parser.NewMap()}, 1, reflect.TypeFor[parser.Value](), "a parser.Value of kind map is not an argument"},
		{"value set", []any{"X", parser.NewSet()}, 1, reflect.TypeFor[parser.Value](), "a parser.Value of kind set is not an argument"},
		{"value push", []any{"X", parser.NewPush()}, 1, reflect.TypeFor[parser.Value](), "a parser.Value of kind push is not an argument"},
		{"value null", []any{"X", parser.NewNull()}, 1, reflect.TypeFor[parser.Value](), "a parser.Value of kind null is not an argument"},
		{"value null bulk", []any{"X", parser.NewNullBulk()}, 1, reflect.TypeFor[parser.Value](), "a parser.Value of kind null is not an argument"},
		{"value error", []any{"X", parser.NewSimpleError("ERR x")}, 1, reflect.TypeFor[parser.Value](),
			"a parser.Value of kind simple-error is not an argument"},
		{"value bulk error", []any{"X", parser.NewBulkError("ERR x")}, 1, reflect.TypeFor[parser.Value](),
			"a parser.Value of kind bulk-error is not an argument"},
		{"value zero", []any{"X", parser.Value{}}, 1, reflect.TypeFor[parser.Value](), "a parser.Value of kind invalid is not an argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, capacity := range []int{5, 1024} { // reallocated, and written in place
				dst := append(make([]byte, 0, capacity), "+OK\r\n"...)
				got, err := writer.AppendArgs(dst, tt.args...)
				if string(got) != "+OK\r\n" || len(got) != 5 || cap(got) != capacity || &got[0] != &dst[0] {
					t.Errorf("dst changed: %q (cap %d)", got, cap(got))
				}
				var ae *writer.ArgError
				if !errors.As(err, &ae) {
					t.Fatalf("err = %v (%T), want *ArgError", err, err)
				}
				if ae.Index != tt.index || ae.Type != tt.typ || ae.Reason != tt.reason {
					t.Errorf("ArgError{%d, %v, %q}, want {%d, %v, %q}", ae.Index, ae.Type, ae.Reason, tt.index, tt.typ, tt.reason)
				}
				if !strings.HasPrefix(err.Error(), "writer: argument "+itoa(tt.index)+" (") {
					t.Errorf("message %q", err)
				}
				// Wrapped, it is still found.
				if !errors.As(errors.Join(errors.New("send"), err), &ae) {
					t.Error("wrapped ArgError not found by errors.As")
				}
			}
		})
	}
}

func TestArgErrorMessage(t *testing.T) {
	_, err := writer.AppendArgs(nil, "HSET", "h", map[string]int{})
	if got, want := err.Error(), "writer: argument 2 (map[string]int): unsupported type"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = writer.AppendArgs(nil, "GET", nil)
	if got, want := err.Error(), "writer: argument 1 (nil): nil is not an argument"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	_, err = writer.AppendArgs(nil, "X", parser.NewArray())
	if got, want := err.Error(), "writer: argument 1 (parser.Value): a parser.Value of kind array is not an argument"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// AppendCommandArgs writes what AppendArgs writes for the same arguments, and counts
// head in an error's index.
func TestAppendCommandArgs(t *testing.T) {
	head := []string{"EVALSHA", "abc", "2", "k1", "k2"}
	args := []any{1, []byte("x"), 2.5, true}
	want, err := writer.AppendArgs(nil, "EVALSHA", "abc", "2", "k1", "k2", 1, []byte("x"), 2.5, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := writer.AppendCommandArgs([]byte("prefix"), head, args...)
	if err != nil || string(got) != "prefix"+string(want) {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
	if got, err := writer.AppendCommandArgs(nil, nil); err != nil || string(got) != "*0\r\n" {
		t.Fatalf("empty: %q, %v", got, err)
	}
	dst := []byte("keep")
	got, err = writer.AppendCommandArgs(dst, head, 1, struct{}{})
	var ae *writer.ArgError
	if !errors.As(err, &ae) || ae.Index != 6 || string(got) != "keep" {
		t.Fatalf("bad argument: %q, %v", got, err)
	}
}

// AppendArgsRefs leaves large strings and []byte out, and the command put together
// from the pieces is what AppendArgs writes; an argument error leaves dst and refs as
// given.
func TestAppendArgsRefs(t *testing.T) {
	big := strings.Repeat("v", 100)
	args := []any{"SET", big, "k", []byte(big), 7, big[:99]}
	want, err := writer.AppendArgs(nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	got, refs, err := writer.AppendArgsRefs([]byte("prefix"), 100, 100, nil, args...)
	if err != nil || len(refs) != 2 || refs[0].S != big || string(refs[1].B) != big || refs[1].S != "" {
		t.Fatalf("refs %v, err %v; want the 100-byte string and []byte", refs, err)
	}
	var whole []byte
	at := 0
	for _, r := range refs {
		whole = append(append(append(whole, got[at:r.At]...), r.S...), r.B...)
		at = r.At
	}
	whole = append(whole, got[at:]...)
	if string(whole) != "prefix"+string(want) {
		t.Fatalf("put together: %q\nwant %q", whole, "prefix"+string(want))
	}
	// Each kind has its own bound: here strings only.
	got, refs, err = writer.AppendArgsRefs(nil, 100, 0, nil, args...)
	if err != nil || len(refs) != 1 || refs[0].S != big || !bytes.Contains(got, []byte(big)) {
		t.Fatalf("strings only: refs %v, err %v", refs, err)
	}
	dst := []byte("x")
	d2, r2, err := writer.AppendArgsRefs(dst, 1, 1, refs[:1], "a", math.NaN())
	var ae *writer.ArgError
	if !errors.As(err, &ae) || ae.Index != 1 || string(d2) != "x" || len(r2) != 1 {
		t.Fatalf("NaN: %q, %d refs, %v", d2, len(r2), err)
	}
}
