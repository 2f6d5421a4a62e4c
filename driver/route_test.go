package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// wrongTypeRouter sends a command that got WRONGTYPE on one server to another (a
// stand-in for a cluster's MOVED), at most max times.
type wrongTypeRouter struct {
	to       *PairedConn
	asking   bool
	max      int
	prefix   string // the replies it takes, if not WRONGTYPE
	reroutes atomic.Int32
	last     atomic.Pointer[Redirect]
}

func (w *wrongTypeRouter) Reroutes(msg []byte) bool {
	if w.prefix != "" {
		return strings.HasPrefix(string(msg), w.prefix)
	}
	return strings.HasPrefix(string(msg), "WRONGTYPE")
}

func (w *wrongTypeRouter) Reroute(ctx context.Context, r Redirect) (Future, error) {
	w.reroutes.Add(1)
	w.last.Store(&r)
	if r.Attempt > w.max {
		return Future{}, ErrNoReroute
	}
	if r.Tx > 0 {
		return w.to.ResendTx(w, r.Cmd, w.asking), nil
	}
	return w.to.Resend(w, r.Cmd, w.asking), nil
}

// A routed command whose reply is an error the Rerouter takes is sent again where it
// says, from its kept encoded form, and the caller gets the final reply: for a plain
// command, with ASKING ahead, for each command of a batch on its own; errors the
// Rerouter does not take reach the caller; the redirects are bounded by the Rerouter.
func TestSendRouted(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 10*time.Second)
	a.MustDo("RPUSH", "k", "list") // GET k on a: WRONGTYPE
	b.MustDo("SET", "k", "on b")
	big := strings.Repeat("v", 200<<10) // kept whole, though past the ring's buffer bound
	b.MustDo("RPUSH", "big", "x")
	a.MustDo("SET", "big", big)

	for _, asking := range []bool{false, true} {
		rr := &wrongTypeRouter{to: cb, asking: asking, max: 3}
		if got, err := ca.SendRouted(rr, "GET", "k").String(ctx); err != nil || got != "on b" {
			t.Fatalf("asking=%v: GET k = %q, %v; want \"on b\"", asking, got, err)
		}
		if red := rr.last.Load(); red == nil || red.Attempt != 1 || string(red.Cmd) != "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" {
			t.Fatalf("asking=%v: redirect %+v", asking, red)
		}
		// A reply that is not an error is the caller's, and so is an error the
		// Rerouter does not take.
		if got, err := ca.SendRouted(rr, "GET", "big").String(ctx); err != nil || got != big {
			t.Fatalf("GET big = %d bytes, %v", len(got), err)
		}
		var re *RedisError
		if err := ca.SendRouted(rr, "INCR", "big").Err(ctx); !errors.As(err, &re) || re.Code() != "ERR" {
			t.Fatalf("INCR big = %v, want the server's ERR", err)
		}
		if n := rr.reroutes.Load(); n != 1 {
			t.Fatalf("%d reroutes, want 1", n)
		}
	}

	// A large string argument is attached to the kept command, not copied into it:
	// the redirect still carries the whole command, and so does a redirect read only
	// after its slot was reused (parked).
	a.MustDo("SET", "biglist", "a string") // RPUSH biglist on a: WRONGTYPE
	for _, parked := range []bool{false, true} {
		rr := &wrongTypeRouter{to: cb, max: 3}
		val := strings.Repeat("w", 300<<10)
		if parked {
			val = strings.Repeat("p", 300<<10)
		}
		f := ca.SendRouted(rr, "RPUSH", "biglist", val)
		if parked {
			for range 1100 { // past the ring's 1,024 slots
				ca.SendAndForget("PING")
			}
			if err := ca.Send("PING").Err(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := f.Int(ctx); err != nil || n < 1 {
			t.Fatalf("parked=%v: RPUSH biglist = %d, %v", parked, n, err)
		}
		if red := rr.last.Load(); red == nil || !strings.Contains(string(red.Cmd), val) {
			t.Fatalf("parked=%v: the redirect does not carry the value", parked)
		}
		if got, err := cb.Send("RPOP", "biglist").String(ctx); err != nil || got != val {
			t.Fatalf("parked=%v: RPOP on b = %d bytes, %v", parked, len(got), err)
		}
	}

	// A batch: only its redirected command goes again, alone; the others keep their
	// own replies, in order.
	rr := &wrongTypeRouter{to: cb, max: 3}
	var bt Batch
	bt.Queue("SET", "x", "1")
	bt.Queue("GET", "k")
	bt.Queue("INCR", "x")
	fs := ca.SendBatchRouted(nil, &bt, rr)
	if err := fs[0].Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := fs[1].String(ctx); err != nil || got != "on b" {
		t.Fatalf("batch GET k = %q, %v", got, err)
	}
	if n, err := fs[2].Int(ctx); err != nil || n != 2 {
		t.Fatalf("batch INCR x = %d, %v", n, err)
	}

	// A loop of redirects ends where the Rerouter says.
	b.MustDo("DEL", "k")
	b.MustDo("RPUSH", "k", "list too")
	rr = &wrongTypeRouter{to: cb, max: 3}
	var re *RedisError
	if err := ca.SendRouted(rr, "GET", "k").Err(ctx); !errors.As(err, &re) || re.Code() != "WRONGTYPE" {
		t.Fatalf("redirect loop: %v, want the last reply as a *RedisError", err)
	}
	if n := rr.reroutes.Load(); n != 4 {
		t.Fatalf("%d reroutes, want 4 (3 followed, the 4th refused)", n)
	}

	// Resend refuses what is not one command.
	for _, bad := range []string{"", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", "+OK\r\n", "*1\r\n:1\r\n", "*1\r\n$4\r\nPI"} {
		if err := ca.Resend(nil, []byte(bad), false).Err(ctx); !errors.Is(err, ErrBadCommand) {
			t.Fatalf("Resend(%q) = %v, want ErrBadCommand", bad, err)
		}
	}
	if got, err := ca.Resend(nil, []byte("*1\r\n$4\r\nPING\r\n"), false).String(ctx); err != nil || got != "PONG" {
		t.Fatalf("Resend PING = %q, %v", got, err)
	}
}

// A routed command that never went out, because Close closed its connection while it
// was down, is handed to the Rerouter (Redirect.Err set, no Reply) and runs where the
// Rerouter sends it: a plain command, each command of a batch, a transaction as a
// whole. One that was written is not: once Close gave up waiting for its reply it
// fails with ErrClosed, and the Rerouter never sees it.
func TestSendRoutedUnsentOnClose(t *testing.T) {
	b, cb, ca, ctx := downAndUp(t)
	rr := &wrongTypeRouter{to: cb, max: 3}
	f := ca.SendRouted(rr, "SET", "unsent:plain", "x")
	fc := ca.SendRouted(rr, "INCR", "unsent:c")
	var batch, tx Batch
	batch.Queue("RPUSH", "unsent:l", "1")
	batch.Queue("RPUSH", "unsent:l", "2")
	tx.Queue("INCR", "unsent:n")
	tx.Queue("INCR", "unsent:n")
	bf := ca.SendBatchRouted(nil, &batch, rr)
	tf := ca.SendTxRouted(nil, &tx, rr)
	// As after an ASK: ASKING goes ahead of it, and is not a command of its own to send
	// elsewhere alone (it would make the next command of whatever connection it went
	// to run as if asked).
	fa := ca.Resend(rr, []byte("*2\r\n$4\r\nINCR\r\n$8\r\nunsent:a\r\n"), true)
	ca.Close()
	if n, err := fa.Int(ctx); err != nil || n != 1 {
		t.Fatalf("INCR sent after ASKING: %d, %v; want 1", n, err)
	}
	if err := f.Err(ctx); err != nil {
		t.Fatalf("SET: %v, want it sent elsewhere", err)
	}
	for range 2 { // sent once, however often it is read
		if n, err := fc.Int(ctx); err != nil || n != 1 {
			t.Fatalf("INCR: %d, %v; want 1", n, err)
		}
	}
	for i := len(bf) - 1; i >= 0; i-- { // read last first: they still go in order
		if n, err := bf[i].Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("batch command %d: %d, %v; want %d", i, n, err, i+1)
		}
	}
	for i, f := range tf {
		if n, err := f.Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("transaction command %d: %d, %v", i, n, err)
		}
	}
	if red := rr.last.Load(); red == nil || red.Reply != "" || !errors.Is(red.Err, ErrClosed) {
		t.Fatalf("redirect %+v, want Err ErrClosed and no Reply", red)
	}
	if n := rr.reroutes.Load(); n != 6 {
		t.Fatalf("%d reroutes, want 6 (three commands, two of a batch, one transaction)", n)
	}
	for k, want := range map[string]string{"unsent:plain": "x", "unsent:c": "1", "unsent:n": "2"} {
		if v := b.MustDo("GET", k); v.Text() != want {
			t.Fatalf("%s = %q on the other server, want %q", k, v.Text(), want)
		}
	}
	if l := b.MustDo("LRANGE", "unsent:l", "0", "-1"); fmt.Sprint(texts(l)) != "[1 2]" {
		t.Fatalf("the batch's list on the other server is %v, want [1 2]", texts(l))
	}

	// Written, never answered.
	got := make(chan struct{}, 1)
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case cmd[0] == "SET":
			got <- struct{}{} // and no reply
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	cfg := fakeCfg(s)
	cfg.HealthCheck = -1
	cc, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rw := &wrongTypeRouter{to: cb, max: 3}
	fw := cc.SendRouted(rw, "SET", "unsent:written", "y")
	<-got
	cc.Close() // gives up after CloseTimeout
	if err := fw.Err(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("written SET: %v, want ErrClosed", err)
	}
	if n := rw.reroutes.Load(); n != 0 {
		t.Fatalf("a written command was handed to the Rerouter (%d times)", n)
	}
	if v := b.MustDo("EXISTS", "unsent:written"); v.Int() != 0 {
		t.Fatal("a written command was sent again")
	}
}

