package fuzz

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/respring/respring/asm"
	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// seeds are streams that reach every branch of the parser.
var seeds = []string{
	"+OK\r\n", "-ERR x\r\n", ":-9223372036854775808\r\n", "$5\r\nhello\r\n", "$0\r\n\r\n", "$-1\r\n", "*-1\r\n", "_\r\n",
	"*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n", ",-0\r\n", ",inf\r\n", ",nan(123)\r\n", ",2.67923E+8\r\n",
	"(3492890328409238509324850943850943825024385\r\n", "#t\r\n", "!21\r\nSYNTAX invalid syntax\r\n",
	"=15\r\ntxt:Some string\r\n", "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", "~3\r\n:1\r\n:1\r\n:2\r\n", ">2\r\n+message\r\n+x\r\n",
	"|1\r\n+ttl\r\n:3600\r\n$2\r\nhi\r\n", "*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n",
	"$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;1\r\nd\r\n;0\r\n", "*?\r\n:1\r\n*?\r\n.\r\n.\r\n", "%?\r\n+a\r\n:1\r\n.\r\n",
	"*100000000\r\n:1\r\n", "$1000000000\r\nabc", ":99999999999999999999\r\n", "$-5\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n",
	"+OK\r", "+OK\nX\r\n", "%?\r\n+a\r\n.\r\n", ".\r\n", "*1\r\n>1\r\n+a\r\n", ",0x1p3\r\n", "=3\r\ntxt\r\n",
}

// heapAllocs returns the bytes allocated so far, cheaply but not exactly: the runtime
// counts a small allocation only when its span leaves a P's cache, on refill or when a
// GC ends and flushes every cache. A window between two reads is then credited with
// bytes allocated before it (100 KB for a Parse that allocates nothing, when a GC ends
// inside it), and may miss bytes still in a cached span.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// exactAllocs returns the bytes allocated while f runs. runtime.ReadMemStats stops the
// world and flushes every P's cache, so both readings are exact; at ~5µs each it is
// too slow for every input, and confirms what heapAllocs flags.
func exactAllocs(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// While fuzzing, heapAllocs screens each input and only those it puts over half the
	// bound are measured exactly; re-running the corpus (or a crasher) measures every
	// input exactly, so a failure reproduces whatever the runtime's caches hold.
	screen := flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, data []byte) {
		var p parser.Parser
		before := heapAllocs()
		v, n, err := p.Parse(data)
		grew := heapAllocs() - before
		// Memory follows the bytes received, never a declared length. A value takes at
		// least 3 bytes ("_\r\n") and is a 40-byte Value in at most three arenas: the
		// working stack, the store when its aggregate or attribute map ends, and the store
		// again when the attribute maps of a run are merged; in the worst case (long runs
		// of attribute maps) 2/3 of a Value per byte in the store, 27 bytes. Arenas grow
		// by append, whose successive 1.25x copies allocate up to 6.25 times what they
		// hold: ~167 bytes per input byte, 158 measured on runs of "|8" maps (64, the
		// earlier bound, is exceeded by legitimate runs of 10 KB). The slack covers
		// small inputs.
		limit := uint64(192*len(data) + 64<<10)
		if !screen || grew > limit/2 {
			// Parsing is deterministic: parse again with a fresh Parser, measured exactly.
			exact := exactAllocs(func() { var q parser.Parser; q.Parse(data) })
			if exact > limit {
				t.Fatalf("allocated %d bytes for %d input bytes", exact, len(data))
			}
		}
		switch {
		case err == nil:
			if n <= 0 || n > len(data) {
				t.Fatalf("consumed %d of %d", n, len(data))
			}
			_ = v.String()
			c := v.Clone()
			if !parser.Equal(c, v) {
				t.Fatalf("clone differs: %v vs %v", c, v)
			}
			// The value does not depend on what follows it.
			var q parser.Parser
			w, m, err := q.Parse(data[:n])
			if err != nil || m != n || !parser.Equal(w, c) {
				t.Fatalf("prefix parse: %v %d %v", w, m, err)
			}
		case errors.Is(err, parser.ErrIncomplete):
			if n != 0 || p.NeedBytes() <= len(data) {
				t.Fatalf("incomplete: n=%d need=%d len=%d", n, p.NeedBytes(), len(data))
			}
		default:
			var pe *parser.ProtocolError
			if !errors.As(err, &pe) || n != 0 || pe.Offset < 0 || pe.Offset > len(data) {
				t.Fatalf("bad error %v (n=%d)", err, n)
			}
		}
	})
}

