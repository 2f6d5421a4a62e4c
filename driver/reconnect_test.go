package driver

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
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

// briefCfg connects to s with a reconnect backoff far longer than the test and no
// health check: a reconnect that pauses does not come back within it.
func briefCfg(s *fakeredis.Server) Config {
	cfg := fakeCfg(s)
	cfg.ReconnectMin, cfg.ReconnectMax, cfg.HealthCheck = time.Hour, time.Hour, -1
	return cfg
}

// briefServer answers HELLO and GET, and closes the connection after confirming a
// SUBSCRIBE or on DROP: a server (or a proxy) that drops each connection soon after
// it was made. subs counts the SUBSCRIBE commands it confirmed.
func briefServer(t *testing.T, subs *atomic.Int32) *fakeredis.Server {
	return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case cmd[0] == "DROP":
			return false
		case strings.EqualFold(cmd[0], "SUBSCRIBE"):
			subs.Add(1)
			c.Reply(fixPush("subscribe", cmd[1], parser.NewInteger(1)))
			return false
		case cmd[0] == "GET":
			c.Write([]byte("$1\r\nv\r\n"))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
}

// Two connections in a row lost soon after they were made (less than ReconnectMax)
// make the reconnect after the second pause as a failed attempt would: with a
// backoff far longer than the test, the first loss is dialled again at once, the
// second is not dialled again, and a command sent meanwhile waits (here until its ctx
// ends). One closed by Reconnect is dialled again at once, and Reconnect also ends
// the pause of a reconnect under way. Before, every loss was dialled again at once,
// so a server that drops each connection after the handshake was dialled in a loop.
func TestBriefConnectionPauses(t *testing.T) {
	checkGoroutines(t)
	var subs atomic.Int32
	s := briefServer(t, &subs)
	cfg := briefCfg(s)
	ctx := testCtx(t, 10*time.Second)
	c, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func(when string, reconnects uint64, accepts int) {
		t.Helper()
		waitFor(t, func() bool { return c.Reconnects() == reconnects })
		if v, err := c.Send("GET", "k").Wait(ctx); err != nil || v.Text() != "v" {
			t.Fatalf("GET %s: %v, %v", when, v, err)
		}
		if n := s.Accepts(); n != accepts {
			t.Fatalf("%d connections %s, want %d", n, when, accepts)
		}
	}
	c.Reconnect() // on request: at once, and counted as no loss
	get("after Reconnect", 1, 2)
	drop := func() {
		t.Helper()
		if err := c.Send("DROP").Err(ctx); !errors.Is(err, ErrConnLost) {
			t.Fatalf("DROP: %v, want ErrConnLost", err)
		}
	}
	drop() // the first brief connection: dialled again at once
	get("after the first drop", 2, 3)
	drop() // the second in a row: the reconnect pauses
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := c.Send("GET", "k").Err(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET while the reconnect pauses: %v, want its ctx's end", err)
	}
	if n := s.Accepts(); n != 3 {
		t.Fatalf("%d connections, want 3: the second brief connection was dialled again at once", n)
	}
	c.Reconnect() // ends the pause
	get("after Reconnect during the pause", 3, 4)
}

// The same for a subscriber whose server confirms each subscription and then drops
// the connection (as a pubsub output limit hit at once would): subscribed again
// once at once, then the reconnect pauses, with the subscription still on; Reconnect
// ends the pause, and the next loss pauses again.
func TestPubsubConfirmThenDrop(t *testing.T) {
	checkGoroutines(t)
	var subs atomic.Int32
	s := briefServer(t, &subs)
	cfg := briefCfg(s)
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, cfg)
	sub, err := p.Subscribe(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	settled := func(when string, n int32) {
		t.Helper()
		waitFor(t, func() bool { return subs.Load() == n })
		time.Sleep(100 * time.Millisecond) // time for a reconnect that should not happen
		if a, m := s.Accepts(), subs.Load(); a != int(n) || m != n {
			t.Fatalf("%d connections and %d SUBSCRIBEs %s, want %d and %d", a, m, when, n, n)
		}
	}
	settled("after the drops", 2)
	p.Reconnect()
	settled("after Reconnect", 3)
	select {
	case m, ok := <-sub.Messages():
		t.Fatalf("subscription gave %v, %v; want it still waiting", m, ok)
	default:
	}
}

// A node that confirms a shard channel and drops it at once (an unasked
// SUNSUBSCRIBE, as when its slot moves) at every connection is subscribed again at
// once the first time, and after a pause the next: Resolve keeps naming it, and
// before, the connection went again as fast as the network allowed.
func TestShardDroppedAgainPauses(t *testing.T) {
	checkGoroutines(t)
	var subs atomic.Int32
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			subs.Add(1)
			c.Reply(fixPush("ssubscribe", cmd[1], parser.NewInteger(1)), fixPush("sunsubscribe", cmd[1], parser.NewInteger(0)))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	cfg := briefCfg(s)
	cfg.Resolve = func(context.Context) (string, error) { return s.Addr, nil }
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, cfg)
	if _, err := p.SSubscribe(ctx, "{s}ch"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return subs.Load() == 2 })
	time.Sleep(100 * time.Millisecond) // time for a reconnect that should not happen
	if a, m := s.Accepts(), subs.Load(); a != 2 || m != 2 {
		t.Fatalf("%d connections and %d SSUBSCRIBEs, want 2 and 2", a, m)
	}
}

