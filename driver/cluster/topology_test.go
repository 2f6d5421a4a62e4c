package cluster

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/parser"
)

// slotsNode is a scripted cluster node that answers CLUSTER SLOTS with what slots
// makes of its own host and port, and every other command with +OK.
func slotsNode(t *testing.T, slots func(host string, port int64) parser.Value) *fakeredis.Server {
	t.Helper()
	var host string
	var port int64
	known := make(chan struct{}) // closed once host and port are set
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "CLUSTER"):
			<-known
			c.Reply(slots(host, port))
		case strings.EqualFold(cmd[0], "COMMAND"):
			c.Reply(parser.NewArray())
		default:
			c.Reply(parser.NewSimpleString("OK"))
		}
		return true
	})
	h, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	host, port = h, int64(n)
	close(known)
	return s
}

// A seed whose CLUSTER SLOTS is malformed (slot numbers out of range, reversed or
// not integers, a master with no usable address, entries too short or of the wrong
// type) is refused with ErrNoSeed saying what was wrong, nothing panics; a node
// that gives no host ("" or "?", as a node that does not know its own address
// does) is the node asked.
func TestHostileClusterSlots(t *testing.T) {
	i := parser.NewInteger
	b := parser.NewBulkString
	arr := parser.NewArray
	entry := func(from, to parser.Value, node ...parser.Value) parser.Value {
		return arr(from, to, arr(node...))
	}
	for _, c := range []struct {
		name  string
		slots func(host string, port int64) parser.Value
		want  string // "" if the client works
	}{
		{"reversed", func(h string, p int64) parser.Value { return arr(entry(i(100), i(5), b(h), i(p))) }, "bad slot range"},
		{"negative", func(h string, p int64) parser.Value { return arr(entry(i(-5), i(16383), b(h), i(p))) }, "bad slot range"},
		{"past the last slot", func(h string, p int64) parser.Value { return arr(entry(i(0), i(99999), b(h), i(p))) }, "bad slot range"},
		{"slots as strings", func(h string, p int64) parser.Value { return arr(entry(b("a"), b("b"), b(h), i(p))) }, "bad slot range"},
		{"port 0", func(h string, p int64) parser.Value { return arr(entry(i(0), i(16383), b(h), i(0))) }, "bad node entry"},
		{"port 70000", func(h string, p int64) parser.Value { return arr(entry(i(0), i(16383), b(h), i(70000))) }, "bad node entry"},
		{"port -1", func(h string, p int64) parser.Value { return arr(entry(i(0), i(16383), b(h), i(-1))) }, "bad node entry"},
		{"master entry empty", func(string, int64) parser.Value { return arr(arr(i(0), i(16383), arr())) }, "bad node entry"},
		{"entry empty", func(string, int64) parser.Value { return arr(arr()) }, "short entry"},
		{"a map", func(string, int64) parser.Value { return parser.NewMap(i(1), i(2)) }, "not an array"},
		{"an integer", func(string, int64) parser.Value { return i(5) }, "not an array"},
		{"an error", func(string, int64) parser.Value {
			return parser.NewSimpleError("ERR This instance has cluster support disabled")
		}, "cluster support disabled"},
		{"host empty", func(_ string, p int64) parser.Value { return arr(entry(i(0), i(16383), b(""), i(p))) }, ""},
		{"host ?", func(_ string, p int64) parser.Value { return arr(entry(i(0), i(16383), b("?"), i(p))) }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := slotsNode(t, c.slots)
			ctx := testCtx(t, 10*time.Second)
			cl, err := Connect(ctx, Config{Addrs: []string{s.Addr}})
			if c.want != "" {
				if !errors.Is(err, ErrNoSeed) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Connect: %v, want ErrNoSeed saying %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if v, err := cl.Do(ctx, "SET", "k", "v"); err != nil || v.Text() != "OK" {
				t.Fatalf("SET = %v, %v", v, err)
			}
		})
	}
}
