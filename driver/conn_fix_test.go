package driver

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/parser"
)

// Send with no arguments, and SendValue of an empty or null array, are refused with
// errEmptyCommand and queue nothing: the server never answers such a command (*0 or
// *-1), so every later reply would be taken for the one before it. The commands after
// them are answered in order.
func TestConnSendEmpty(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if fakeredis.Hello(c, cmd) {
			return true
		}
		mu.Lock()
		seen = append(seen, strings.Join(cmd, " "))
		mu.Unlock()
		switch {
		case len(cmd) == 0:
			// As Redis: no reply at all.
		case cmd[0] == "ECHO" && len(cmd) == 2:
			c.Reply(parser.NewBulkString(cmd[1]))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	ctx := testCtx(t, 10*time.Second)
	c, err := Connect(ctx, fakeCfg(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mu.Lock()
	seen = nil // the handshake's commands, if any
	mu.Unlock()

	if err := c.Send("ECHO", "first"); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(); !errors.Is(err, errEmptyCommand) {
		t.Fatalf("Send() = %v, want errEmptyCommand", err)
	}
	if err := c.SendValue(parser.NewArray()); !errors.Is(err, errEmptyCommand) {
		t.Fatalf("SendValue(empty array) = %v, want errEmptyCommand", err)
	}
	if err := c.SendValue(parser.NewNullArray()); !errors.Is(err, errEmptyCommand) {
		t.Fatalf("SendValue(null array) = %v, want errEmptyCommand", err)
	}
	if err := c.SendValue(parser.NewArray(parser.NewBulkString("ECHO"), parser.NewBulkString("second"))); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("ECHO", "third"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first", "second", "third"} {
		v, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv (want %q): %v", want, err)
		}
		if got := v.Text(); got != want {
			t.Fatalf("Recv = %q, want %q", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(seen, "|"), "ECHO first|ECHO second|ECHO third"; got != want {
		t.Fatalf("server received %q, want %q", got, want)
	}
}

// A reader that stays behind without ever draining the receive queue (here always
// one or two values) must not make it grow with the number of values received: the
// read prefix is dropped. The values come out in order throughout.
func TestConnRecvQueueBounded(t *testing.T) {
	srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if !fakeredis.Hello(c, cmd) {
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	ctx := testCtx(t, 20*time.Second)
	c, err := Connect(ctx, fakeCfg(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server sends nothing after the handshake: the test plays the loop's side,
	// pushing as deliver does, one value ahead of the reader.
	const n = 100_000
	vals := make([]parser.Value, n+1)
	for i := range vals {
		vals[i] = parser.NewInteger(int64(i))
	}
	capOf := func() (int, int) {
		c.qmu.Lock()
		defer c.qmu.Unlock()
		return cap(c.q), len(c.q) - c.qhead
	}
	if !c.push(recvItem{v: vals[0]}) {
		t.Fatal("push refused")
	}
	maxCap := 0
	for i := 0; i < n; i++ {
		if !c.push(recvItem{v: vals[i+1]}) {
			t.Fatalf("push %d refused", i+1)
		}
		v, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if v.Int() != int64(i) {
			t.Fatalf("Recv = %d, want %d", v.Int(), i)
		}
		cp, unread := capOf()
		if unread != 1 {
			t.Fatalf("after Recv %d: %d unread, want 1", i, unread)
		}
		maxCap = max(maxCap, cp)
	}
	// Two unread at most: a small multiple of that, not of n.
	if maxCap > 16 {
		t.Fatalf("receive queue capacity reached %d for at most 2 unread values (%d received)", maxCap, n)
	}
	if v, err := c.Recv(ctx); err != nil || v.Int() != n {
		t.Fatalf("last Recv = %v, %v, want %d", v, err, n)
	}
	if cp, unread := capOf(); unread != 0 || cp > 16 {
		t.Fatalf("drained: %d unread, cap %d", unread, cp)
	}
}
