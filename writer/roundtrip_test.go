package writer_test

import (
	"math"
	"testing"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// What AppendValue writes, parser.Parse reads back as the same value, in exactly the
// bytes written, with the null's wire form kept.
func TestRoundTripValue(t *testing.T) {
	for _, tt := range valueCases {
		if tt.v.Kind() == parser.Invalid {
			continue // written as "_": reads back as a null, by design
		}
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.v)
		})
	}
}

func checkRoundTrip(t *testing.T, v parser.Value) {
	t.Helper()
	wire := writer.AppendValue(nil, v)
	got, n, err := parser.Parse(wire)
	if err != nil || n != len(wire) {
		t.Fatalf("Parse(%q) = %v, %d, %v; want %d bytes", wire, got, n, err, len(wire))
	}
	if !parser.Equal(got, v) {
		t.Errorf("Parse(AppendValue(%v)) = %v", v, got)
	}
	if got.IsNullBulk() != v.IsNullBulk() || got.IsNullArray() != v.IsNullArray() {
		t.Errorf("null form changed: %q read back as bulk=%v array=%v", wire, got.IsNullBulk(), got.IsNullArray())
	}
	// And written again, byte for byte the same.
	if again := writer.AppendValue(nil, got); string(again) != string(wire) {
		t.Errorf("rewritten %q, first written %q", again, wire)
	}
}

// A command from AppendArgs reads back as an array of bulk strings with the expected
// text, including floats at the edges of the plain/exponent switch.
func TestRoundTripArgs(t *testing.T) {
	args := []any{"ZADD", []byte("k"), 1e21, 1e-5, math.Inf(-1), math.MaxInt64, uint64(math.MaxUint64),
		int8(-128), false, parser.NewVerbatim("txt", "v"), parser.NewDouble(-0.25), ""}
	want := []string{"ZADD", "k", "1e+21", "1e-05", "-inf", "9223372036854775807", "18446744073709551615",
		"-128", "0", "v", "-0.25", ""}
	wire, err := writer.AppendArgs(nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	v, n, err := parser.Parse(wire)
	if err != nil || n != len(wire) || v.Kind() != parser.Array || len(v.Elems()) != len(want) {
		t.Fatalf("Parse(%q) = %v, %d, %v", wire, v, n, err)
	}
	for i, e := range v.Elems() {
		if e.Kind() != parser.BulkString || string(e.Bytes()) != want[i] {
			t.Errorf("arg %d: %v, want bulk %q", i, e, want[i])
		}
	}
}
