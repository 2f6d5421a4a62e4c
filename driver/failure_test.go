package driver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/writer"
)

// While the server is down, a command whose context ends before it was written is
// cancelled: it is never sent, not even after the reconnect. One that waits is sent on
// the new connection.
func TestUnwrittenCommandsWaitOrCancel(t *testing.T) {
	s := startServer(t)
	if !s.Managed() {
		t.Skip("needs a server of its own")
	}
	checkGoroutines(t)
	c := pairedTo(t, s, Config{ReconnectMin: 5 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	s.Stop()
	waitFor(t, func() bool { return c.b.cur.Load() == nil })

	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := c.Send("SET", "cancelled", "1").Err(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SET while down: %v", err)
	}
	cancel()
	waiting := c.Send("SET", "waited", "1")
	s.Restart()
	if err := waiting.Err(ctx); err != nil {
		t.Fatalf("SET that waited for the reconnect: %v", err)
	}
	if v, err := c.Do(ctx, "EXISTS", "cancelled", "waited"); err != nil || v.Int() != 1 {
		t.Fatalf("EXISTS = %v, %v: the cancelled SET ran, or the waiting one did not", v, err)
	}
}

// A full ring makes Send wait; Do's context bounds that wait.
func TestFullRingBoundedByContext(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{RingSize: 2})
	defer c.Close()
	ctx := testCtx(t, 10*time.Second)
	slow1, slow2 := c.Send("DEBUG", "SLEEP", "0.3"), c.Send("PING")
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Do(short, "PING"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do on a full ring: %v", err)
	}
	if err := slow1.Err(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := slow2.String(ctx); err != nil || v != "PONG" {
		t.Fatalf("PING = %q, %v", v, err)
	}
	if v, err := c.Do(ctx, "ECHO", "after"); err != nil || v.Text() != "after" {
		t.Fatalf("ECHO = %v, %v", v, err)
	}
}

// Fire-and-forget errors are counted, never lost silently; a bad argument is a typed
// error and sends nothing.
func TestForgottenErrorsAndBadArguments(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 10*time.Second)
	c.SendAndForget("SET", "str", "x")
	c.SendAndForget("LPUSH", "str", "y")            // WRONGTYPE
	c.SendAndForget("SET", "k", struct{}{})         // cannot be encoded
	c.SendAndForget("INCR", "str")                  // not an integer
	if err := c.Send("PING").Err(ctx); err != nil { // everything before it is answered
		t.Fatal(err)
	}
	if n := c.ForgottenErrors(); n != 3 {
		t.Fatalf("ForgottenErrors = %d, want 3", n)
	}
	err := c.Send("SET", "k", map[string]int{}).Err(ctx)
	var ae *writer.ArgError
	if !errors.As(err, &ae) || ae.Index != 2 {
		t.Fatalf("bad argument: %v", err)
	}
	if v, err := c.Do(ctx, "EXISTS", "k"); err != nil || v.Int() != 0 {
		t.Fatalf("a command with a bad argument was sent: %v %v", v, err)
	}
}

func TestUnixSocket(t *testing.T) {
	s := startServer(t)
	if s.Sock == "" {
		t.Skip("no unix socket")
	}
	checkGoroutines(t)
	c := pairedTo(t, s, Config{Addr: s.Sock, DB: 1})
	defer c.Close()
	ctx := testCtx(t, 10*time.Second)
	if v, err := c.Do(ctx, "CLIENT", "INFO"); err != nil || !containsAll(v.Text(), " db=1 ", "addr=/") {
		t.Fatalf("CLIENT INFO over the socket: %v, %v", v, err)
	}
	cfg, err := ParseURL("unix://" + s.Sock + "?db=2")
	if err != nil {
		t.Fatal(err)
	}
	c2 := pairedTo(t, s, cfg)
	defer c2.Close()
	if v, err := c2.Do(ctx, "CLIENT", "INFO"); err != nil || !containsAll(v.Text(), " db=2 ") {
		t.Fatalf("CLIENT INFO via unix URL: %v, %v", v, err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