// However many times, and from however many goroutines, a routed Future is read, each
// redirect of its command is followed once, so the command runs once: a plain command,
// each command of a batch, a transaction for all its Futures.
func TestRoutedFutureReadTwice(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 10*time.Second)
	for _, k := range []string{"n", "m", "t"} {
		a.MustDo("RPUSH", k, "list") // INCR k on a: WRONGTYPE
	}
	rr := &wrongTypeRouter{to: cb, max: 3}
	f := ca.SendRouted(rr, "INCR", "n")
	inParallel(4, func(int) {
		for range 2 {
			if n, err := f.Int(ctx); err != nil || n != 1 {
				t.Errorf("INCR n = %d, %v; want 1 at every read", n, err)
			}
		}
	})
	var batch, tx Batch
	batch.Queue("INCR", "n")
	batch.Queue("INCR", "m")
	readTwice(t, ctx, "batch", ca.SendBatchRouted(nil, &batch, rr), 2, 1)
	// A transaction is redirected for an error at queue time (a cluster's MOVED):
	// here the ACL refuses INCR on a.
	a.MustDo("ACL", "SETUSER", "default", "-incr")
	rt := &wrongTypeRouter{to: cb, max: 3, prefix: "NOPERM"}
	tx.Queue("INCR", "t")
	tx.Queue("INCR", "t")
	readTwice(t, ctx, "transaction", ca.SendTxRouted(nil, &tx, rt), 1, 2)
	if n, nt := rr.reroutes.Load(), rt.reroutes.Load(); n != 3 || nt != 1 {
		t.Fatalf("%d and %d reroutes, want 3 (one command, two of a batch) and 1 (a transaction)", n, nt)
	}
	for k, want := range map[string]string{"n": "2", "m": "1", "t": "2"} {
		if v := b.MustDo("GET", k); v.Text() != want {
			t.Fatalf("%s = %q on the other server, want %q (each command run once)", k, v.Text(), want)
		}
	}
}

