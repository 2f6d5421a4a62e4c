package driver

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// While a socket stays full, the output poller waits parked in Go's network poller
// ("IO wait"), not blocked in epoll_wait ("syscall"), which kept a P in a system call
// and made the runtime's sysmon wake every 20 µs to hand it over. Once the server
// reads again, the poller wakes the link and the held write completes.
func TestOutPollerParks(t *testing.T) {
	c, px, ctx := proxied(t, quickReconnect)
	px.Stall()
	buf := bytes.Repeat([]byte("p"), 32<<20) // more than the sockets' buffers take
	done := make(chan error, 1)
	go func() { done <- c.Send("SET", "parked", buf).Err(ctx) }()
	state := ""
	for i := 0; i < 1000; i++ { // until a link armed the poller
		if p := outPoll.Load(); p != nil && outPollerArmed(p) {
			if state = outPollerState(t); state == "IO wait" {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if state != "IO wait" {
		t.Fatalf("the output poller, with a socket armed, is in state %q, want IO wait", state)
	}
	px.Resume()
	if err := <-done; err != nil {
		t.Fatalf("SET held while the server stalled: %v", err)
	}
	if n, err := c.Send("STRLEN", "parked").Int(ctx); err != nil || n != int64(len(buf)) {
		t.Fatalf("STRLEN: %d, %v; want %d", n, err, len(buf))
	}
}

// outPollerArmed reports whether some socket waits in p.
func outPollerArmed(p *outPoller) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links) > 0
}

// outPollerState returns the wait state of the poller's goroutine as a goroutine dump
// shows it ("IO wait", "syscall", ...), or "" if there is none.
func outPollerState(t *testing.T) string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "(*outPoller).run") {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		_, state, ok := strings.Cut(head, "[")
		if !ok {
			t.Fatalf("goroutine header %q", head)
		}
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",") // "syscall, 2 minutes"
		return state
	}
	return ""
}
