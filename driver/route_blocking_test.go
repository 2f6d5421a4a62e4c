package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// blpopCmd is BLPOP q 0 as SendRouted encodes it (a Redirect's Cmd).
const blpopCmd = "*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"

// blockedOn waits until s has n clients blocked (INFO clients). The wait is long
// (a pool connection is dialled first, slow under -race on a loaded CI machine); a
// failure lists the server's clients, to say where the blocking command went.
func blockedOn(t *testing.T, s *redistest.Server, n int) {
	t.Helper()
	want := fmt.Sprint("blocked_clients:", n, "\r")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.MustDo("INFO", "clients").Text(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("not %d blocked clients within 20s; CLIENT LIST:\n%s", n, s.MustDo("CLIENT", "LIST").Text())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A blocking command sent with SendRouted runs on the dedicated pool and follows its
// redirects as other routed commands do: BLPOP gets WRONGTYPE on one server, and the
// Rerouter sends it to the other, where it waits on a pool connection until an element
// is pushed; the Future, read from several goroutines and twice each, gives that
// element, and the redirect was followed once. A loop of redirects counts its attempts
// and ends where the Rerouter says, with the last reply for the caller.
func TestRoutedBlockingFollowsRedirect(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 20*time.Second)
	a.MustDo("SET", "q", "a string") // BLPOP q on a: WRONGTYPE
	rr := &wrongTypeRouter{to: cb, max: 3}
	f := ca.SendRouted(rr, "BLPOP", "q", 0)
	read := func(int) {
		for range 2 {
			v, err := f.Wait(ctx)
			if err != nil || fmt.Sprint(texts(v)) != "[q x]" {
				t.Errorf("BLPOP = %v, %v; want [q x] at every read", v, err)
			}
		}
	}
	done := make(chan struct{})
	go func() { inParallel(4, read); close(done) }() // the first reader follows the redirect
	blockedOn(t, b, 1)
	blockedOn(t, a, 0)
	b.MustDo("RPUSH", "q", "x", "y")
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("no reply")
	}
	read(4) // and later
	if red := rr.last.Load(); rr.reroutes.Load() != 1 || red == nil || red.Attempt != 1 || string(red.Cmd) != blpopCmd || !strings.HasPrefix(red.Reply, "WRONGTYPE") {
		t.Fatalf("%d reroutes, last %+v; want one, attempt 1, of BLPOP q 0", rr.reroutes.Load(), red)
	}
	if l := b.MustDo("LRANGE", "q", "0", "-1"); fmt.Sprint(texts(l)) != "[y]" {
		t.Fatalf("the list on the other server is %v, want [y]: BLPOP ran once", texts(l))
	}

	// WRONGTYPE on both: redirected again and again, each attempt counted, until the
	// Rerouter gives up (ErrNoReroute) and the caller gets the reply.
	b.MustDo("DEL", "q")
	b.MustDo("SET", "q", "a string too")
	rr = &wrongTypeRouter{to: cb, max: 3}
	var re *RedisError
	if err := ca.SendRouted(rr, "BLPOP", "q", 0).Err(ctx); !errors.As(err, &re) || re.Code() != "WRONGTYPE" {
		t.Fatalf("redirect loop: %v, want the last reply as a *RedisError", err)
	}
	if red := rr.last.Load(); rr.reroutes.Load() != 4 || red == nil || red.Attempt != 4 {
		t.Fatalf("%d reroutes, last %+v; want 4 (3 followed, the 4th refused)", rr.reroutes.Load(), red)
	}
}

// A reader's ctx bounds a redirected blocking command: when it ends while BLPOP waits
// on the server it was redirected to, the Future gives ctx's error and that pool
// connection is closed (the server unblocks the BLPOP), so an element pushed later
// stays in the list; a later reader gets the end of that connection as the error.
func TestRoutedBlockingCtx(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 20*time.Second)
	a.MustDo("SET", "q", "a string")
	rr := &wrongTypeRouter{to: cb, max: 3}
	f := ca.SendRouted(rr, "BLPOP", "q", 0)
	short, cancel := context.WithCancel(ctx)
	first := make(chan error, 1)
	go func() { first <- f.Err(short) }()
	blockedOn(t, b, 1)
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("BLPOP whose reader's ctx ended while it waited: %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("the reader did not stop waiting")
	}
	blockedOn(t, b, 0)
	b.MustDo("RPUSH", "q", "x")
	if n := b.MustDo("LLEN", "q").Int(); n != 1 {
		t.Fatalf("LLEN after the push = %d, want 1 (not taken by the abandoned BLPOP)", n)
	}
	if v, err := f.Wait(ctx); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConnLost) {
		t.Fatalf("BLPOP read again: %v, %v; want its connection's end (ErrClosed or ErrConnLost)", v, err)
	}
	if n := rr.reroutes.Load(); n != 1 {
		t.Fatalf("%d reroutes, want 1", n)
	}
}

