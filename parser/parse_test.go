package parser

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// crlf turns the readable form "a/b" of a test stream into "a\r\nb\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "/", "\r\n") + "\r\n" }

var (
	bs  = NewBulkString
	ss  = NewSimpleString
	in  = NewInteger
	arr = NewArray
)

var validCases = []struct {
	name string
	in   string // '/' stands for CRLF; a final CRLF is added
	want Value
}{
	{"simple", "+OK", ss("OK")},
	{"simple empty", "+", ss("")},
	{"error", "-ERR unknown command", NewSimpleError("ERR unknown command")},
	{"int max", ":9223372036854775807", in(math.MaxInt64)},
	{"int min", ":-9223372036854775808", in(math.MinInt64)},
	{"int zero", ":0", in(0)},
	{"bulk", "$5/hello", bs("hello")},
	{"bulk empty is not null", "$0/", bs("")},
	{"bulk with CRLF inside", "$4/a\r\nb", bs("a\r\nb")},
	{"null bulk", "$-1", NewNullBulk()},
	{"null array", "*-1", NewNullArray()},
	{"null", "_", NewNull()},
	{"empty array", "*0", arr()},
	{"empty map", "%0", NewMap()},
	{"empty set", "~0", NewSet()},
	{"array with null element", "*3/$5/hello/$-1/$5/world", arr(bs("hello"), NewNullBulk(), bs("world"))},
	{"error inside array", "*2/-ERR x/:1", arr(NewSimpleError("ERR x"), in(1))},
	{"nested", "*2/*2/:1/:2/*1/+a", arr(arr(in(1), in(2)), arr(ss("a")))},
	{"double int", ",10", NewDouble(10)},
	{"double neg zero", ",-0", NewDouble(math.Copysign(0, -1))},
	{"double inf", ",inf", NewDouble(math.Inf(1))},
	{"double -inf", ",-inf", NewDouble(math.Inf(-1))},
	{"double nan", ",nan", NewDouble(math.NaN())},
	{"double -nan", ",-nan", NewDouble(math.NaN())},
	{"double NAN", ",NAN", NewDouble(math.NaN())},
	{"double nan(123)", ",nan(123)", NewDouble(math.NaN())},
	{"double exp", ",1e10", NewDouble(1e10)},
	{"double exp upper", ",2.67923E+8", NewDouble(2.67923e8)},
	{"double frac", ",3.14", NewDouble(3.14)},
	{"big", "(3492890328409238509324850943850943825024385", NewBigNumber("3492890328409238509324850943850943825024385")},
	{"big neg", "(-12345678901234567890123", NewBigNumber("-12345678901234567890123")},
	{"bool t", "#t", NewBool(true)},
	{"bool f", "#f", NewBool(false)},
	{"bulk error", "!21/SYNTAX invalid syntax", NewBulkError("SYNTAX invalid syntax")},
	{"verbatim", "=15/txt:Some string", NewVerbatim("txt", "Some string")},
	{"verbatim empty", "=4/mkd:", NewVerbatim("mkd", "")},
	{"map counts pairs", "%2/+a/:1/+b/:2", NewMap(ss("a"), in(1), ss("b"), in(2))},
	{"set duplicates", "~3/:1/:1/:2", NewSet(in(1), in(1), in(2))},
	{"push", ">2/+message/+x", NewPush(ss("message"), ss("x"))},
	{"attr before value", "|1/+ttl/:3600/$2/hi", bs("hi").WithAttrs(ss("ttl"), in(3600))},
	{"attr before element", "*2/:1/|1/+ttl/:3600/:2", arr(in(1), in(2).WithAttrs(ss("ttl"), in(3600)))},
	{"attr before aggregate", "|1/+a/+b/*1/:1", arr(in(1)).WithAttrs(ss("a"), ss("b"))},
	{"attr before push", "|1/+a/+b/>1/+x", NewPush(ss("x")).WithAttrs(ss("a"), ss("b"))},
	{"two attrs merge", "|1/+a/+b/|1/+c/+d/:1", in(1).WithAttrs(ss("a"), ss("b"), ss("c"), ss("d"))},
	{"empty attr", "|0/:1", in(1)},
	{"attr with aggregate value", "|1/+k/*2/:1/:2/+v", ss("v").WithAttrs(ss("k"), arr(in(1), in(2)))},
	{"streamed string", "$?/;4/Hell/;6/o worl/;1/d/;0", bs("Hello world")},
	{"streamed string empty", "$?/;0", bs("")},
	{"streamed array", "*?/:1/:2/.", arr(in(1), in(2))},
	{"streamed array empty", "*?/.", arr()},
	{"streamed set", "~?/+a/.", NewSet(ss("a"))},
	{"streamed map", "%?/+a/:1/.", NewMap(ss("a"), in(1))},
	{"streamed nested", "*?/*?/$?/;1/x/;0/./.", arr(arr(bs("x")))},
	{"streamed string in array", "*2/$?/;2/ab/;0/:5", arr(bs("ab"), in(5))},
	{"attr inside streamed", "*?/|1/+a/+b/:1/.", arr(in(1).WithAttrs(ss("a"), ss("b")))},
}