// readTwice reads each Future of fs twice as an integer, and wants the ith to be
// want[i] both times.
func readTwice(t *testing.T, ctx context.Context, what string, fs []Future, want ...int64) {
	t.Helper()
	for i, w := range want {
		for range 2 {
			if n, err := fs[i].Int(ctx); err != nil || n != w {
				t.Fatalf("%s command %d = %d, %v; want %d", what, i, n, err, w)
			}
		}
	}
}

// twoServers starts two servers and connects to each, for a Rerouter to send from
// one to the other; the connections close with the test.
// texts returns the texts of an array value's elements.
func texts(v parser.Value) []string {
	var out []string
	for _, e := range v.Elems() {
		out = append(out, e.Text())
	}
	return out
}

// A batch's redirected commands go again in the batch's order, whichever Future is
// read first: RPUSHes that all got WRONGTYPE on one server build the list in order on
// the other, and each gets its own reply, although their Futures are read last first.
func TestRoutedBatchKeepsOrder(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 10*time.Second)
	a.MustDo("SET", "ordered", "a string: RPUSH gets WRONGTYPE")
	rr := &wrongTypeRouter{to: cb, max: 3}
	var bt Batch
	for _, x := range []string{"x1", "x2", "x3", "x4"} {
		bt.Queue("RPUSH", "ordered", x)
	}
	fs := ca.SendBatchRouted(nil, &bt, rr)
	for _, i := range []int{2, 3, 0, 1} {
		if n, err := fs[i].Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("RPUSH %d: %d, %v; want %d", i, n, err, i+1)
		}
	}
	if l := b.MustDo("LRANGE", "ordered", "0", "-1"); fmt.Sprint(texts(l)) != "[x1 x2 x3 x4]" {
		t.Fatalf("the list on the other server is %v, want [x1 x2 x3 x4]", texts(l))
	}
	if n := rr.reroutes.Load(); n != 4 {
		t.Fatalf("%d reroutes, want 4: each command once", n)
	}
}

