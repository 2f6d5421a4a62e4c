package driver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
)

// Reconnect asked for while a reconnect's dial is under way (a failover followed
// just after the connection was lost: that dial may have resolved the old server)
// drops that dial's connection once it is made and dials again, through Resolve, so
// that the connection ends up where Resolve says now.
func TestReconnectDuringReconnect(t *testing.T) {
	a, b := startServer(t), startServer(t)
	g := faultproxy.StartGate(t, a.Addr)
	gate := g.Addr
	var addr atomic.Pointer[string]
	addr.Store(&a.Addr)
	c := pairedTo(t, a, Config{Resolve: func(context.Context) (string, error) { return *addr.Load(), nil },
		ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond, HealthCheck: -1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	if err := c.Send("SET", "rr:k", "a").Err(ctx); err != nil {
		t.Fatal(err)
	}
	addr.Store(&gate)
	c.Reconnect() // the reconnect's dial waits at the gate, on its way to a
	<-g.Accepted
	addr.Store(&b.Addr)
	c.Reconnect() // the server moved to b meanwhile
	g.Release()
	if err := c.Send("SET", "rr:k", "b").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.MustDo("GET", "rr:k").Text(); got != "b" {
		t.Fatalf("b holds %q, want the SET sent after the second Reconnect", got)
	}
	if got := a.MustDo("GET", "rr:k").Text(); got != "a" {
		t.Fatalf("a holds %q: the SET went to the server of the dial under way", got)
	}
}

// The same for a dedicated connection being dialled when Reconnect retires the pool:
// it is dialled again, and the Dedicated call runs where Resolve says now.
func TestReconnectDuringPoolDial(t *testing.T) {
	a, b := startServer(t), startServer(t)
	g := faultproxy.StartGate(t, a.Addr)
	gate := g.Addr
	var addr atomic.Pointer[string]
	addr.Store(&a.Addr)
	c := pairedTo(t, a, Config{Resolve: func(context.Context) (string, error) { return *addr.Load(), nil },
		ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond, HealthCheck: -1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	addr.Store(&gate)
	done := make(chan error, 1)
	go func() {
		done <- c.Dedicated(ctx, func(d *DedicatedConn) error {
			_, err := d.Do(ctx, "SET", "rp:k", "pool")
			return err
		})
	}()
	<-g.Accepted // the pool's dial waits at the gate, on its way to a
	addr.Store(&b.Addr)
	c.Reconnect()
	g.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.MustDo("GET", "rp:k").Text(); got != "pool" {
		t.Fatalf("b holds %q, want the Dedicated call's SET", got)
	}
	if n := a.MustDo("EXISTS", "rp:k").Int(); n != 0 {
		t.Fatal("the Dedicated call ran on the server of the dial under way")
	}
}