var errorCases = []struct {
	name string
	in   string // raw bytes
}{
	{"bare LF in line", "+OK\nfoo\r\n"},
	{"bare CR in line", "+OK\rfoo\r\n"},
	{"int overflow", ":9223372036854775808\r\n"},
	{"int underflow", ":-9223372036854775809\r\n"},
	{"int empty", ":\r\n"},
	{"int minus only", ":-\r\n"},
	{"int letters", ":1a\r\n"},
	{"int space", ": 1\r\n"},
	{"int plus", ":+5\r\n"},
	{"int leading zero", ":007\r\n"},
	{"int minus zero", ":-0\r\n"},
	{"bulk -2", "$-2\r\n"},
	{"array -2", "*-2\r\n"},
	{"map -1", "%-1\r\n"},
	{"bulk bad terminator", "$3\r\nfooXY"},
	{"bulk over limit", "$536870913\r\n"},
	{"bulk huge", "$9223372036854775807\r\n"},
	{"bulk -5", "$-5\r\n"},
	{"null with data", "_x\r\n"},
	{"bool x", "#x\r\n"},
	{"bool empty", "#\r\n"},
	{"bool tt", "#tt\r\n"},
	{"double empty", ",\r\n"},
	{"double .5", ",.5\r\n"},
	{"double 1.2.3", ",1.2.3\r\n"},
	{"double 1e", ",1e\r\n"},
	{"double hex", ",0x1p3\r\n"},
	{"double Infinity", ",Infinity\r\n"},
	{"double 1.", ",1.\r\n"},
	{"double underscore", ",1_0\r\n"},
	{"big empty", "(\r\n"},
	{"big minus", "(-\r\n"},
	{"big frac", "(1.5\r\n"},
	{"verbatim short", "=3\r\ntxt\r\n"},
	{"verbatim no colon", "=5\r\ntxt;a\r\n"},
	{"streamed map odd", "%?\r\n+a\r\n.\r\n"},
	{"end outside stream", ".\r\n"},
	{"end inside counted", "*2\r\n:1\r\n.\r\n"},
	{"end after attr", "*?\r\n|1\r\n+a\r\n+b\r\n.\r\n"},
	{"push inside array", "*1\r\n>1\r\n+a\r\n"},
	{"push inside attr", "|1\r\n+k\r\n>1\r\n+a\r\n"},
	{"unknown type", "@foo\r\n"},
	{"chunk outside", ";3\r\nabc\r\n"},
	{"chunk bad", "$?\r\n+x\r\n"},
	{"chunk negative", "$?\r\n;-1\r\n"},
	{"chunk bad terminator", "$?\r\n;1\r\nabc"},
	{"bulk error null", "!-1\r\n"},
	{"set null", "~-1\r\n"},
	{"streamed length garbage", "*?x\r\n"},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			in := crlf(tc.in)
			v, n, err := Parse([]byte(in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if n != len(in) {
				t.Fatalf("Parse(%q) consumed %d of %d", in, n, len(in))
			}
			if !Equal(v, tc.want) {
				t.Fatalf("Parse(%q) = %v, want %v", in, v, tc.want)
			}
			// Trailing bytes are not consumed.
			v, n, err = Parse([]byte(in + "+next\r\n"))
			if err != nil || n != len(in) || !Equal(v, tc.want) {
				t.Fatalf("with trailing value: %v %d %v", v, n, err)
			}
		})
	}
}

func TestParseValidEverySplit(t *testing.T) {
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(crlf(tc.in))
			for _, move := range []bool{false, true} {
				// Feed byte by byte: every prefix must be incomplete, and the
				// whole must give the value, resuming or moved.
				var p Parser
				var got Value
				done := false
				for i := 0; i <= len(in); i++ {
					buf := in[:i]
					if move {
						buf = append([]byte(nil), buf...)
						// poison the previous copy's bytes by making a fresh one each time
					}
					v, n, err := p.Parse(buf)
					if i < len(in) {
						if !errors.Is(err, ErrIncomplete) || n != 0 {
							t.Fatalf("prefix %d/%d (%q): got %v, %d, %v", i, len(in), buf, v, n, err)
						}
						if need := p.NeedBytes(); need <= i || need > len(in) {
							t.Fatalf("prefix %d: NeedBytes %d out of (%d, %d]", i, need, i, len(in))
						}
						continue
					}
					if err != nil || n != len(in) {
						t.Fatalf("whole (move=%v): %v %d %v", move, v, n, err)
					}
					got, done = v, true
				}
				if !done || !Equal(got, tc.want) {
					t.Fatalf("split (move=%v): got %v, want %v", move, got, tc.want)
				}
			}
		})
	}
}

