package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
)

// A blackholed connection (silence, no close) is declared dead by the health check:
// the command in flight fails with ErrConnLost wrapping ErrHealthCheck, and the
// connection is re-established (the proxy forwards new connections).
func TestHealthCheckBlackhole(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	px := faultproxy.Start(t, s.Addr)
	c := pairedTo(t, s, Config{Addr: px.Addr, HealthCheck: 200 * time.Millisecond})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
	px.Blackhole()
	err := c.Send("GET", "k").Err(ctx)
	if !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrHealthCheck) {
		t.Fatalf("GET on a blackholed connection: %v", err)
	}
	if v, err := c.Send("GET", "k").String(ctx); err != nil || v != "v" {
		t.Fatalf("GET after the reconnect: %q, %v", v, err)
	}
	if c.Reconnects() == 0 {
		t.Fatal("no reconnect")
	}
}

// A blackholed connection whose ring is full (no room for the PING) is declared dead
// all the same: the commands in flight take the PING's place.
func TestHealthCheckBlackholeFullRing(t *testing.T) {
	c, px, ctx := proxied(t, Config{HealthCheck: 100 * time.Millisecond, RingSize: 4})
	px.Blackhole()
	fs := []Future{c.Send("PING"), c.Send("PING"), c.Send("PING"), c.Send("PING")}
	for i, f := range fs {
		if err := f.Err(ctx); !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrHealthCheck) {
			t.Fatalf("PING %d with the ring full on a blackholed connection: %v", i, err)
		}
	}
	if err := c.Send("PING").Err(ctx); err != nil {
		t.Fatalf("PING after the reconnect: %v", err)
	}
}

// A blocking command sent on a DedicatedConn itself (Do, SendBatch) that waits for
// longer than two intervals is not taken for a dead connection; after it, the
// connection is probed again (a blackhole is found).
func TestHealthCheckDedicatedBlocking(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(c *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		if v, err := d.Do(ctx, "BLPOP", "hc:none", "0.6"); err != nil || !v.IsNull() {
			return fmt.Errorf("BLPOP on the DedicatedConn: %v, %v", v, err)
		}
		var b Batch
		b.Queue("SET", "hc:x", "1")
		b.Queue("BLPOP", "hc:none", "0.6")
		fs := d.SendBatch(nil, &b)
		for i, f := range fs {
			if err := f.Err(ctx); err != nil && !errors.Is(err, ErrNil) {
				return fmt.Errorf("batch command %d: %v", i, err)
			}
		}
		if d.c.Reconnects() != 0 {
			return errors.New("the dedicated connection was declared dead")
		}
		px.Blackhole()
		if err := d.Send("PING").Err(ctx); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("PING on the blackholed dedicated connection: %v, want ErrHealthCheck", err)
		}
		return nil
	})
}

// A blocking command waiting for room in a full ring of a blackholed DedicatedConn does
// not hide the silence: the commands in flight are due an answer, and fail.
func TestHealthCheckDedicatedBlockingFullRing(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1, RingSize: 4}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		if err := d.Send("PING").Err(ctx); err != nil {
			return err
		}
		px.Blackhole()
		fs := []Future{d.Send("PING"), d.Send("PING"), d.Send("PING"), d.Send("PING")}
		blpop := make(chan error, 1)
		go func() { blpop <- d.Send("BLPOP", "hc:none", "0").Err(ctx) }()
		for i, f := range fs {
			if err := f.Err(ctx); !errors.Is(err, ErrHealthCheck) {
				return fmt.Errorf("PING %d: %v, want ErrHealthCheck", i, err)
			}
		}
		if err := <-blpop; err == nil {
			return errors.New("BLPOP on the dead connection succeeded")
		}
		return nil
	})
}