// askingServer starts a fake server that answers BLPOP with [q popped] on a
// connection whose previous command was ASKING, and with an error otherwise; log
// records "N CMD" for each command (N: the connection).
func askingServer(t *testing.T) (*fakeredis.Server, func() []string) {
	var mu sync.Mutex
	var log []string
	asked := map[*fakeredis.Conn]bool{}
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if fakeredis.Hello(c, cmd) {
			return true
		}
		mu.Lock()
		log = append(log, fmt.Sprint(c.N, " ", strings.Join(cmd, " ")))
		was := asked[c]
		asked[c] = cmd[0] == "ASKING"
		mu.Unlock()
		switch {
		case cmd[0] == "BLPOP" && was:
			c.Reply(parser.NewArray(parser.NewBulkString("q"), parser.NewBulkString("popped")))
		case cmd[0] == "BLPOP":
			c.Write([]byte("-ERR BLPOP without ASKING ahead of it on its connection\r\n"))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	return s, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), log...)
	}
}

// A blocking command sent again after ASK (Resend with asking) goes with ASKING ahead
// of it on one connection of the dedicated pool, ASKING first, and its Future gives
// the command's reply, not ASKING's: sent with Resend directly, and by a Rerouter
// that follows a routed BLPOP's redirect with ASKING.
func TestRoutedBlockingResendAsking(t *testing.T) {
	s, log := askingServer(t)
	cfg := fakeCfg(s)
	cfg.HealthCheck = -1
	ctx := testCtx(t, 20*time.Second)
	cf, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	check := func(what string, v parser.Value, err error) {
		t.Helper()
		if err != nil || fmt.Sprint(texts(v)) != "[q popped]" {
			t.Fatalf("%s: %v, %v; want [q popped] (the log: %q)", what, v, err, log())
		}
		l := log()
		last := l[len(l)-1]
		n, _, _ := strings.Cut(last, " ")
		if last != n+" BLPOP q 0" || l[len(l)-2] != n+" ASKING" || n == "0" {
			t.Fatalf("%s: the server got %q; want ASKING then BLPOP on a pool connection", what, l)
		}
	}
	v, err := cf.Resend(nil, []byte(blpopCmd), true).Wait(ctx)
	check("Resend with ASKING", v, err)

	a := startServer(t)
	ca := pairedTo(t, a, Config{})
	defer ca.Close()
	a.MustDo("SET", "q", "a string")
	rr := &wrongTypeRouter{to: cf, asking: true, max: 3}
	v, err = ca.SendRouted(rr, "BLPOP", "q", 0).Wait(ctx)
	check("BLPOP redirected with ASKING", v, err)
	if n := rr.reroutes.Load(); n != 1 {
		t.Fatalf("%d reroutes, want 1", n)
	}
}

