package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
)

// A node dropped from the client's nodes while its connection is being dialled (a
// refresh's closeUnused: an ASK target not in the map yet, whose handshake is slow)
// gets its connection all the same, and Close closes it: it does not outlive the
// client.
func TestDialDuringCloseUnused(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	extra := redistest.Start(t)
	g := faultproxy.StartGate(t, extra.Addr) // the dial waits in its handshake until released
	n, err := c.nodeFor(g.Addr, false)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		conn *driver.PairedConn
		err  error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := c.connect(ctx, n)
		got <- result{conn, err}
	}()
	c.closeUnused() // the node is in no map and not connected: dropped
	g.Release()
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := r.conn.Send("PING").Err(ctx); err != nil {
		t.Fatalf("PING on the new connection: %v", err)
	}
	c.Close()
	if err := r.conn.Send("PING").Err(ctx); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("PING after Client.Close on the connection dialled meanwhile: %v, want ErrClosed", err)
	}
}