// A blocking command sent on a blackholed DedicatedConn right after the health check's
// PING went out does not excuse the PING's missing answer: the connection is declared
// dead, and the blocking command fails, instead of waiting for ever.
func TestHealthCheckPingBeforeBlocking(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		px.Blackhole()
		if err := waitProbe(ctx, d.c); err != nil {
			return err
		}
		if err := d.Send("BLPOP", "hc:none", "0").Err(ctx); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("BLPOP behind an unanswered PING: %v, want ErrHealthCheck", err)
		}
		return nil
	})
}

// The same for a blocking command sent through PairedConn.Send, which goes to a
// connection of the dedicated pool that has the health check's PING in flight.
func TestHealthCheckPingBeforePooledBlocking(t *testing.T) {
	c, px, ctx := proxied(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1})
	var pooled *PairedConn
	if err := c.Dedicated(ctx, func(d *DedicatedConn) error { pooled = d.c; return nil }); err != nil {
		t.Fatal(err)
	}
	px.Blackhole()
	if err := waitProbe(ctx, pooled); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("BLPOP", "hc:none", "0").Err(ctx); !errors.Is(err, ErrHealthCheck) {
		t.Fatalf("BLPOP behind an unanswered PING: %v, want ErrHealthCheck", err)
	}
}

// Blocking commands that fill a DedicatedConn's ring, with one more waiting for room,
// keep a live connection alive: the oldest command in flight blocks, so no answer is
// due while each waits longer than the check's two intervals.
func TestHealthCheckBlockingFillRing(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1, RingSize: 4}, func(c *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		var fs []Future
		for i := 0; i < 4; i++ {
			fs = append(fs, d.Send("BLPOP", "hc:none", "0.3"))
		}
		fifth := make(chan Future, 1)
		go func() { fifth <- d.Send("BLPOP", "hc:none", "0.3") }()
		for i, f := range append(fs, <-fifth) {
			if v, err := f.Wait(ctx); err != nil || !v.IsNull() {
				return fmt.Errorf("BLPOP %d: %v, %v, want a null reply (timed out)", i, v, err)
			}
		}
		if d.c.Reconnects() != 0 {
			return errors.New("the dedicated connection was declared dead")
		}
		return nil
	})
}

// A command pipelined ahead of a blocking one on a blackholed DedicatedConn is due its
// answer: the connection is declared dead, and both fail, instead of waiting for ever
// because a blocking command is in flight.
func TestHealthCheckCommandBeforeBlocking(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		if err := d.Send("PING").Err(ctx); err != nil {
			return err
		}
		px.Blackhole()
		get := d.Send("GET", "hc:k")
		blpop := d.Send("BLPOP", "hc:none", "0")
		if err := get.Err(ctx); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("GET ahead of BLPOP: %v, want ErrHealthCheck", err)
		}
		if err := blpop.Err(ctx); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("BLPOP: %v, want ErrHealthCheck", err)
		}
		return nil
	})
}

// A live DedicatedConn streaming commands with CLIENT REPLY OFF, for many intervals,
// is not declared dead: the commands in flight take no reply, so none is due. The
// stream is paced (100 commands a millisecond at most) so that the server keeps up:
// the ON at its end is due its reply, and unpaced, a client faster than the server
// could queue more than two intervals of work ahead of it, which no health check
// can tell from a dead server (nothing comes back meanwhile).
func TestHealthCheckReplyOffStream(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 50 * time.Millisecond, DedicatedPoolSize: 1}, func(c *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		if err := d.Send("SET", "hc:before", "1").Err(ctx); err != nil {
			return err
		}
		d.SendAndForget("CLIENT", "REPLY", "OFF")
		n := 0
		for start := time.Now(); time.Since(start) < time.Second; n++ {
			d.SendAndForget("SET", "hc:off", n)
			if n%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
		if v, err := d.Do(ctx, "CLIENT", "REPLY", "ON"); err != nil || v.Text() != "OK" {
			return fmt.Errorf("CLIENT REPLY ON: %v, %v", v, err)
		}
		if v, err := d.Do(ctx, "GET", "hc:off"); err != nil || v.Text() != strconv.Itoa(n-1) {
			return fmt.Errorf("GET after %d SETs with replies off: %v, %v", n, v, err)
		}
		if d.c.Reconnects() != 0 || c.ForgottenErrors() != 0 {
			return fmt.Errorf("declared dead: %d reconnects, %d forgotten errors", d.c.Reconnects(), c.ForgottenErrors())
		}
		return nil
	})
}