// downAndUp returns a server b with a connection cb to it, and a connection ca to
// another server that is down (cut, and reconnects refused), so that what is sent on
// ca waits unwritten.
func downAndUp(t *testing.T) (b *redistest.Server, cb, ca *PairedConn, ctx context.Context) {
	t.Helper()
	b = startServer(t)
	cb = pairedTo(t, b, Config{})
	t.Cleanup(func() { cb.Close() })
	ctx = testCtx(t, 10*time.Second)
	ca, px, _ := proxied(t, Config{ReconnectMin: time.Millisecond, ReconnectMax: 10 * time.Millisecond})
	px.Refuse(true)
	px.ResetAt(0)
	if err := ca.Send("PING").Err(ctx); !errors.Is(err, ErrConnLost) {
		t.Fatalf("PING on the cut connection: %v, want ErrConnLost", err)
	}
	for ca.Connected() {
		if ctx.Err() != nil {
			t.Fatal("the connection stayed up")
		}
		time.Sleep(time.Millisecond)
	}
	return b, cb, ca, ctx
}

func twoServers(t *testing.T) (a, b *redistest.Server, ca, cb *PairedConn) {
	t.Helper()
	a, b = startServer(t), startServer(t)
	ca, cb = pairedTo(t, a, Config{}), pairedTo(t, b, Config{})
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return a, b, ca, cb
}

// stallRouter is wrongTypeRouter whose first Reroute waits: for its ctx to end (then
// it sends nothing), or for release if that is set (then it goes on as usual).
type stallRouter struct {
	wrongTypeRouter
	stalled atomic.Bool
	entered chan struct{} // closed when the first Reroute starts waiting, if set
	release chan struct{}
}

func (s *stallRouter) Reroute(ctx context.Context, r Redirect) (Future, error) {
	if s.stalled.CompareAndSwap(false, true) {
		if s.entered != nil {
			close(s.entered)
		}
		select {
		case <-ctx.Done():
			return Future{}, ctx.Err()
		case <-s.release: // nil: never
		}
	}
	return s.wrongTypeRouter.Reroute(ctx, r)
}