// SendRoutedAndForget of a blocking command: its redirect is followed in the
// background, and it runs where the Rerouter sends it (BLMOVE moves the element pushed
// there); a final failure is counted in ForgottenErrors, the redirect followed or not.
func TestRoutedBlockingForget(t *testing.T) {
	checkGoroutines(t)
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 20*time.Second)
	a.MustDo("SET", "src", "a string") // BLMOVE from src on a: WRONGTYPE
	rr := &wrongTypeRouter{to: cb, max: 3}
	ca.SendRoutedAndForget(rr, "BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
	blockedOn(t, b, 1)
	b.MustDo("RPUSH", "src", "job")
	waitFor(t, func() bool { return b.MustDo("LLEN", "dst").Int() == 1 })
	if got := ca.ForgottenErrors(); got != 0 {
		t.Fatalf("ForgottenErrors %d after a redirect that landed", got)
	}
	if n := rr.reroutes.Load(); n != 1 {
		t.Fatalf("%d reroutes, want 1", n)
	}
	// Counted: WRONGTYPE on b too, past the Rerouter's bound; an error it does not
	// take (BLMOVE's syntax error), at once.
	b.MustDo("SET", "src", "a string too")
	ca.SendRoutedAndForget(rr, "BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
	ca.SendRoutedAndForget(rr, "BLMOVE", "src", "dst", "UP", "RIGHT", 0)
	for ca.ForgottenErrors() < 2 {
		if ctx.Err() != nil {
			t.Fatalf("ForgottenErrors %d, want 2", ca.ForgottenErrors())
		}
		time.Sleep(time.Millisecond)
	}
	if err := ca.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got, n := ca.ForgottenErrors(), rr.reroutes.Load(); got != 2 || n != 5 {
		t.Fatalf("ForgottenErrors %d, reroutes %d; want 2 and 5 (1 + 3 followed + 1 refused)", got, n)
	}
}

// A routed blocking command that never went out, because Close closed its connection
// while it waited for one of the pool, is handed to the Rerouter (Redirect.Err set, no
// Reply) and runs where it sends it; the one written before Close fails with
// ErrClosed, and the Rerouter never sees it.
func TestRoutedBlockingUnsentOnClose(t *testing.T) {
	a, b := startServer(t), startServer(t)
	ca := pairedTo(t, a, Config{DedicatedPoolSize: 1, CloseTimeout: 100 * time.Millisecond})
	cb := pairedTo(t, b, Config{})
	defer cb.Close()
	ctx := testCtx(t, 20*time.Second)
	rr := &wrongTypeRouter{to: cb, max: 3}
	running := ca.SendRouted(rr, "BLPOP", "q", 0)
	blockedOn(t, a, 1)
	waiting := ca.SendRouted(rr, "BLPOP", "q", 0) // no connection left in the pool
	ca.Close()
	if err := running.Err(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("BLPOP written before Close: %v, want ErrClosed", err)
	}
	b.MustDo("RPUSH", "q", "x")
	if v, err := waiting.Wait(ctx); err != nil || fmt.Sprint(texts(v)) != "[q x]" {
		t.Fatalf("BLPOP that waited for the pool: %v, %v; want [q x] from the other server", v, err)
	}
	if red := rr.last.Load(); rr.reroutes.Load() != 1 || red == nil || red.Reply != "" || !errors.Is(red.Err, ErrClosed) || string(red.Cmd) != blpopCmd {
		t.Fatalf("%d reroutes, last %+v; want one, with Err ErrClosed", rr.reroutes.Load(), red)
	}
}

// Forgotten blocking commands whose redirects are followed do not hold the followers
// that the other forgotten redirects share: with forgetFollowers BLPOPs ... 0
// redirected to another server and blocked there, a forgotten LPUSH redirected after
// them still lands. (Before, each blocked BLPOP held a follower, and the LPUSH waited
// in the queue until they were answered.)
func TestRoutedBlockingForgetKeepsFollowers(t *testing.T) {
	a, b := startServer(t), startServer(t)
	ca := pairedTo(t, a, Config{CloseTimeout: 100 * time.Millisecond}) // the BLPOPs never return
	cb := pairedTo(t, b, Config{DedicatedPoolSize: forgetFollowers + 8, CloseTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { ca.Close(); cb.Close() })
	a.MustDo("SET", "q", "string") // BLPOP q on a: WRONGTYPE
	a.MustDo("SET", "l", "string") // LPUSH l on a: WRONGTYPE
	rr := &wrongTypeRouter{to: cb, max: 3}
	for range forgetFollowers {
		ca.SendRoutedAndForget(rr, "BLPOP", "q", 0)
	}
	blockedOn(t, b, forgetFollowers)
	ca.SendRoutedAndForget(rr, "LPUSH", "l", "v")
	waitFor(t, func() bool { return b.MustDo("LLEN", "l").Int() == 1 })
	if n := ca.ForgottenErrors(); n != 0 {
		t.Fatalf("ForgottenErrors = %d", n)
	}
}