// A command sent before CLIENT REPLY OFF on a blackholed DedicatedConn is due its
// answer: the connection is declared dead.
func TestHealthCheckBeforeReplyOff(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		if err := d.Send("PING").Err(ctx); err != nil {
			return err
		}
		px.Blackhole()
		get := d.Send("GET", "hc:k")
		d.SendAndForget("CLIENT", "REPLY", "OFF")
		if err := get.Err(ctx); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("GET before CLIENT REPLY OFF: %v, want ErrHealthCheck", err)
		}
		return nil
	})
}

// waitProbe waits until the health check's PING is the one command in flight on c.
func waitProbe(ctx context.Context, c *PairedConn) error {
	for !c.onlyOwn() {
		if ctx.Err() != nil {
			return fmt.Errorf("no health check PING in flight: %w", ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// A dedicated connection given back while the health check's PING is in flight is
// reused, not closed: the PING's reply goes to its own slot.
func TestHealthCheckProbeKeepsDedicated(t *testing.T) {
	c, px, ctx := proxied(t, Config{HealthCheck: 200 * time.Millisecond, DedicatedPoolSize: 1})
	var first *PairedConn
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		first = d.c
		if err := d.Send("SET", "hc:k", "v").Err(ctx); err != nil {
			return err
		}
		px.Delay(100 * time.Millisecond) // below the interval: alive, but slow to answer
		for !d.c.onlyOwn() {             // the connection idles until a PING is in flight
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	px.Delay(0)
	err = c.Dedicated(ctx, func(d *DedicatedConn) error {
		if d.c != first {
			return errors.New("the connection was closed and a new one dialled")
		}
		if v, err := d.Send("GET", "hc:k").String(ctx); err != nil || v != "v" {
			return fmt.Errorf("GET after the reuse: %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An idle blackholed connection is found dead too, before anyone sends on it.
func TestHealthCheckIdle(t *testing.T) {
	s := startServer(t)
	px := faultproxy.Start(t, s.Addr)
	c := pairedTo(t, s, Config{Addr: px.Addr, HealthCheck: 100 * time.Millisecond})
	defer c.Close()
	px.Blackhole()
	waitFor(t, func() bool { return c.Reconnects() > 0 })
	if err := c.Send("PING").Err(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// Slow but live connections are not declared dead: replies delayed by less than the
// interval, and a large reply dripping in over several intervals.
func TestHealthCheckSlowButAlive(t *testing.T) {
	s := startServer(t)
	px := faultproxy.Start(t, s.Addr)
	c := pairedTo(t, s, Config{Addr: px.Addr, HealthCheck: 200 * time.Millisecond})
	defer c.Close()
	ctx := testCtx(t, 30*time.Second)
	val := bytes.Repeat([]byte("x"), 2000)
	if err := c.Send("SET", "big", val).Err(ctx); err != nil {
		t.Fatal(err)
	}
	px.Delay(50 * time.Millisecond)
	for i := 0; i < 10; i++ {
		if err := c.Send("PING").Err(ctx); err != nil {
			t.Fatalf("delayed PING %d: %v", i, err)
		}
	}
	px.Delay(0)
	px.Drip(500 * time.Microsecond) // 2 KB: about 1 s, five intervals
	got, err := c.Send("GET", "big").AppendBytes(ctx, nil)
	if err != nil || !bytes.Equal(got, val) {
		t.Fatalf("dripped GET: %d bytes, %v", len(got), err)
	}
	if n := c.Reconnects(); n != 0 {
		t.Fatalf("%d reconnects of a live connection", n)
	}
}

// A connection reset (RST) at many offsets of a reply stream: in the status line, in
// the middle of a bulk, between replies. The cut command fails with ErrConnLost and
// the next command gets its own reply.
func TestResetAtOffsets(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	px := faultproxy.Start(t, s.Addr)
	c := pairedTo(t, s, Config{Addr: px.Addr})
	defer c.Close()
	// "$1000\r\n" + 1000 + "\r\n" = 1007 bytes
	resetAtOffsets(t, c, px, []int64{0, 1, 3, 6, 7, 500, 1005, 1006})
}

// resetAtOffsets has the proxy reset c's connection at each of offs (bytes of what
// the server sends from then on), while c reads a 1000-byte value twice: the cut GET
// fails with ErrConnLost, the other is answered or fails, and after the reconnect the
// next commands get their own replies.
func resetAtOffsets(t *testing.T, c *PairedConn, px *faultproxy.Proxy, offs []int64) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	val := bytes.Repeat([]byte("0123456789"), 100)
	if err := c.Send("SET", "v", val).Err(ctx); err != nil {
		t.Fatal(err)
	}
	for _, off := range offs {
		waitFor(t, func() bool { return px.Conns() == 1 && c.Send("PING").Err(ctx) == nil })
		px.ResetAt(off)
		first := c.Send("GET", "v")
		second := c.Send("GET", "v")
		got, err := first.AppendBytes(ctx, nil)
		if !errors.Is(err, ErrConnLost) {
			t.Fatalf("offset %d: cut GET = %d bytes, %v", off, len(got), err)
		}
		second.Err(ctx) // written or not, it is answered or fails: never another's reply
		if v, err := c.Send("INCR", "n"+strconv.FormatInt(off, 10)).Int(ctx); err != nil || v != 1 {
			t.Fatalf("offset %d: next command = %d, %v", off, v, err)
		}
		if got, err := c.Send("GET", "v").AppendBytes(ctx, nil); err != nil || !bytes.Equal(got, val) {
			t.Fatalf("offset %d: GET after the reconnect = %d bytes, %v", off, len(got), err)
		}
	}
}

// onDedicated runs fn on a DedicatedConn of a PairedConn c made with cfg through a
// fault proxy px (see proxied); fn's error fails the test.
func onDedicated(t *testing.T, cfg Config, fn func(c *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error) {
	t.Helper()
	c, px, ctx := proxied(t, cfg)
	if err := c.Dedicated(ctx, func(d *DedicatedConn) error { return fn(c, d, px, ctx) }); err != nil {
		t.Fatal(err)
	}
}

// A blocking command the server does not answer (sent under CLIENT REPLY OFF, or the
// one a SKIP applies to) is seen by the health check as any other: while it may
// block, what waits behind it (the ON that ends OFF, the driver's own ON after a
// SKIP) is due no answer, and no PING is sent behind it; the connection is not
// declared dead. Before, such a command counted as over once written, and a probe
// or the ON behind it took its silence for death.
func TestHealthCheckQuietBlocking(t *testing.T) {
	for _, mode := range []string{"OFF", "SKIP"} {
		t.Run(mode, func(t *testing.T) {
			onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
				d.SendAndForget("CLIENT", "REPLY", mode)
				if v, err := d.Do(ctx, "BLPOP", "hq:none", "0.6"); err != nil || !v.IsNull() {
					return fmt.Errorf("the BLPOP the server does not answer: %v, %v; want no reply (null)", v, err)
				}
				if mode == "OFF" {
					if v, err := d.Send("CLIENT", "REPLY", "ON").String(ctx); err != nil || v != "OK" {
						return fmt.Errorf("CLIENT REPLY ON behind the BLPOP: %q, %v", v, err)
					}
				} else {
					time.Sleep(time.Second) // the BLPOP blocks for 0.6 s; the health check looks every 0.1 s
				}
				if v, err := d.Do(ctx, "PING"); err != nil || v.Text() != "PONG" {
					return fmt.Errorf("PING after the BLPOP: %v, %v", v, err)
				}
				if d.c.Reconnects() != 0 {
					return errors.New("the dedicated connection was declared dead")
				}
				return nil
			})
		})
	}
}

// A blocking command a SKIP applies to in a full ring, where no CLIENT REPLY ON of
// the driver's own can follow it, does not blind the health check for good: it counts
// as over once written, and a blackhole after it is found.
func TestHealthCheckSkipBlockingFullRing(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1, RingSize: 4}, func(c *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		if err := skipInFullRing(ctx, c, d, "BLPOP", "hf:none", "0.2"); err != nil {
			return err
		}
		px.Blackhole()
		if err := d.Send("GET", "hf:k").Err(ctx); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("GET on the blackholed connection: %v, want ErrHealthCheck", err)
		}
		return nil
	})
}

// A SendBatch on a DedicatedConn whose blocking command has commands ahead of it, on
// a connection that went silent: those commands are due their replies, so the health
// check finds the silence, and they fail with ErrHealthCheck. Before, the batch
// counted as blocking as a whole, and over a blackhole (which still acknowledges
// every byte, so TCP_USER_TIMEOUT never fires) its commands waited for good.
func TestHealthCheckBatchBlockingBlackhole(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		if err := d.Send("PING").Err(ctx); err != nil {
			return err
		}
		px.Blackhole()
		var b Batch
		b.Queue("SET", "hb:x", "1")
		b.Queue("BLPOP", "hb:none", "0")
		fs := d.SendBatch(nil, &b)
		wait, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := fs[0].Err(wait); !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("SET ahead of the BLPOP in a batch on a blackholed connection: %v, want ErrHealthCheck", err)
		}
		return nil
	})
}

// The health check's reply on an idle connection of the dedicated pool does not hand
// that connection back while a blocking call was given it meanwhile. drained used to
// count the commands in flight (none), then find the call that assign had just
// stored, and hand the connection back with the call on it: put closed it, and the
// BLPOP, written, popped its element and failed with ErrClosed (found by a chaos
// probe). drainedHook holds drained between its two loads until the call is assigned.
func TestHealthCheckReplyWhileBlockingAssigned(t *testing.T) {
	c, ctx := freshConn(t, Config{HealthCheck: 20 * time.Millisecond, DedicatedPoolSize: 1}, 20*time.Second)
	if v, err := c.Do(ctx, "BLPOP", "hc:q", "0.01"); err != nil || !v.IsNull() { // makes the pool's connection
		t.Fatalf("BLPOP on an empty list: %v, %v", v, err)
	}
	if err := c.Send("RPUSH", "hc:q", "x").Err(ctx); err != nil {
		t.Fatal(err)
	}
	dc := idlePoolConn(t, ctx, c)
	var armed atomic.Bool
	armed.Store(true)
	inHook, release := make(chan struct{}), make(chan struct{})
	hook := func(x *PairedConn) {
		if x == dc && armed.CompareAndSwap(true, false) {
			close(inHook)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}
	drainedHook.Store(&hook)
	defer drainedHook.Store(nil)
	select {
	case <-inHook: // the idle connection's health check was answered (or written)
	case <-ctx.Done():
		t.Fatal("no health check on the idle pool connection")
	}
	f := c.Send("BLPOP", "hc:q", "5")
	for dc.ded.drain.Load() == nil { // assigned: reserved, then stored
		if ctx.Err() != nil {
			close(release)
			t.Fatal("the BLPOP was not assigned to the idle connection")
		}
		runtime.Gosched()
	}
	close(release)
	v, err := f.Wait(ctx)
	if err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "x" {
		t.Fatalf("BLPOP: %v, %v, want [hc:q x]", v, err)
	}
	// Its reply can come before the connection is closed under it: the
	// connection itself must still be the pool's, and open.
	c.pool.mu.Lock()
	_, kept := c.pool.all[dc]
	c.pool.mu.Unlock()
	if !kept || dc.closing.Load() {
		t.Fatalf("the pool's connection was closed under the BLPOP (in the pool: %v)", kept)
	}
}

// A pool connection lost while a blocking call was being given it (after the slot
// was reserved, before the call was stored) is dropped from the pool, not kept for
// good: lostConn found no call on it and left it to its user, which never handed it
// back, so with a pool of one every later Dedicated and blocking command waited
// until its ctx ended (found by a review). assignHook kills the connection there.
// The call, never written, goes to the pool again (requeue).
func TestBlockingConnLostWhileAssigned(t *testing.T) {
	s, c, ctx := poolOfOne(t)
	runs := killWhileAssigned(t, ctx, s, 1)
	idlePoolConn(t, ctx, c)
	// Never written: the call goes to the pool again at once (before its Future is
	// read), and runs there once.
	f := c.Send("BLPOP", "q", "1")
	poll, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for s.MustDo("LLEN", "q").Int() != 1 {
		if poll.Err() != nil {
			t.Fatal("the BLPOP did not run before its Future was read")
		}
		time.Sleep(5 * time.Millisecond)
	}
	v, err := f.Wait(ctx)
	if err != nil || len(v.Elems()) != 2 || string(v.Elems()[1].Bytes()) != "a" {
		t.Fatalf("BLPOP on a connection lost as it was given: %v, %v; want [q a]", v, err)
	}
	if runs.Load() != 1 {
		t.Fatalf("the hook ran %d times, want 1", runs.Load())
	}
	if n := s.MustDo("LLEN", "q").Int(); n != 1 {
		t.Fatalf("LLEN q = %d after one BLPOP, want 1", n)
	}
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	if err := c.Dedicated(dctx, func(d *DedicatedConn) error { return d.Send("PING").Err(dctx) }); err != nil {
		t.Fatalf("Dedicated after the loss: %v (the pool kept the lost connection)", err)
	}
}

// TestBlockingRequeueBounded: a blocking call whose every pool connection is lost
// before it is written goes back to the pool requeueMax times, then fails with
// ErrConnLost, never having run; a forgotten one is requeued as well.
func TestBlockingRequeueBounded(t *testing.T) {
	s, c, ctx := poolOfOne(t)
	runs := killWhileAssigned(t, ctx, s, requeueMax+1)
	idlePoolConn(t, ctx, c)
	if _, err := c.Do(ctx, "BLPOP", "q", "1"); !errors.Is(err, ErrConnLost) {
		t.Fatalf("BLPOP lost before its write %d times: %v, want ErrConnLost", requeueMax+1, err)
	}
	if runs.Load() != requeueMax+1 {
		t.Fatalf("the hook ran %d times, want %d", runs.Load(), requeueMax+1)
	}
	if n := s.MustDo("LLEN", "q").Int(); n != 2 {
		t.Fatalf("LLEN q = %d, want 2: a call never written ran", n)
	}

	// Forgotten: requeued once, it pops one element, and no error is counted.
	if v, err := c.Do(ctx, "BLPOP", "empty", "0.01"); err != nil || !v.IsNull() { // a pool connection again
		t.Fatalf("BLPOP on an empty list: %v, %v", v, err)
	}
	before := c.ForgottenErrors()
	runs = killWhileAssigned(t, ctx, s, 1)
	idlePoolConn(t, ctx, c)
	c.SendAndForget("BLPOP", "q", "1")
	for s.MustDo("LLEN", "q").Int() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("the forgotten BLPOP never ran (runs %d, forgotten errors %d)", runs.Load(), c.ForgottenErrors()-before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if runs.Load() != 1 {
		t.Fatalf("the hook ran %d times, want 1", runs.Load())
	}
	idlePoolConn(t, ctx, c)
	if n := c.ForgottenErrors() - before; n != 0 {
		t.Fatalf("%d forgotten errors counted for a requeued call that ran", n)
	}
}

// A blocking call whose sender's ctx ended while its pool connection was lost under
// it, before it was written, is not sent again by whichever reader finds it unsent
// (lost's own, whose ctx has not ended): it fails with the ctx's error and never runs.
func TestBlockingRequeueSenderCtxEnded(t *testing.T) {
	s, c, ctx := poolOfOne(t)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var runs atomic.Int32
	hook := func(dc *PairedConn) {
		if runs.Add(1) > 1 {
			return
		}
		s.MustDo("CLIENT", "KILL", "TYPE", "normal")
		for !dc.ded.dead.Load() || dc.ring.Err() == nil {
			if ctx.Err() != nil {
				return
			}
			runtime.Gosched()
		}
		cancel() // the sender's ctx ends before the call could be written
	}
	assignHook.Store(&hook)
	t.Cleanup(func() { assignHook.Store(nil) })
	idlePoolConn(t, ctx, c)
	if _, err := c.Do(dctx, "BLPOP", "q", "1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("BLPOP whose ctx ended before its write: %v, want context.Canceled", err)
	}
	// A pool of one serves its waiters in order: once this BLPOP is answered, a
	// requeued one would have run.
	if v, err := c.Do(ctx, "BLPOP", "empty", "0.01"); err != nil || !v.IsNull() {
		t.Fatalf("BLPOP on an empty list: %v, %v", v, err)
	}
	if n := s.MustDo("LLEN", "q").Int(); n != 2 {
		t.Fatalf("LLEN q = %d, want 2: the BLPOP whose ctx had ended ran", n)
	}
}

// poolOfOne returns a server, a PairedConn to it whose pool holds one connection
// (made by a BLPOP), and a ctx for the test; the list q holds a and b.
func poolOfOne(t *testing.T) (*redistest.Server, *PairedConn, context.Context) {
	t.Helper()
	s := startServer(t)
	c := pairedTo(t, s, Config{DedicatedPoolSize: 1})
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t, 30*time.Second)
	if v, err := c.Do(ctx, "BLPOP", "q", "0.01"); err != nil || !v.IsNull() {
		t.Fatalf("BLPOP on an empty list: %v, %v", v, err)
	}
	s.MustDo("RPUSH", "q", "a", "b")
	return s, c, ctx
}

// killWhileAssigned sets assignHook, for the test, to kill the normal clients of s
// (the pool connection being handed a call) the first times times it runs, and to
// wait until the pool saw its connection lost (so the call is stored after that). It
// returns the count of kills.
func killWhileAssigned(t *testing.T, ctx context.Context, s *redistest.Server, times int32) *atomic.Int32 {
	t.Helper()
	runs := new(atomic.Int32)
	hook := func(dc *PairedConn) {
		if runs.Add(1) > times {
			runs.Add(-1)
			return
		}
		s.MustDo("CLIENT", "KILL", "TYPE", "normal") // this one's is skipped
		for !dc.ded.dead.Load() || dc.ring.Err() == nil {
			if ctx.Err() != nil {
				return
			}
			runtime.Gosched()
		}
		time.Sleep(10 * time.Millisecond) // for lostConn to look for the call (no assertion)
	}
	assignHook.Store(&hook)
	t.Cleanup(func() { assignHook.Store(nil) })
	return runs
}

// idlePoolConn waits, within ctx, until c's pool holds one connection and it is idle
// (a blocking call's reply read), and returns it.
func idlePoolConn(t *testing.T, ctx context.Context, c *PairedConn) *PairedConn {
	t.Helper()
	for {
		c.pool.mu.Lock()
		if len(c.pool.all) == 1 && len(c.pool.idle) == 1 {
			dc := c.pool.idle[0]
			c.pool.mu.Unlock()
			return dc
		}
		c.pool.mu.Unlock()
		if ctx.Err() != nil {
			t.Fatal("the pool's connection did not go idle")
		}
		runtime.Gosched()
	}
}
