//go:build !race

package writer_test

import (
	"testing"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// The zero-allocation promise, measured with the calls written the way users write
// them: literal command names, variables for keys and values, a reused buffer.
func TestZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, 4096)
	key, val := "key:000000000001", "0123456789abcdef"
	bkey, bval := []byte(key), []byte(val)
	n, i64, u64 := 100000, int64(-1<<40), uint64(1<<63)
	f, f32 := 3.25, float32(0.1)
	flag := true
	pv := parser.NewBulkString("payload")
	reply := parser.NewArray(bulk("a"), parser.NewInteger(-5), parser.NewDouble(1e10),
		parser.NewVerbatim("txt", "v"), parser.NewMap(bulk("k"), parser.NewNullBulk()),
		parser.NewSet(parser.NewBool(true), parser.NewBigNumber("123")),
		parser.NewNullArray(), parser.NewNull(), parser.NewBulkError("ERR x"),
	).WithAttrs(parser.NewSimpleString("ttl"), parser.NewInteger(3))

	var err error
	cases := []struct {
		name string
		fn   func()
	}{
		{"AppendCommand GET", func() { buf = writer.AppendCommand(buf[:0], "GET", key) }},
		{"AppendCommand SET", func() { buf = writer.AppendCommand(buf[:0], "SET", key, val) }},
		{"AppendArgs SET string", func() { buf, err = writer.AppendArgs(buf[:0], "SET", key, val) }},
		{"AppendArgs SET []byte", func() { buf, err = writer.AppendArgs(buf[:0], "SET", bkey, bval) }},
		{"AppendArgs int", func() { n++; buf, err = writer.AppendArgs(buf[:0], "EXPIRE", key, n) }},
		{"AppendArgs int64 uint64", func() {
			i64--
			u64++
			buf, err = writer.AppendArgs(buf[:0], "X", i64, u64, int32(n), uint16(n))
		}},
		{"AppendArgs float", func() { f += 0.5; buf, err = writer.AppendArgs(buf[:0], "INCRBYFLOAT", key, f, f32) }},
		{"AppendArgs bool", func() { flag = !flag; buf, err = writer.AppendArgs(buf[:0], "X", flag) }},
		{"AppendArgs mixed", func() {
			n++
			buf, err = writer.AppendArgs(buf[:0], "SET", key, bval, "EX", n, "GET")
		}},
		{"AppendArgs parser.Value", func() { buf, err = writer.AppendArgs(buf[:0], "SET", key, pv) }},
		{"AppendValue", func() { buf = writer.AppendValue(buf[:0], reply) }},
	}
	for _, c := range cases {
		if a := testing.AllocsPerRun(100, c.fn); a != 0 {
			t.Errorf("%s: %v allocations, want 0", c.name, a)
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

var sink [][]any

// escapingSend is a wrapper that keeps its arguments: its callers must box them on the
// heap. This is the cost documented in the package doc; it is logged, not asserted.
//
//go:noinline
func escapingSend(dst []byte, args ...any) []byte {
	sink = append(sink[:0], args)
	dst, _ = writer.AppendArgs(dst, args...)
	return dst
}

func TestAllocsWhenArgsEscape(t *testing.T) {
	buf := make([]byte, 0, 4096)
	sink = make([][]any, 0, 1)
	keys, i, n, small := []string{"k1", "k2"}, 0, 100000, 7
	a := testing.AllocsPerRun(100, func() {
		i++
		n++
		buf = escapingSend(buf[:0], "SET", keys[i&1], n)
	})
	t.Logf("escaping []any with a string variable and an int > 255: %v allocations per call", a)
	a = testing.AllocsPerRun(100, func() { buf = escapingSend(buf[:0], "SET", "lit", small) })
	t.Logf("escaping []any with a literal and an int in 0..255: %v allocations per call", a)
}
