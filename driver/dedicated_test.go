package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
)

// WATCH on one dedicated connection, a write by another caller, then SendTx: every
// Future gets ErrWatchConflict and nothing of the transaction ran.
func TestDedicatedWatchConflict(t *testing.T) {
	checkGoroutines(t)
	c, ctx := freshConn(t, Config{}, 10*time.Second)
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		if err := d.Send("WATCH", "w").Err(ctx); err != nil {
			return err
		}
		// Another dedicated caller changes the watched key meanwhile.
		if err := c.Dedicated(ctx, func(o *DedicatedConn) error {
			return o.Send("SET", "w", "theirs").Err(ctx)
		}); err != nil {
			return err
		}
		var b Batch
		b.Queue("SET", "w", "mine")
		b.Queue("INCR", "n")
		for _, f := range d.SendTx(nil, &b) {
			if err := f.Err(ctx); !errors.Is(err, ErrWatchConflict) || errors.Is(err, ErrTxAborted) {
				t.Errorf("after a conflict: %v", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Send("GET", "w").String(ctx); v != "theirs" {
		t.Fatalf("w = %q: the conflicting transaction ran", v)
	}
	// Without a conflict the same transaction runs.
	err = c.Dedicated(ctx, func(d *DedicatedConn) error {
		d.Send("WATCH", "w")
		var b Batch
		b.Queue("SET", "w", "mine")
		futs := d.SendTx(nil, &b)
		return futs[0].Err(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fn's error is returned; a WATCH left by fn is not inherited by the next user; the
// DedicatedConn cannot be used after fn returned.
func TestDedicatedReturnsCleanConnection(t *testing.T) {
	c, ctx := freshConn(t, Config{DedicatedPoolSize: 1}, 10*time.Second)
	mine := errors.New("mine")
	var kept *DedicatedConn
	var firstID int64
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		kept = d
		firstID, _ = d.Send("CLIENT", "ID").Int(ctx)
		d.Send("WATCH", "w").Err(ctx)
		return mine
	})
	if err != mine {
		t.Fatalf("Dedicated returned %v, want fn's error", err)
	}
	if err := kept.Send("PING").Err(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("use after return: %v", err)
	}
	c.Send("SET", "w", "changed").Err(ctx) // would conflict with a leftover watch
	err = c.Dedicated(ctx, func(d *DedicatedConn) error {
		if id, _ := d.Send("CLIENT", "ID").Int(ctx); id != firstID {
			t.Errorf("pool of one gave another connection: %d, %d", id, firstID)
		}
		var b Batch
		b.Queue("SET", "w", "next")
		return d.SendTx(nil, &b)[0].Err(ctx)
	})
	if err != nil {
		t.Fatalf("the next user inherited the WATCH: %v", err)
	}
	// Session commands stay refused on a dedicated connection.
	c.Dedicated(ctx, func(d *DedicatedConn) error {
		for _, args := range [][]any{{"SELECT", 1}, {"MULTI"}, {"SUBSCRIBE", "x"}} {
			if err := d.Send(args...).Err(ctx); !errors.Is(err, ErrNotOnSharedConn) {
				t.Errorf("%v on a dedicated connection: %v", args, err)
			}
		}
		return nil
	})
}

// A dedicated connection killed while its transaction waits (the server holds writes
// with CLIENT PAUSE WRITE): every Future fails with ErrConnLost, the server applied
// none of it, and the next Dedicated gets a working connection.
func TestDedicatedKilledMidTransaction(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		id, err := d.Send("CLIENT", "ID").Int(ctx)
		if err != nil {
			return err
		}
		s.MustDo("CLIENT", "PAUSE", "10000", "WRITE")
		var b Batch
		b.Queue("INCR", "a")
		b.Queue("INCR", "b")
		futs := d.SendTx(nil, &b)
		// The EXEC is held by the pause (flags x: in MULTI, b: blocked); kill the
		// connection meanwhile.
		waitFor(t, func() bool {
			for _, line := range strings.Split(s.MustDo("CLIENT", "LIST").Text(), "\n") {
				if strings.HasPrefix(line, "id="+strconv.FormatInt(id, 10)+" ") {
					return strings.Contains(line, " flags=xb ")
				}
			}
			return false
		})
		s.MustDo("CLIENT", "KILL", "ID", strconv.FormatInt(id, 10))
		s.MustDo("CLIENT", "UNPAUSE")
		for i, f := range futs {
			if err := f.Err(ctx); !errors.Is(err, ErrConnLost) {
				t.Errorf("future %d: %v, want ErrConnLost", i, err)
			}
		}
		if err := d.Send("PING").Err(ctx); !errors.Is(err, ErrConnLost) {
			t.Errorf("command after the loss: %v, want ErrConnLost (no silent reconnect)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Send("GET", "a").Int(ctx)
	b, _ := c.Send("GET", "b").Int(ctx)
	if a != b {
		t.Fatalf("half a transaction applied: a=%d b=%d", a, b)
	}
	if err := c.Dedicated(ctx, func(d *DedicatedConn) error { return d.Send("PING").Err(ctx) }); err != nil {
		t.Fatalf("Dedicated after a loss: %v", err)
	}
}

// A BLPOP sent through the shared connection does not hold up other callers: 64
// goroutines' GETs all complete while it is still pending, and it then gets the
// element pushed after them.
func TestBlockingDoesNotHoldUpOthers(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 30*time.Second)
	blpop := c.Send("BLPOP", "queue", 20)
	var wg sync.WaitGroup
	var gets atomic.Int64
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if err := c.Send("GET", "x").Err(ctx); err != nil && !errors.Is(err, ErrNil) {
					t.Error(err)
					return
				}
				gets.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := c.Send("RPUSH", "queue", "after-the-gets").Err(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := blpop.Wait(ctx)
	if err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "after-the-gets" {
		t.Fatalf("BLPOP = %v, %v after %d GETs", v, err, gets.Load())
	}
	// XREAD BLOCK goes the same way.
	xread := c.Send("XREAD", "BLOCK", 20000, "STREAMS", "stream", "$")
	waitFor(t, func() bool { return strings.Contains(s.MustDo("CLIENT", "LIST").Text(), "cmd=xread") })
	if err := c.Send("GET", "x").Err(ctx); err != nil {
		t.Fatalf("GET while XREAD blocks: %v", err)
	}
	c.Send("XADD", "stream", "*", "f", "v").Err(ctx)
	if v, err := xread.Wait(ctx); err != nil || v.Kind().String() == "null" {
		t.Fatalf("XREAD = %v, %v", v, err)
	}
}

// A BLPOP whose caller gave up is never handed an element pushed later: its connection
// is closed, the element stays in the list for the next consumer.
func TestBlockingCancelledNeverConsumes(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := c.Do(short, "BLPOP", "jobs", 0)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BLPOP: %v", err)
	}
	waitFor(t, func() bool { return !strings.Contains(s.MustDo("CLIENT", "LIST").Text(), "cmd=blpop") })
	if err := c.Send("RPUSH", "jobs", "j1").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Send("LLEN", "jobs").Int(ctx); err != nil || n != 1 {
		t.Fatalf("LLEN = %d, %v: the abandoned BLPOP took the element", n, err)
	}
	v, err := c.Do(ctx, "BLPOP", "jobs", 1)
	if err != nil || v.Elems()[1].Text() != "j1" {
		t.Fatalf("next BLPOP = %v, %v", v, err)
	}
}

// With a pool of two, a third blocking command waits for a connection; one whose
// context ends meanwhile is never sent, and Dedicated waits bounded by its context.
func TestBlockingPoolExhausted(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	c := pairedTo(t, s, Config{DedicatedPoolSize: 2})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	f1 := c.Send("BLPOP", "p", 0)
	f2 := c.Send("BLPOP", "p", 0)
	waitFor(t, func() bool { return strings.Count(s.MustDo("CLIENT", "LIST").Text(), "cmd=blpop") == 2 })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := c.Do(short, "BLPOP", "p", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third BLPOP: %v", err)
	}
	if err := c.Dedicated(short, func(*DedicatedConn) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dedicated with the pool exhausted: %v", err)
	}
	cancel()
	f3 := c.Send("BLPOP", "p", 0) // queued: it runs once f1 or f2 is answered
	c.Send("RPUSH", "p", "a", "b", "c").Err(ctx)
	got := map[string]bool{}
	for _, f := range []Future{f1, f2, f3} {
		v, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got[v.Elems()[1].Text()] = true
	}
	if len(got) != 3 {
		t.Fatalf("elements: %v (the cancelled BLPOP must not have taken one)", got)
	}
	if n, _ := c.Send("LLEN", "p").Int(ctx); n != 0 {
		t.Fatalf("LLEN = %d", n)
	}
}

// Close fails blocking commands that wait, closes the pool's connections and leaves no
// goroutine behind.
func TestCloseWithBlockingInFlight(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	c := pairedTo(t, s, Config{DedicatedPoolSize: 1, CloseTimeout: 100 * time.Millisecond})
	ctx := testCtx(t, 10*time.Second)
	running := c.Send("BLPOP", "never", 0)
	waiting := c.Send("BLPOP", "never", 0)
	waitFor(t, func() bool { return strings.Contains(s.MustDo("CLIENT", "LIST").Text(), "cmd=blpop") })
	c.Close()
	for _, f := range []Future{running, waiting} {
		if err := f.Err(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if err := c.Dedicated(ctx, func(*DedicatedConn) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dedicated after Close: %v", err)
	}
}

// CLIENT REPLY OFF and SKIP on a DedicatedConn: commands the server does not answer
// take no reply (done with a null value), every other command gets its own; batches
// are refused meanwhile, and a connection returned with replies off is not reused.
func TestDedicatedClientReply(t *testing.T) {
	c, ctx := freshConn(t, Config{DedicatedPoolSize: 1}, 10*time.Second)
	var firstID int64
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		firstID, _ = d.Send("CLIENT", "ID").Int(ctx)
		off := d.Send("CLIENT", "REPLY", "OFF")
		quiet := d.Send("SET", "a", "1")
		d.Send("INCR", "n")
		var b Batch
		b.Queue("GET", "a")
		if err := d.SendBatch(nil, &b)[0].Err(ctx); !errors.Is(err, errReplyOff) {
			t.Errorf("batch while replies are off: %v", err)
		}
		if v, err := d.Send("CLIENT", "REPLY", "ON").String(ctx); err != nil || v != "OK" {
			t.Errorf("CLIENT REPLY ON: %q, %v", v, err)
		}
		for _, f := range []Future{off, quiet} {
			if v, err := f.Wait(ctx); err != nil || !v.IsNull() {
				t.Errorf("unanswered command: %v, %v (want a null value)", v, err)
			}
		}
		if v, err := d.Send("GET", "a").String(ctx); err != nil || v != "1" {
			t.Errorf("GET after ON: %q, %v", v, err)
		}
		d.Send("CLIENT", "REPLY", "SKIP")
		skipped := d.Send("INCR", "n")
		if n, err := d.Send("INCR", "n").Int(ctx); err != nil || n != 3 {
			t.Errorf("INCR after the skipped one: %d, %v", n, err)
		}
		if v, err := skipped.Wait(ctx); err != nil || !v.IsNull() {
			t.Errorf("skipped command: %v, %v", v, err)
		}
		d.Send("CLIENT", "REPLY", "OFF").Err(ctx)
		return nil // returned with replies off: closed, not reused
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Dedicated(ctx, func(d *DedicatedConn) error {
		id, err := d.Send("CLIENT", "ID").Int(ctx)
		if err == nil && id == firstID {
			t.Errorf("the connection left with CLIENT REPLY OFF was reused")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A CLIENT REPLY command that could not go into the ring (its ctx ended while the ring
// was full) changes nothing: the commands after it are answered as before.
func TestClientReplyNotSent(t *testing.T) {
	onDedicated(t, Config{RingSize: 8, HealthCheck: -1, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		px.Stall()
		var fs []Future
		for i := 0; i < 8; i++ {
			fs = append(fs, d.Send("GET", "rn:none"))
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := d.Do(short, "CLIENT", "REPLY", "OFF"); !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("CLIENT REPLY OFF with the ring full: %v, want its ctx's error", err)
		}
		px.Resume()
		for i, f := range fs {
			if v, err := f.Wait(ctx); err != nil || !v.IsNull() {
				return fmt.Errorf("GET %d: %v, %v", i, v, err)
			}
		}
		if v, err := d.Do(ctx, "SET", "rn:k", "1"); err != nil || v.Text() != "OK" {
			return fmt.Errorf("SET after the OFF that was not sent: %v, %v; want OK", v, err)
		}
		if v, err := d.Do(ctx, "GET", "rn:k"); err != nil || v.Text() != "1" {
			return fmt.Errorf("GET: %v, %v", v, err)
		}
		return nil
	})
}

// A CLIENT REPLY command in the ring is written even when its caller's ctx ends before
// it is (it is pinned): the mode the connection follows stays the server's.
func TestClientReplyPinned(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
		px.Narrow(64 << 10)
		px.Stall()
		big := d.Send("SET", "rp:big", strings.Repeat("x", 8<<20)) // fills the sockets
		for l := d.c.b.cur.Load(); !l.outBusy.Load(); {            // written in part, the rest held
			if ctx.Err() != nil {
				return errors.New("the 8 MiB SET went out whole: the sockets took it all")
			}
			time.Sleep(time.Millisecond)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := d.Do(short, "CLIENT", "REPLY", "OFF"); !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("CLIENT REPLY OFF behind a held write: %v, want its ctx's error", err)
		}
		d.SendAndForget("SET", "rp:quiet", "1") // no reply: replies are off
		px.Resume()
		if err := big.Err(ctx); err != nil {
			return fmt.Errorf("the large SET: %v", err)
		}
		if v, err := d.Do(ctx, "CLIENT", "REPLY", "ON"); err != nil || v.Text() != "OK" {
			return fmt.Errorf("CLIENT REPLY ON: %v, %v", v, err)
		}
		if v, err := d.Do(ctx, "GET", "rp:quiet"); err != nil || v.Text() != "1" {
			return fmt.Errorf("GET after replies came back: %v, %v", v, err)
		}
		return nil
	})
}

// A command that could not be sent after CLIENT REPLY SKIP (it could not be encoded)
// does not use the skip up: the next command that reaches the server is the one it
// skips.
func TestClientReplySkipNotSent(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		d.SendAndForget("CLIENT", "REPLY", "SKIP")
		if err := d.Send("SET", "sk:k", struct{}{}).Err(ctx); err == nil {
			return errors.New("an argument that cannot be encoded was accepted")
		}
		if v, err := d.Do(ctx, "SET", "sk:k", "1"); err != nil || !v.IsNull() {
			return fmt.Errorf("the SET the server skips: %v, %v; want no reply (null)", v, err)
		}
		if v, err := d.Do(ctx, "GET", "sk:k"); err != nil || v.Text() != "1" {
			return fmt.Errorf("GET after the skip: %v, %v", v, err)
		}
		return nil
	})
}

// A server that refuses CLIENT REPLY (an ACL user without client|reply) gets OFF and
// SKIP refused with its error, and every command after them still gets its own reply.
func TestClientReplyRefused(t *testing.T) {
	s := startServer(t)
	s.MustDo("ACL", "SETUSER", "noreply", "on", ">pw", "~*", "+@all", "-client|reply")
	c := pairedTo(t, s, Config{Username: "noreply", Password: "pw", HealthCheck: -1, DedicatedPoolSize: 1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		for _, mode := range []string{"OFF", "SKIP"} {
			var re *RedisError
			if _, err := d.Do(ctx, "CLIENT", "REPLY", mode); !errors.As(err, &re) || re.Code() != "NOPERM" {
				return fmt.Errorf("CLIENT REPLY %s as a user without client|reply: %v, want NOPERM", mode, err)
			}
			if v, err := d.Do(ctx, "SET", "nr:k", mode); err != nil || v.Text() != "OK" {
				return fmt.Errorf("SET after the refused %s: %v, %v", mode, v, err)
			}
			if v, err := d.Do(ctx, "GET", "nr:k"); err != nil || v.Text() != mode {
				return fmt.Errorf("GET after the refused %s: %v, %v", mode, v, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A CLIENT REPLY command the driver does not know (a syntax error for the server)
// after SKIP is the command the server skips, as any other.
func TestClientReplySkipUnknown(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		d.SendAndForget("CLIENT", "REPLY", "SKIP")
		if v, err := d.Do(ctx, "CLIENT", "REPLY", "BOGUS"); err != nil || !v.IsNull() {
			return fmt.Errorf("CLIENT REPLY BOGUS after SKIP: %v, %v; want no reply (null)", v, err)
		}
		if v, err := d.Do(ctx, "SET", "su:k", "1"); err != nil || v.Text() != "OK" {
			return fmt.Errorf("SET after the skipped command: %v, %v", v, err)
		}
		if v, err := d.Do(ctx, "GET", "su:k"); err != nil || v.Text() != "1" {
			return fmt.Errorf("GET: %v, %v", v, err)
		}
		return nil
	})
}

// The command a SKIP applies to may be large: its value goes out by reference, as any
// large SET's, and is skipped whole.
func TestClientReplySkipLarge(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		big := bytes.Repeat([]byte("s"), 4<<20)
		d.SendAndForget("CLIENT", "REPLY", "SKIP")
		if v, err := d.Do(ctx, "SET", "sl:k", big); err != nil || !v.IsNull() {
			return fmt.Errorf("the large SET the server skips: %v, %v; want no reply (null)", v, err)
		}
		if n, err := d.Send("STRLEN", "sl:k").Int(ctx); err != nil || n != int64(len(big)) {
			return fmt.Errorf("STRLEN after the skip: %d, %v", n, err)
		}
		return nil
	})
}

// A CLIENT REPLY OFF the server refuses after the connection was made (an ACL
// changed meanwhile, as here, or -BUSY while another client's script runs) leaves
// replies on: its error reply comes where CLIENT REPLY ON's OK is due, and every
// reply after it would go to the command before. The connection is dropped there:
// ON and the commands after it fail with ErrConnLost (the cause says why), none gets
// another command's reply.
func TestClientReplyOffRefusedLater(t *testing.T) {
	s := startServer(t)
	s.MustDo("ACL", "SETUSER", "later", "on", ">pw", "~*", "+@all")
	c := pairedTo(t, s, Config{Username: "later", Password: "pw", HealthCheck: -1, DedicatedPoolSize: 1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		s.MustDo("ACL", "SETUSER", "later", "-client|reply")
		off := d.Send("CLIENT", "REPLY", "OFF")
		set := d.Send("SET", "rl:k", "v")
		on := d.Send("CLIENT", "REPLY", "ON")
		get := d.Send("GET", "rl:k")
		// OFF's refusal is found at ON's turn, or sooner if it comes before ON is
		// written (a reply no command awaits): the connection is dropped either way,
		// and the commands not yet written fail with it.
		for name, f := range map[string]Future{"OFF": off, "SET": set} {
			if v, err := f.Wait(ctx); !errors.Is(err, ErrConnLost) && (err != nil || !v.IsNull()) {
				return fmt.Errorf("%s while replies are off: %v, %v; want no reply (null) or ErrConnLost", name, v, err)
			}
		}
		if err := on.Err(ctx); !errors.Is(err, ErrConnLost) {
			return fmt.Errorf("CLIENT REPLY ON after the refused OFF: %v; want ErrConnLost", err)
		}
		if v, err := get.String(ctx); !errors.Is(err, ErrConnLost) {
			return fmt.Errorf("GET after the refused OFF: %q, %v; want ErrConnLost (not another command's reply)", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The same with OFF/ON rounds sent without waiting: each OFF's check waits its turn,
// so a later OFF does not hide the first one's refusal.
func TestClientReplyOffRefusedRounds(t *testing.T) {
	s := startServer(t)
	s.MustDo("ACL", "SETUSER", "rounds", "on", ">pw", "~*", "+@all")
	c := pairedTo(t, s, Config{Username: "rounds", Password: "pw", HealthCheck: -1, DedicatedPoolSize: 1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		s.MustDo("ACL", "SETUSER", "rounds", "-client|reply")
		var fs []Future
		for range 2 {
			fs = append(fs, d.Send("CLIENT", "REPLY", "OFF"), d.Send("SET", "rr:k", "v"),
				d.Send("CLIENT", "REPLY", "ON"), d.Send("GET", "rr:k"))
		}
		if err := fs[2].Err(ctx); !errors.Is(err, ErrConnLost) {
			return fmt.Errorf("the first CLIENT REPLY ON: %v; want ErrConnLost", err)
		}
		for i := 3; i < len(fs); i++ {
			if v, err := fs[i].Wait(ctx); err == nil && !v.IsNull() {
				return fmt.Errorf("command %d after the refused OFF: %v; want it failed (or no reply), not another's", i, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A reader that gives up on a blocking call late (its ctx ended as the reply came,
// and the connection went back to the pool meanwhile, to the next blocking call)
// leaves the connection to that next call: abandon closed the connection of whatever
// call ran on it then, and the next BLPOP failed, its popped element lost.
func TestAbandonLateKeepsNextCall(t *testing.T) {
	c, ctx := freshConn(t, Config{DedicatedPoolSize: 1}, 10*time.Second)
	first := c.Send("BLPOP", "abandon:a", 0)
	if err := c.Send("RPUSH", "abandon:a", "x").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Err(ctx); err != nil {
		t.Fatal(err)
	}
	a := first.x.(*blockingCall)
	// The pool of one hands the same connection to the next blocking call, once the
	// loop gave it back after the first one's reply.
	next := c.Send("BLPOP", "abandon:b", 0)
	b := next.x.(*blockingCall)
	if err := b.await(ctx); err != nil {
		t.Fatal(err)
	}
	if a.conn != b.conn {
		t.Fatal("the pool of one gave the next call another connection")
	}
	c.pool.abandon(a) // the first reader, late
	if err := c.Send("RPUSH", "abandon:b", "y").Err(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := next.Wait(ctx)
	if err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "y" {
		t.Fatalf("the next BLPOP = %v, %v; want [abandon:b y]", v, err)
	}
}

// A blocking command whose ctx ended before a pool connection took it is never
// written: neither one sent with an ended ctx (Do, SendRoutedContext) nor one whose
// ctx ended while it waited for the pool's one connection. Written, each BLPOP would
// have popped an element that nobody reads.
func TestBlockingCtxEndedBeforeConnection(t *testing.T) {
	c, ctx := freshConn(t, Config{DedicatedPoolSize: 1}, 10*time.Second)
	dead, cancelDead := context.WithCancel(ctx)
	cancelDead()
	c.Send("RPUSH", "bctx:a", "x").Err(ctx)
	if _, err := c.Do(dead, "BLPOP", "bctx:a", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with an ended ctx: %v, want context.Canceled", err)
	}

	first := c.Send("BLPOP", "bctx:b", 0) // holds the pool's one connection
	if err := first.x.(*blockingCall).await(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithCancel(ctx)
	second := c.SendRoutedContext(short, nil, "BLPOP", "bctx:a", 0) // waits for it
	cancel()
	c.Send("RPUSH", "bctx:b", "y").Err(ctx) // the first returns, its connection with it
	if err := first.Err(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Err(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a call whose ctx ended while it waited: %v, want context.Canceled", err)
	}
	if n, err := c.Send("LLEN", "bctx:a").Int(ctx); err != nil || n != 1 {
		t.Fatalf("LLEN = %d, %v; want 1: a BLPOP whose ctx had ended popped it", n, err)
	}
	if err := c.Send("PING").Err(ctx); err != nil { // the pool's connection is back and usable
		t.Fatal(err)
	}
}