// A reader that waits for another reader's Reroute stops waiting when its own ctx
// ends; the Reroute goes on and serves the readers after it.
func TestRoutedFutureWaitBounded(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	a.MustDo("RPUSH", "n", "list") // INCR n on a: WRONGTYPE
	rr := &stallRouter{wrongTypeRouter: wrongTypeRouter{to: cb, max: 3},
		entered: make(chan struct{}), release: make(chan struct{})}
	f := ca.SendRouted(rr, "INCR", "n")
	ctx := testCtx(t, 10*time.Second)
	first := make(chan error, 1)
	go func() {
		n, err := f.Int(ctx)
		if err == nil && n != 1 {
			err = fmt.Errorf("INCR n = %d, want 1", n)
		}
		first <- err
	}()
	<-rr.entered
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := f.Int(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second reader: %v, want its own ctx's error while the first one's Reroute waits", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the first reader finished (%v) before its Reroute was released", err)
	default:
	}
	close(rr.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n, err := f.Int(ctx); err != nil || n != 1 {
		t.Fatalf("third reader: %d, %v; want 1", n, err)
	}
	if v := b.MustDo("GET", "n"); v.Text() != "1" {
		t.Fatalf("n = %q on the other server, want 1", v.Text())
	}
}

// A reader whose ctx ends while the Reroute it started waits leaves the redirect to
// the next reader, which sends the command (once).
func TestRoutedFutureRerouteGivenUp(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	a.MustDo("RPUSH", "n", "list") // INCR n on a: WRONGTYPE
	rr := &stallRouter{wrongTypeRouter: wrongTypeRouter{to: cb, max: 3}}
	f := ca.SendRouted(rr, "INCR", "n")
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.Int(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first read: %v, want its ctx's error", err)
	}
	ctx := testCtx(t, 10*time.Second)
	for range 2 {
		if n, err := f.Int(ctx); err != nil || n != 1 {
			t.Fatalf("INCR n = %d, %v; want 1", n, err)
		}
	}
	if v := b.MustDo("GET", "n"); v.Text() != "1" {
		t.Fatalf("n = %q on the other server, want 1", v.Text())
	}
}

// failRouter takes WRONGTYPE and cannot send it anywhere.
type failRouter struct{}

var errNowhere = errors.New("nowhere to send it")

func (failRouter) Reroutes(msg []byte) bool { return strings.HasPrefix(string(msg), "WRONGTYPE") }
func (failRouter) Reroute(context.Context, Redirect) (Future, error) {
	return Future{}, errNowhere
}

// A Reroute that fails ends the command with its error, read with a nil ctx too (a
// nil ctx waits without bound elsewhere in the driver; here it made the check for a
// ctx error panic).
func TestRoutedRerouteFailsNilCtx(t *testing.T) {
	a, _, ca, _ := twoServers(t)
	a.MustDo("SET", "nilctx", "a string")
	var none context.Context // nil
	f := ca.SendRouted(failRouter{}, "RPUSH", "nilctx", "x")
	for range 2 {
		if err := f.Err(none); !errors.Is(err, errNowhere) {
			t.Fatalf("RPUSH: %v, want the Rerouter's error", err)
		}
	}
}