// TestParseMovedBufferIsRepointed overwrites the old buffer after ErrIncomplete, as a
// caller that compacts its read buffer would, and checks the values read earlier.
func TestParseMovedBufferIsRepointed(t *testing.T) {
	in := []byte(crlf("*3/$5/hello/+world/%1/+k/$1/v"))
	for cut := 1; cut < len(in); cut++ {
		var p Parser
		first := append([]byte(nil), in[:cut]...)
		if _, _, err := p.Parse(first); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("cut %d: %v", cut, err)
		}
		for i := range first {
			first[i] = 'X'
		}
		v, n, err := p.Parse(append([]byte(nil), in...))
		want := arr(bs("hello"), ss("world"), NewMap(ss("k"), bs("v")))
		if err != nil || n != len(in) || !Equal(v, want) {
			t.Fatalf("cut %d: got %v %d %v", cut, v, n, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			v, n, err := Parse([]byte(tc.in))
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, %d, %v; want *ProtocolError", tc.in, v, n, err)
			}
			if n != 0 || pe.Offset < 0 || pe.Offset > len(tc.in) || len(pe.Near) > 4*nearLimit+2 {
				t.Fatalf("bad error %#v, n=%d", pe, n)
			}
			if !strings.HasPrefix(err.Error(), "parser: ") {
				t.Fatalf("error text %q lacks prefix", err)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	cases := []struct {
		name string
		lim  Limits
		in   string
	}{
		{"bulk", Limits{MaxBulkLen: 4}, "$5\r\nhello\r\n"},
		{"verbatim", Limits{MaxBulkLen: 4}, "=9\r\ntxt:hello\r\n"},
		{"streamed string", Limits{MaxBulkLen: 4}, "$?\r\n;3\r\nabc\r\n;2\r\nde\r\n;0\r\n"},
		{"elems", Limits{MaxElems: 2}, "*3\r\n"},
		{"map pairs", Limits{MaxElems: 2}, "%3\r\n"},
		{"streamed elems", Limits{MaxElems: 2}, "*?\r\n:1\r\n:2\r\n:3\r\n.\r\n"},
		{"depth", Limits{MaxDepth: 3}, "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"},
		{"depth attr", Limits{MaxDepth: 2}, "*1\r\n|1\r\n%1\r\n"},
		{"line", Limits{MaxLineLen: 8}, "+123456789\r\n"},
		{"line incomplete", Limits{MaxLineLen: 8}, "+123456789"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Parser{Limits: tc.lim}
			_, _, err := p.Parse([]byte(tc.in))
			if !errors.As(err, new(*ProtocolError)) {
				t.Fatalf("got %v, want *ProtocolError", err)
			}
		})
	}
	// At the limit is fine.
	p := Parser{Limits: Limits{MaxBulkLen: 5, MaxElems: 3, MaxDepth: 2, MaxLineLen: 9}}
	for _, in := range []string{"$5\r\nhello\r\n", "*3\r\n:1\r\n:2\r\n:3\r\n", "*1\r\n*1\r\n:1\r\n", "+123456789\r\n"} {
		if _, _, err := p.Parse([]byte(in)); err != nil {
			t.Fatalf("%q at the limit: %v", in, err)
		}
	}
}

func TestParseDeepNestingIsAnError(t *testing.T) {
	in := []byte(strings.Repeat("*1\r\n", 10_000_000))
	_, _, err := Parse(in)
	if !errors.As(err, new(*ProtocolError)) {
		t.Fatalf("10M nested: %v", err)
	}
	in = []byte(strings.Repeat("*1\r\n|1\r\n", 600) + ":1\r\n")
	if _, _, err := Parse(in); !errors.As(err, new(*ProtocolError)) {
		t.Fatalf("mixed nesting: %v", err)
	}
}

func TestParseHostileLengthsAllocateLittle(t *testing.T) {
	for _, in := range []string{"*100000000\r\n:1\r\n", "$500000000\r\nabc", "%100000000\r\n+a\r\n", "~4294967295\r\n"} {
		var p Parser
		allocs := testing.AllocsPerRun(10, func() {
			p.Reset()
			if _, _, err := p.Parse([]byte(in)); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("%q: %v", in, err)
			}
		})
		if allocs > 4 {
			t.Fatalf("%q: %v allocations", in, allocs)
		}
	}
}