// The dedicated pool paces its dials the same way: a server that drops each pool
// connection as soon as it runs a blocking command gets the first two dialled at once
// (each BLPOP fails with ErrConnLost), and then a pause: the third BLPOP waits for a
// connection until its ctx ends and is never written, and nothing more was dialled.
// Before, the pool dialled again at once after every loss while calls waited.
func TestPoolBriefConnectionsPause(t *testing.T) {
	checkGoroutines(t)
	var blpops atomic.Int32
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "BLPOP"):
			blpops.Add(1)
			return false
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	ctx := testCtx(t, 10*time.Second)
	c, err := PairedConnect(ctx, briefCfg(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		if err := c.Send("BLPOP", "q", 0).Err(ctx); !errors.Is(err, ErrConnLost) {
			t.Fatalf("BLPOP %d: %v, want ErrConnLost", i+1, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := c.Send("BLPOP", "q", 0).Err(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BLPOP while the pool pauses: %v, want its ctx's end", err)
	}
	if n, m := s.Accepts(), blpops.Load(); n != 3 || m != 2 {
		t.Fatalf("%d connections and %d BLPOPs, want 3 (the shared one and two of the pool) and 2", n, m)
	}
}

// A command sent after Reconnect returned goes out on the new connection, never on the
// one Reconnect dropped: with Resolve moved to another server first (a failover, as
// driver/sentinel does it), it runs there, and it does not fail with ErrConnLost for
// having been written to the old connection while that was closing.
func TestSendAfterReconnectGoesToNewConn(t *testing.T) {
	srv := [2]*redistest.Server{startServer(t), startServer(t)}
	var at atomic.Int32
	c := pairedTo(t, srv[0], Config{Resolve: func(context.Context) (string, error) { return srv[at.Load()].Addr, nil },
		ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond, HealthCheck: -1})
	defer c.Close()
	ctx := testCtx(t, 30*time.Second)
	var want [2]int64
	for i := range 100 {
		to := int32(i+1) % 2
		at.Store(to)
		c.Reconnect()
		n, err := c.Send("INCR", "moves").Int(ctx)
		if err != nil {
			t.Fatalf("move %d: INCR sent after Reconnect: %v", i, err)
		}
		if want[to]++; n != want[to] {
			t.Fatalf("move %d: INCR answered %d, want %d (it ran on the old server)", i, n, want[to])
		}
		if a := c.Addr(); a != srv[to].Addr {
			t.Fatalf("move %d: Addr() = %q, want %q", i, a, srv[to].Addr)
		}
	}
	for i, s := range srv {
		if got := s.MustDo("GET", "moves").Text(); got != strconv.FormatInt(want[i], 10) {
			t.Fatalf("server %d counted %s INCRs, want %d", i, got, want[i])
		}
	}
}

// Reconnect called over and over, also while a new connection is being opened: a
// connection dropped before it opened is closed once it opens (it would otherwise stay
// up and write nothing), and every command ends, answered or lost with a connection.
func TestReconnectStorm(t *testing.T) {
	c, ctx := freshConn(t, Config{ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond, HealthCheck: -1}, 60*time.Second)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.Reconnect()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
	}()
	var ok, lost int
	for i := 0; i < 2000; i++ {
		cmdCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.Send("PING").Err(cmdCtx)
		cancel()
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrConnLost):
			lost++
		default:
			close(stop)
			<-done
			t.Fatalf("PING %d after %d answered, %d lost: %v", i, ok, lost, err)
		}
	}
	close(stop)
	<-done
	t.Logf("%d answered, %d lost, %d reconnects", ok, lost, c.Reconnects())
	if ok == 0 || c.Reconnects() == 0 {
		t.Fatalf("%d answered, %d reconnects", ok, c.Reconnects())
	}
}

// A blocking command sent after Reconnect returned never runs on a pool connection to
// the old server: not even on one being handed back (put) as Reconnect retired it,
// which a caller waiting for the pool would have been given. Here Reconnect and the
// next BLPOP run in that window (putPause).
func TestBlockingAfterReconnectNotOnOldPoolConn(t *testing.T) {
	old, fresh := startServer(t), startServer(t)
	var at atomic.Pointer[string]
	at.Store(&old.Addr)
	c := pairedTo(t, old, Config{Resolve: func(context.Context) (string, error) { return *at.Load(), nil },
		DedicatedPoolSize: 1, HealthCheck: -1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	first := c.Send("BLPOP", "ba:first", "0")
	blockedOn(t, old, 1)
	late := make(chan Future, 1)
	pause := func() { // on the loop, in put, once the first BLPOP was answered
		at.Store(&fresh.Addr)
		c.Reconnect()
		late <- c.Send("BLPOP", "ba:after", "0") // waits for the pool's one connection
	}
	putPause.Store(&pause)
	old.MustDo("RPUSH", "ba:first", "x")
	if err := first.Err(ctx); err != nil {
		t.Fatalf("first BLPOP: %v", err)
	}
	f := <-late
	old.MustDo("RPUSH", "ba:after", "old")
	fresh.MustDo("RPUSH", "ba:after", "new")
	v, err := f.Wait(ctx)
	if err != nil {
		t.Fatalf("BLPOP sent after Reconnect: %v", err)
	}
	if got := v.Elems()[1].Text(); got != "new" {
		t.Fatalf("BLPOP sent after Reconnect popped %q: it ran on the old server", got)
	}
}