// SendRoutedAndForget: a redirected forgotten command is followed in the background
// (more of them at once than there are followers: they wait their turn) and lands;
// its final error is counted in ForgottenErrors, and so is one whose Rerouter gives
// up; a forgotten command with an error the Rerouter does not take is counted at once.
func TestSendRoutedAndForget(t *testing.T) {
	checkGoroutines(t)
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 20*time.Second)
	const n = 3 * forgetFollowers // more than run at once
	for i := 0; i < n; i++ {
		a.MustDo("RPUSH", fmt.Sprint("fk", i), "list")
	}
	rr := &wrongTypeRouter{to: cb, max: 3}
	for i := 0; i < n; i++ {
		ca.SendRoutedAndForget(rr, "INCR", fmt.Sprint("fk", i)) // WRONGTYPE on a, 1 on b
	}
	for i := 0; i < n; i++ {
		k := fmt.Sprint("fk", i)
		for b.MustDo("GET", k).Text() != "1" {
			if ctx.Err() != nil {
				t.Fatalf("%s on b: %v, want 1", k, b.MustDo("GET", k))
			}
			time.Sleep(time.Millisecond)
		}
	}
	if got := ca.ForgottenErrors(); got != 0 {
		t.Fatalf("ForgottenErrors %d after redirects that all landed", got)
	}
	// Counted: WRONGTYPE on b too (the redirect's error), redirects past max (the
	// reply as it is), an error the Rerouter does not take.
	b.MustDo("RPUSH", "both", "list")
	a.MustDo("RPUSH", "both", "list")
	ca.SendRoutedAndForget(rr, "INCR", "both")
	ca.SendRoutedAndForget(&wrongTypeRouter{to: ca, max: 2}, "INCR", "both")
	a.MustDo("SET", "str", "x")
	ca.SendRoutedAndForget(rr, "INCR", "str") // ERR not an integer: not rerouted
	for ca.ForgottenErrors() < 3 {
		if ctx.Err() != nil {
			t.Fatalf("ForgottenErrors %d, want 3", ca.ForgottenErrors())
		}
		time.Sleep(time.Millisecond)
	}
	if err := ca.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ca.ForgottenErrors(); got != 3 {
		t.Fatalf("ForgottenErrors %d, want 3", got)
	}
}

// gateRouter is wrongTypeRouter whose every Reroute waits for gate to close, or for its
// ctx to end (then it sends nothing).
type gateRouter struct {
	wrongTypeRouter
	gate chan struct{}
}

func (g *gateRouter) Reroute(ctx context.Context, r Redirect) (Future, error) {
	select {
	case <-ctx.Done():
		return Future{}, ctx.Err()
	case <-g.gate:
	}
	return g.wrongTypeRouter.Reroute(ctx, r)
}

// Close waits for the redirects of forgotten commands being followed (they land and
// nothing is counted), up to CloseTimeout; past it, it stops them, and every one is
// counted in ForgottenErrors by the time Close returns. Redirects beyond the followers
// and their queue are not followed, and counted at once.
func TestSendRoutedAndForgetClose(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	for _, late := range []bool{false, true} {
		a, b := startServer(t), startServer(t)
		cfg := Config{RingSize: 16}
		if late {
			cfg.CloseTimeout = 50 * time.Millisecond
		}
		ca, cb := pairedTo(t, a, cfg), pairedTo(t, b, Config{})
		t.Cleanup(func() { cb.Close() })
		const n = forgetFollowers + 16 + 5 // running, queued (one per slot), not followed
		for i := 0; i < n; i++ {
			a.MustDo("RPUSH", fmt.Sprint("fc", i), "list")
		}
		rr := &gateRouter{wrongTypeRouter: wrongTypeRouter{to: cb, max: 3}, gate: make(chan struct{})}
		for i := 0; i < n; i++ {
			ca.SendRoutedAndForget(rr, "INCR", fmt.Sprint("fc", i))
		}
		for ca.ForgottenErrors() < 5 { // the 5 past the queue
			if ctx.Err() != nil {
				t.Fatalf("late=%v: ForgottenErrors %d, want 5 for the redirects past the queue", late, ca.ForgottenErrors())
			}
			time.Sleep(time.Millisecond)
		}
		closed := make(chan struct{})
		go func() { ca.Close(); close(closed) }()
		if late {
			<-closed
			if got := ca.ForgottenErrors(); got != n {
				t.Fatalf("after a Close that stopped them: ForgottenErrors %d, want %d", got, n)
			}
			close(rr.gate)
			continue
		}
		close(rr.gate)
		<-closed
		if got := ca.ForgottenErrors(); got != 5 {
			t.Fatalf("after Close: ForgottenErrors %d, want 5", got)
		}
		landed := 0
		for i := 0; i < n; i++ {
			if b.MustDo("GET", fmt.Sprint("fc", i)).Text() == "1" {
				landed++
			}
		}
		if landed != n-5 {
			t.Fatalf("%d of %d followed redirects landed", landed, n-5)
		}
	}
}

