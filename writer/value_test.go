package writer_test

import (
	"math"
	"strings"
	"testing"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

func bulk(s string) parser.Value { return parser.NewBulkString(s) }

type valueCase struct {
	name string
	v    parser.Value
	want string
}

var long = strings.Repeat("z", 100)

// valueCases is every kind with its exact wire form; the round-trip test reuses it.
var valueCases = []valueCase{
	{"simple", parser.NewSimpleString("OK"), "+OK\r\n"},
	{"empty simple", parser.NewSimpleString(""), "+\r\n"},
	{"simple error", parser.NewSimpleError("ERR unknown command"), "-ERR unknown command\r\n"},
	{"integer", parser.NewInteger(42), ":42\r\n"},
	{"integer 0", parser.NewInteger(0), ":0\r\n"},
	{"integer -1", parser.NewInteger(-1), ":-1\r\n"},
	{"integer min", parser.NewInteger(math.MinInt64), ":-9223372036854775808\r\n"},
	{"integer max", parser.NewInteger(math.MaxInt64), ":9223372036854775807\r\n"},
	{"bulk", bulk("hello"), "$5\r\nhello\r\n"},
	{"empty bulk", bulk(""), "$0\r\n\r\n"},
	{"nil-slice bulk", parser.NewBulk(nil), "$0\r\n\r\n"},
	{"binary bulk", parser.NewBulk([]byte("a\r\n\x00b")), "$5\r\na\r\n\x00b\r\n"},
	{"long bulk", bulk(long), "$100\r\n" + long + "\r\n"},
	{"bulk error", parser.NewBulkError("SYNTAX invalid"), "!14\r\nSYNTAX invalid\r\n"},
	{"empty bulk error", parser.NewBulkError(""), "!0\r\n\r\n"},
	{"verbatim", parser.NewVerbatim("txt", "Some string"), "=15\r\ntxt:Some string\r\n"},
	{"verbatim mkd", parser.NewVerbatim("mkd", "# x"), "=7\r\nmkd:# x\r\n"},
	{"verbatim empty", parser.NewVerbatim("txt", ""), "=4\r\ntxt:\r\n"},
	{"verbatim short format", parser.NewVerbatim("t", "a"), "=5\r\nt  :a\r\n"},
	{"verbatim crlf", parser.NewVerbatim("txt", "a\r\nb"), "=8\r\ntxt:a\r\nb\r\n"},
	{"double", parser.NewDouble(1.23), ",1.23\r\n"},
	{"double 0", parser.NewDouble(0), ",0\r\n"},
	{"double -0", parser.NewDouble(math.Copysign(0, -1)), ",-0\r\n"},
	{"double 1e10", parser.NewDouble(1e10), ",1e+10\r\n"},
	{"double -1.5e-300", parser.NewDouble(-1.5e-300), ",-1.5e-300\r\n"},
	{"double inf", parser.NewDouble(math.Inf(1)), ",inf\r\n"},
	{"double -inf", parser.NewDouble(math.Inf(-1)), ",-inf\r\n"},
	{"double nan", parser.NewDouble(math.NaN()), ",nan\r\n"},
	{"big number", parser.NewBigNumber("3492890328409238509324850943850943825024385"),
		"(3492890328409238509324850943850943825024385\r\n"},
	{"big number negative", parser.NewBigNumber("-12345678901234567890"), "(-12345678901234567890\r\n"},
	{"true", parser.NewBool(true), "#t\r\n"},
	{"false", parser.NewBool(false), "#f\r\n"},
	{"null", parser.NewNull(), "_\r\n"},
	{"null bulk", parser.NewNullBulk(), "$-1\r\n"},
	{"null array", parser.NewNullArray(), "*-1\r\n"},
	{"zero value", parser.Value{}, "_\r\n"},
	{"empty array", parser.NewArray(), "*0\r\n"},
	{"array", parser.NewArray(bulk("a"), parser.NewInteger(1), parser.NewNullBulk()),
		"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n"},
	{"array of 10", parser.NewArray(bulk("0"), bulk("1"), bulk("2"), bulk("3"), bulk("4"),
		bulk("5"), bulk("6"), bulk("7"), bulk("8"), bulk("9")),
		"*10\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n" +
			"$1\r\n5\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n$1\r\n9\r\n"},
	{"set", parser.NewSet(bulk("x"), bulk("y")), "~2\r\n$1\r\nx\r\n$1\r\ny\r\n"},
	{"empty set", parser.NewSet(), "~0\r\n"},
	{"push", parser.NewPush(bulk("message"), bulk("ch"), bulk("hi")),
		">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"},
	{"map", parser.NewMap(parser.NewSimpleString("first"), parser.NewInteger(1),
		parser.NewSimpleString("second"), parser.NewInteger(2)),
		"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"},
	{"empty map", parser.NewMap(), "%0\r\n"},
	{"map odd key dropped", parser.NewMap(bulk("k"), bulk("v"), bulk("odd")), "%1\r\n$1\r\nk\r\n$1\r\nv\r\n"},
	{"nested", parser.NewArray(
		parser.NewArray(parser.NewInteger(1), parser.NewInteger(2)),
		parser.NewMap(bulk("k"), parser.NewSet(parser.NewBool(true))),
		parser.NewNull()),
		"*3\r\n*2\r\n:1\r\n:2\r\n%1\r\n$1\r\nk\r\n~1\r\n#t\r\n_\r\n"},
	{"attributes", parser.NewArray(parser.NewInteger(2039123), parser.NewInteger(9543892)).WithAttrs(
		parser.NewSimpleString("key-popularity"),
		parser.NewMap(parser.NewBulkString("a"), parser.NewDouble(0.1923),
			parser.NewBulkString("b"), parser.NewDouble(0.0012))),
		"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n" +
			"*2\r\n:2039123\r\n:9543892\r\n"},
	{"attributes on a scalar", parser.NewBulkString("v").WithAttrs(bulk("ttl"), parser.NewInteger(3)),
		"|1\r\n$3\r\nttl\r\n:3\r\n$1\r\nv\r\n"},
	{"attributes on a null bulk", parser.NewNullBulk().WithAttrs(bulk("a"), bulk("b")),
		"|1\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n"},
	{"nested attributes", parser.NewMap(
		bulk("k").WithAttrs(bulk("ka"), parser.NewBool(false)),
		parser.NewArray(parser.NewInteger(1).WithAttrs(bulk("ia"), parser.NewNull())).
			WithAttrs(bulk("aa"), parser.NewVerbatim("txt", "x"))).
		WithAttrs(bulk("top"), parser.NewBigNumber("1").WithAttrs(bulk("deep"), parser.NewInteger(0))),
		"|1\r\n$3\r\ntop\r\n|1\r\n$4\r\ndeep\r\n:0\r\n(1\r\n" +
			"%1\r\n" +
			"|1\r\n$2\r\nka\r\n#f\r\n$1\r\nk\r\n" +
			"|1\r\n$2\r\naa\r\n=5\r\ntxt:x\r\n*1\r\n|1\r\n$2\r\nia\r\n_\r\n:1\r\n"},
	{"push with attributes", parser.NewPush(bulk("x")).WithAttrs(bulk("a"), bulk("b")),
		"|1\r\n$1\r\na\r\n$1\r\nb\r\n>1\r\n$1\r\nx\r\n"},
	{"attributes removed", bulk("v").WithAttrs(bulk("a"), bulk("b")).WithAttrs(), "$1\r\nv\r\n"},
}

func TestAppendValue(t *testing.T) {
	for _, tt := range valueCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := writer.AppendValue(nil, tt.v); string(got) != tt.want {
				t.Errorf("AppendValue(%v)\n got %q\nwant %q", tt.v, got, tt.want)
			}
			if got := writer.AppendValue([]byte("prev"), tt.v); string(got) != "prev"+tt.want {
				t.Errorf("AppendValue(prefix, %v) = %q", tt.v, got)
			}
		})
	}
}

// A value whose payload is 10 bytes or longer uses a multi-digit length everywhere.
func TestAppendValueLengths(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 11, 99, 100, 101, 65535, 1 << 20} {
		s := strings.Repeat("b", n)
		got := string(writer.AppendValue(nil, parser.NewBulkString(s)))
		if want := "$" + itoa(n) + "\r\n" + s + "\r\n"; got != want {
			t.Errorf("bulk of %d: wrong header %q", n, got[:min(len(got), 16)])
		}
		got = string(writer.AppendValue(nil, parser.NewVerbatim("txt", s)))
		if want := "=" + itoa(n+4) + "\r\ntxt:" + s + "\r\n"; got != want {
			t.Errorf("verbatim of %d: wrong header %q", n, got[:min(len(got), 16)])
		}
		elems := make([]parser.Value, n%1000)
		for i := range elems {
			elems[i] = parser.NewInteger(int64(i))
		}
		got = string(writer.AppendValue(nil, parser.NewArray(elems...)))
		if want := "*" + itoa(len(elems)) + "\r\n"; !strings.HasPrefix(got, want) {
			t.Errorf("array of %d: wrong header %q", len(elems), got[:min(len(got), 16)])
		}
	}
}