// outcome is what parsing a stream gives: the values, then how it stopped.
type outcome struct {
	vals []parser.Value
	end  string // "eof", "incomplete" or "error"
}

func whole(data []byte) outcome {
	var p parser.Parser
	var o outcome
	_, err := p.ParseEach(data, func(v parser.Value) error { o.vals = append(o.vals, v.Clone()); return nil })
	o.end = endOf(err)
	return o
}

func endOf(err error) string {
	switch {
	case err == nil:
		return "eof"
	case errors.Is(err, parser.ErrIncomplete):
		return "incomplete"
	}
	return "error"
}

// pieces feeds data in pieces whose sizes come from cuts, as a driver does: the
// unconsumed bytes stay at the front of its buffer, and every other read moves them
// to a fresh buffer.
func pieces(data, cuts []byte) outcome {
	var p parser.Parser
	var o outcome
	var buf []byte
	off := 0
	for i := 0; ; i++ {
		size := 1
		if len(cuts) > 0 {
			size = int(cuts[i%len(cuts)])%64 + 1
		}
		end := min(off+size, len(data))
		if i%2 == 1 {
			buf = append(append(make([]byte, 0, len(buf)+size), buf...), data[off:end]...)
		} else {
			buf = append(buf, data[off:end]...)
		}
		off = end
		n, err := p.ParseEach(buf, func(v parser.Value) error { o.vals = append(o.vals, v.Clone()); return nil })
		buf = buf[n:]
		if err != nil && !errors.Is(err, parser.ErrIncomplete) {
			o.end = "error"
			return o
		}
		if off == len(data) {
			o.end = endOf(err)
			return o
		}
	}
}

func FuzzSplit(f *testing.F) {
	for i, s := range seeds {
		f.Add([]byte(s+s), []byte{byte(i), 3, 1})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) > 1<<16 {
			return
		}
		a, b := whole(data), pieces(data, cuts)
		if a.end != b.end || len(a.vals) != len(b.vals) {
			t.Fatalf("whole: %d values, %s; pieces: %d values, %s", len(a.vals), a.end, len(b.vals), b.end)
		}
		for i := range a.vals {
			if !parser.Equal(a.vals[i], b.vals[i]) {
				t.Fatalf("value %d: whole %v, pieces %v", i, a.vals[i], b.vals[i])
			}
		}
	})
}

// maxBuildDepth bounds the nesting build makes (aggregates and attributes alike), far
// below the parser's MaxDepth, so that every value it builds is one the parser must
// accept. (Values nested past MaxDepth are rejected by design; the parser's tests
// cover that.)
const maxBuildDepth = 6