// askingRefusedRouter takes WRONGTYPE and a refused ASKING (a non-cluster server's
// answer to it), records the commands it is asked to reroute, and sends the first
// one again to another server after ASKING.
type askingRefusedRouter struct {
	to   *PairedConn
	mu   sync.Mutex
	cmds []string
}

func (r *askingRefusedRouter) Reroutes(msg []byte) bool {
	return strings.HasPrefix(string(msg), "WRONGTYPE") || strings.HasPrefix(string(msg), "ERR This instance has cluster support disabled")
}

func (r *askingRefusedRouter) Reroute(ctx context.Context, red Redirect) (Future, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, string(red.Cmd))
	r.mu.Unlock()
	if red.Attempt > 1 {
		return Future{}, ErrNoReroute
	}
	return r.to.ResendContext(ctx, r, red.Cmd, true)
}

// The ASKING of an ASK resend is never sent again alone: when the server refuses it
// with an error the Rerouter takes and the command behind it is redirected too, only
// the command goes again (ASKING alone elsewhere applies to someone else's next
// command).
func TestResendAskingRefusedNotAlone(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 10*time.Second)
	a.MustDo("RPUSH", "k", "list") // GET k: WRONGTYPE on both
	b.MustDo("RPUSH", "k", "list")
	rr := &askingRefusedRouter{to: cb}
	err := ca.SendRouted(rr, "GET", "k").Err(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("GET = %v, want its WRONGTYPE", err)
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for _, c := range rr.cmds {
		if isAsking([]byte(c)) {
			t.Fatalf("ASKING rerouted alone (rerouted: %q)", rr.cmds)
		}
	}
	if len(rr.cmds) != 2 {
		t.Fatalf("rerouted %q, want GET twice", rr.cmds)
	}
}

// A routed transaction whose EXEC answered ran, even if a queued reply was an error
// the Rerouter takes (a broken server or proxy; a real one answers EXECABORT): each
// Future gets its element of EXEC's reply and nothing is sent again. It was sent
// again where the Rerouter said, and so ran twice.
func TestRoutedTxRanNotResent(t *testing.T) {
	checkGoroutines(t)
	var execs [2]atomic.Int32
	servers := make([]*fakeredis.Server, 2)
	for i := range servers {
		servers[i] = fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
			switch strings.ToUpper(cmd[0]) {
			case "HELLO":
				fakeredis.Hello(c, cmd)
			case "MULTI":
				c.Write([]byte("+OK\r\n"))
			case "INCR":
				c.Write([]byte("-WRONGTYPE but queued all the same\r\n"))
			case "EXEC":
				execs[i].Add(1)
				c.Write([]byte("*2\r\n:1\r\n:2\r\n"))
			default:
				c.Write([]byte("+OK\r\n"))
			}
			return true
		})
	}
	ctx := testCtx(t, 10*time.Second)
	conns := make([]*PairedConn, 2)
	for i, s := range servers {
		c, err := PairedConnect(ctx, fakeCfg(s))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	rr := &wrongTypeRouter{to: conns[1], max: 3}
	var b Batch
	b.Queue("INCR", "k")
	b.Queue("INCR", "k")
	fs := conns[0].SendTxRouted(nil, &b, rr)
	for i, f := range fs {
		if n, err := f.Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("INCR %d: %d, %v; want %d (its element of EXEC's reply)", i, n, err, i+1)
		}
	}
	if a, b := execs[0].Load(), execs[1].Load(); a != 1 || b != 0 || rr.reroutes.Load() != 0 {
		t.Fatalf("EXEC ran %d times where sent, %d where rerouted (%d reroutes); want once, where sent", a, b, rr.reroutes.Load())
	}
}
