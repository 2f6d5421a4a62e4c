package driver

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// refuseEnrolls makes the next n enrollments whose context match accepts end as
// gnet's do when the loop's epoll_ctl refuses the socket: the socket closed, no
// error, and OnOpen never run. It counts refused and passed enrollments of matching
// contexts.
func refuseEnrolls(t *testing.T, n int32, match func(ctx any) bool) (refused, passed *atomic.Int32) {
	t.Helper()
	refused, passed = new(atomic.Int32), new(atomic.Int32)
	left := new(atomic.Int32)
	left.Store(n)
	hook := func(cli *gnet.Client, nc net.Conn, ctx any) (gnet.Conn, error) {
		if match(ctx) {
			if left.Add(-1) >= 0 {
				refused.Add(1)
				nc.Close()
				return nil, nil
			}
			passed.Add(1)
		}
		return cli.EnrollContext(nc, ctx)
	}
	enrollHook.Store(&hook)
	t.Cleanup(func() { enrollHook.Store(nil) })
	return refused, passed
}

func isLink(ctx any) bool  { _, ok := ctx.(*link); return ok }
func isWaker(ctx any) bool { _, ok := ctx.(*waker); return ok }

// A first connection the loop did not take fails PairedConnect with errNotEnrolled
// (it returned a connection whose commands waited forever) and leaves the engine as
// it was: the next PairedConnect works.
func TestEnrollRefusedAtConnect(t *testing.T) {
	s := startServer(t)
	refused, _ := refuseEnrolls(t, 1, isLink)
	ctx := testCtx(t, 20*time.Second)
	c, err := PairedConnect(ctx, Config{Addr: s.Addr})
	if err == nil {
		c.Close()
		t.Fatal("PairedConnect succeeded with its connection not taken by the loop")
	}
	if !errors.Is(err, errNotEnrolled) || refused.Load() != 1 {
		t.Fatalf("PairedConnect: %v (refused %d), want errNotEnrolled", err, refused.Load())
	}
	c = pairedTo(t, s, Config{})
	defer c.Close()
	if err := c.Send("SET", "enroll:k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
}

// A reconnect whose connections the loop does not take dials again (after the
// backoff) until one is taken, and the commands sent meanwhile run on it: the link
// that never opened did not stay current, keeping them waiting forever.
func TestEnrollRefusedAtReconnect(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	if err := c.Send("SET", "enroll:k", "a").Err(ctx); err != nil {
		t.Fatal(err)
	}
	refused, passed := refuseEnrolls(t, 2, isLink)
	c.Reconnect()
	f := c.Send("SET", "enroll:k", "b")
	g := c.Send("GET", "enroll:k")
	if err := f.Err(ctx); err != nil {
		t.Fatalf("SET sent during the reconnect: %v", err)
	}
	if v, err := g.String(ctx); err != nil || v != "b" {
		t.Fatalf("GET = %q, %v; want b", v, err)
	}
	if refused.Load() != 2 || passed.Load() != 1 || c.Reconnects() != 1 {
		t.Fatalf("refused %d, passed %d, reconnects %d; want 2, 1, 1",
			refused.Load(), passed.Load(), c.Reconnects())
	}
}

// A waker the loop did not take is reported (the engine then does without it); one
// it took knows its loop.
func TestWakerNotEnrolled(t *testing.T) {
	cli, err := gnet.NewClient(&loopHandler{}, gnet.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Stop()
	refused, _ := refuseEnrolls(t, 1, isWaker)
	if w, err := newWaker(cli); !errors.Is(err, errNotEnrolled) || refused.Load() != 1 {
		if w != nil {
			w.close()
		}
		t.Fatalf("newWaker: %v (refused %d), want errNotEnrolled", err, refused.Load())
	}
	w, err := newWaker(cli)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if w.loop == nil {
		t.Fatal("an enrolled waker has no loop")
	}
}