// build makes a value from the fuzz input, consuming it as it goes.
func build(in *[]byte, depth int) parser.Value {
	next := func() byte {
		if len(*in) == 0 {
			return 0
		}
		c := (*in)[0]
		*in = (*in)[1:]
		return c
	}
	str := func() []byte {
		n := int(next()) % 24
		n = min(n, len(*in))
		s := (*in)[:n]
		*in = (*in)[n:]
		return bytes.Clone(s)
	}
	line := func() string { // simple strings and errors hold no CR or LF
		return string(bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return '_'
			}
			return r
		}, str()))
	}
	var v parser.Value
	k := next()
	switch k % 17 {
	case 0:
		v = parser.NewSimpleString(line())
	case 1:
		v = parser.NewSimpleError(line())
	case 2:
		v = parser.NewInteger(int64(uint64(next())<<56|uint64(next())<<8|uint64(next())) * int64(int8(next())))
	case 3:
		v = parser.NewBulk(str())
	case 4:
		v = parser.NewNull()
	case 5:
		v = parser.NewNullBulk()
	case 6:
		v = parser.NewNullArray()
	case 7:
		v = parser.NewBool(next()&1 == 1)
	case 8:
		bits := uint64(next())<<56 | uint64(next())<<48 | uint64(next())<<8 | uint64(next())
		v = parser.NewDouble(math.Float64frombits(bits))
	case 9:
		digits := "-12345678901234567890123456789"
		v = parser.NewBigNumber(digits[next()%2 : 2+int(next())%27])
	case 10:
		v = parser.NewBulkError(string(str()))
	case 11:
		v = parser.NewVerbatim([]string{"txt", "mkd"}[next()%2], string(str()))
	default:
		if depth >= maxBuildDepth {
			return parser.NewInteger(int64(k))
		}
		n := int(next()) % 5
		elems := make([]parser.Value, 0, 2*n)
		for range n {
			elems = append(elems, build(in, depth+1))
		}
		switch k % 17 {
		case 12:
			v = parser.NewArray(elems...)
		case 13:
			v = parser.NewSet(elems...)
		case 14:
			for range n {
				elems = append(elems, build(in, depth+1))
			}
			v = parser.NewMap(elems...)
		case 15:
			if depth == 0 {
				v = parser.NewPush(elems...)
			} else {
				v = parser.NewArray(elems...)
			}
		default:
			v = parser.NewArray(elems...)
		}
	}
	if depth < maxBuildDepth && next()%5 == 0 && len(*in) > 0 {
		v = v.WithAttrs(build(in, depth+1), build(in, depth+1))
	}
	return v
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{12, 3, 3, 5, 'h', 'e', 'l', 'l', 'o', 2, 1, 2, 3, 4, 8, 0x7f, 0xf0, 0, 1})
	f.Add([]byte{14, 2, 0, 2, 'a', 'b', 3, 1, 'x', 1, 9, 1, 8, 0, 0, 0, 0})
	f.Add([]byte{15, 1, 11, 1, 4, 't', 'e', 'x', 't', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := data
		v := build(&in, 0)
		wire := writer.AppendValue(nil, v)
		got, n, err := parser.Parse(wire)
		if err != nil || n != len(wire) {
			t.Fatalf("Parse(%q) = %v, %d, %v", wire, got, n, err)
		}
		if !parser.Equal(got, v) {
			t.Fatalf("round trip of %q:\n got %v\nwant %v", wire, got, v)
		}
		if again := writer.AppendValue(nil, got); !bytes.Equal(again, wire) {
			t.Fatalf("re-encoding differs:\n%q\n%q", again, wire)
		}
	})
}

func FuzzKernels(f *testing.F) {
	f.Add([]byte("+OK\r\n:123\r\n$5\r\nhello\r\n"), uint8(0))
	f.Add(bytes.Repeat([]byte("a\r\nb\n\rc"), 30), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, from uint8) {
		for len(data) < 64 {
			data = append(data, data...)
			if len(data) == 0 {
				data = []byte{0}
			}
		}
		want := asm.Mask64Level(asm.Generic, data)
		for _, l := range asm.Levels() {
			if got := asm.Mask64Level(l, data); got != want {
				t.Fatalf("level %v: mask %x, generic %x", l, got, want)
			}
		}
		// The scanner agrees with a byte-by-byte search from every start.
		var s asm.Scanner
		s.Reset(data)
		for i := int(from) % len(data); i <= len(data); i += 7 {
			want := -1
			for j := i; j < len(data); j++ {
				if data[j] == '\r' || data[j] == '\n' {
					want = j
					break
				}
			}
			if got := s.Next(i); got != want {
				t.Fatalf("Next(%d) = %d, want %d", i, got, want)
			}
		}
	})
}