func TestParseSplitCRLF(t *testing.T) {
	var p Parser
	if _, _, err := p.Parse([]byte("+OK\r")); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("+OK\\r: %v", err)
	}
	v, n, err := p.Parse([]byte("+OK\r\n"))
	if err != nil || n != 5 || v.Text() != "OK" {
		t.Fatalf("got %v %d %v", v, n, err)
	}
}

func TestParseStream(t *testing.T) {
	stream := []byte(crlf(">3/+message/+ch/+hi/:1/$3/foo/_/*2/:1/:2"))
	var p Parser
	var got []string
	for len(stream) > 0 {
		v, n, err := p.Parse(stream)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v.String())
		stream = stream[n:]
	}
	want := `>["message" "ch" "hi"]|(integer) 1|"foo"|(nil)|[(integer) 1 (integer) 2]`
	if strings.Join(got, "|") != want {
		t.Fatalf("got %s", strings.Join(got, "|"))
	}
}

func TestValueAccessors(t *testing.T) {
	v, _, _ := Parse([]byte("=15\r\ntxt:Some string\r\n"))
	if v.Format() != "txt" || string(v.Bytes()) != "Some string" || v.Kind() != VerbatimString {
		t.Fatalf("verbatim: %q %q", v.Format(), v.Bytes())
	}
	if NewBool(true).Int() != 1 || !NewBool(true).Bool() || NewInteger(3).Float() != 3 {
		t.Fatal("bool/int conversions")
	}
	if NewInteger(1).Bytes() != nil || NewArray().Bytes() != nil {
		t.Fatal("Bytes of non-strings must be nil")
	}
	if b := NewBulkString("").Bytes(); b == nil || len(b) != 0 {
		t.Fatal("empty bulk Bytes must be empty, not nil")
	}
	if !NewNullBulk().IsNull() || NewBulkString("").IsNull() || NewArray().IsNull() {
		t.Fatal("IsNull")
	}
}

func TestClone(t *testing.T) {
	buf := []byte(crlf("|1/+k/+v/*2/$3/abc/%1/+x/(123"))
	var p Parser
	v, _, err := p.Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	c := v.Clone()
	for i := range buf {
		buf[i] = 'Z'
	}
	p.Parse([]byte(crlf("*2/+q/+q")))
	want := arr(bs("abc"), NewMap(ss("x"), NewBigNumber("123"))).WithAttrs(ss("k"), ss("v"))
	if !Equal(c, want) {
		t.Fatalf("clone = %v", c)
	}
	var s Store
	for i := 0; i < 3; i++ {
		if got := s.Copy(want); !Equal(got, want) {
			t.Fatalf("store copy = %v", got)
		}
	}
}

func TestParseEach(t *testing.T) {
	stream := []byte(crlf("+a/:1/$3/foo/*2/+x/+y") + "$7\r\npar")
	var p Parser
	var got []string
	n, err := p.ParseEach(stream, func(v Value) error { got = append(got, v.String()); return nil })
	if !errors.Is(err, ErrIncomplete) || strings.Join(got, " ") != `"a" (integer) 1 "foo" ["x" "y"]` {
		t.Fatalf("got %v, %d, %v", got, n, err)
	}
	// Resume with the rest of the partial value.
	rest := append(append([]byte(nil), stream[n:]...), "tial\r\n-ERR x\r\n"...)
	got = got[:0]
	m, err := p.ParseEach(rest, func(v Value) error { got = append(got, v.String()); return nil })
	if err != nil || m != len(rest) || strings.Join(got, " ") != `"partial" (error) ERR x` {
		t.Fatalf("resumed: %v, %d, %v", got, m, err)
	}
	// fn's error stops the walk, the value counted.
	stop := errors.New("stop")
	calls := 0
	m, err = p.ParseEach([]byte("+a\r\n+b\r\n"), func(Value) error { calls++; return stop })
	if err != stop || m != 4 || calls != 1 {
		t.Fatalf("stop: %d, %v, %d calls", m, err, calls)
	}
	// A protocol error after good values.
	m, err = p.ParseEach([]byte("+a\r\n:x\r\n"), func(Value) error { return nil })
	if m != 4 || !errors.As(err, new(*ProtocolError)) {
		t.Fatalf("bad: %d, %v", m, err)
	}
}
