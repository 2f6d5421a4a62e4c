package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// reply is the outcome of a Do run in the background.
type reply struct {
	v   parser.Value
	err error
}

// goDo runs c.Do(ctx, args...) on a goroutine of its own.
func goDo(ctx context.Context, c *Client, args ...any) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		v, err := c.Do(ctx, args...)
		ch <- reply{v, err}
	}()
	return ch
}

// goWait reads f with Wait on a goroutine of its own.
func goWait(ctx context.Context, f driver.Future) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		v, err := f.Wait(ctx)
		ch <- reply{v, err}
	}()
	return ch
}

// vias are the two ways a test sends a blocking command: Do, and Send's Future read
// with Wait (the redirects are followed in the Future).
var vias = []struct {
	name string
	run  func(ctx context.Context, c *Client, args ...any) <-chan reply
}{
	{"Do", goDo},
	{"Send", func(ctx context.Context, c *Client, args ...any) <-chan reply { return goWait(ctx, c.Send(args...)) }},
}

// blockedClients returns how many clients s has blocked on a command.
func blockedClients(t *testing.T, s *redistest.Server) int {
	t.Helper()
	for _, line := range strings.Split(s.MustDo("INFO", "clients").Text(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO clients: %q", line)
			}
			return n
		}
	}
	t.Fatal("INFO clients: no blocked_clients")
	return 0
}

// waitBlocked waits until s has n clients blocked; a Do on done that returns
// meanwhile fails the test (it was to block there).
func waitBlocked(t *testing.T, ctx context.Context, s *redistest.Server, n int, done <-chan reply) {
	t.Helper()
	for blockedClients(t, s) != n {
		select {
		case r := <-done:
			t.Fatalf("returned before it blocked on %s: %v, %v", s.Addr, r.v, r.err)
		case <-ctx.Done():
			t.Fatalf("%s has %d blocked clients, want %d", s.Addr, blockedClients(t, s), n)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// await returns the reply on done, failing the test if ctx ends first.
func await(t *testing.T, ctx context.Context, done <-chan reply) reply {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		t.Fatal("no reply")
		return reply{}
	}
}

// popped checks that r is BLPOP's reply [key, elem].
func popped(t *testing.T, what string, r reply, key, elem string) {
	t.Helper()
	if r.err != nil || len(r.v.Elems()) != 2 || r.v.Elems()[0].Text() != key || r.v.Elems()[1].Text() != elem {
		t.Fatalf("%s: %v, %v; want [%s %s]", what, r.v, r.err, key, elem)
	}
}

// A blocking command follows its redirects as other commands do, on the dedicated
// pools: during a migration the source answers ASK for a list it does not hold, and
// BLPOP waits on the importing node (ASKING and BLPOP on one of its dedicated
// connections) until an element is pushed there; once the slot moved, the old owner
// answers MOVED and BLPOP waits on the new one, and the map follows.
func TestBlockingFollowsAskAndMoved(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	for _, via := range vias {
		t.Run(via.name, func(t *testing.T) { blockingFollows(t, cl, c, via.run, "{bl"+via.name+"}list") })
	}
}

// blockingFollows is TestBlockingFollowsAskAndMoved for BLPOPs on key sent by run.
func blockingFollows(t *testing.T, cl *redistest.Cluster, c *Client, run func(context.Context, *Client, ...any) <-chan reply, key string) {
	ctx := testCtx(t, 30*time.Second)
	slot := KeySlotString(key)
	s := strconv.Itoa(slot)
	src, dst := srcDst(t, cl, slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())

	// ASK: the list is new, so it is made on the importing node.
	before := c.Stats()
	done := run(ctx, c, "BLPOP", key, 0)
	waitBlocked(t, ctx, dst, 1, done)
	if n := blockedClients(t, src); n != 0 {
		t.Fatalf("%d clients blocked on the source", n)
	}
	if n, err := c.Send("RPUSH", key, "a").Int(ctx); err != nil || n != 1 {
		t.Fatalf("RPUSH during the migration = %d, %v", n, err)
	}
	popped(t, "BLPOP during the migration", await(t, ctx, done), key, "a")
	if st := c.Stats(); st.Asked != before.Asked+2 || st.Moved != before.Moved {
		t.Fatalf("stats before %+v, after %+v: want two ASK followed (BLPOP's, RPUSH's), no MOVED", before, st)
	}
	// An element there already: BLPOP takes it at once, after ASK.
	if err := c.Send("RPUSH", key, "b").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if r := await(t, ctx, run(ctx, c, "BLPOP", key, 0)); r.err != nil || len(r.v.Elems()) != 2 || r.v.Elems()[1].Text() != "b" {
		t.Fatalf("BLPOP of a list on the importing node = %v, %v", r.v, r.err)
	}
	if a := c.topo.Load().slots[slot].Load().master.addr; a != src.Addr {
		t.Fatalf("ASK changed the map: the slot maps to %s", a)
	}

	// MOVED: the slot is given to the target behind the client's back (the list is
	// empty, so gone: the source holds no key of the slot).
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	before = c.Stats()
	done = run(ctx, c, "BLPOP", key, 0)
	waitBlocked(t, ctx, dst, 1, done)
	dst.MustDo("RPUSH", key, "c")
	popped(t, "BLPOP after the slot moved", await(t, ctx, done), key, "c")
	if st := c.Stats(); st.Moved != before.Moved+1 {
		t.Fatalf("stats before %+v, after %+v: want one MOVED followed", before, st)
	}
	if a := c.topo.Load().slots[slot].Load().master.addr; a != dst.Addr {
		t.Fatalf("after MOVED the slot maps to %s, want %s", a, dst.Addr)
	}
}

// A blocking command follows as many redirects as any other before the caller gets
// the last one: with the source migrating the slot to a node that does not import it,
// the source answers ASK and the target MOVED back, for ever; BLPOP and GET each
// follow MaxRedirects of them, then return the next as a *driver.RedisError, through
// Do and through Send's Future alike.
func TestBlockingRedirectBound(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	const maxRedirects = 3
	c := connect(t, cl, Config{RefreshInterval: -1, MaxRedirects: maxRedirects})
	ctx := testCtx(t, 30*time.Second)
	key := "{bb}list"
	slot := KeySlotString(key)
	src, dst := srcDst(t, cl, slot)
	src.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "MIGRATING", dst.NodeID())
	for i, cmd := range [][]any{{"GET", key}, {"BLPOP", key, 0}, {"BLPOP", key, 0}} {
		before := c.Stats()
		var err error
		if i < 2 {
			_, err = c.Do(ctx, cmd...)
		} else {
			err = c.Send(cmd...).Err(ctx) // the redirects followed in the Future
		}
		var re *driver.RedisError
		if !errors.As(err, &re) || (re.Code() != "MOVED" && re.Code() != "ASK") {
			t.Fatalf("%v in a redirect loop: %v, want the last redirect", cmd, err)
		}
		st := c.Stats()
		if n := st.Asked - before.Asked + st.Moved - before.Moved; n != maxRedirects {
			t.Fatalf("%v followed %d redirects (stats before %+v, after %+v), want %d", cmd, n, before, st, maxRedirects)
		}
	}
}

// Do's ctx bounds a blocking command that followed a redirect: when it ends while
// BLPOP waits on the importing node, Do returns ctx's error, and the connection is
// closed (the server unblocks it), so an element pushed later stays in the list.
func TestBlockingAskCtx(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 30*time.Second)
	key := "{bc}list"
	slot := KeySlotString(key)
	s := strconv.Itoa(slot)
	src, dst := srcDst(t, cl, slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
	short, cancel := context.WithCancel(ctx)
	done := goDo(short, c, "BLPOP", key, 0)
	waitBlocked(t, ctx, dst, 1, done)
	cancel()
	if r := await(t, ctx, done); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("BLPOP whose ctx ended while it waited: %v, %v; want context.Canceled", r.v, r.err)
	}
	waitBlocked(t, ctx, dst, 0, nil)
	if n, err := c.Send("RPUSH", key, "x").Int(ctx); err != nil || n != 1 {
		t.Fatalf("RPUSH = %d, %v", n, err)
	}
	if n, err := c.Send("LLEN", key).Int(ctx); err != nil || n != 1 {
		t.Fatalf("LLEN after the push = %d, %v; want 1 (not taken by the abandoned BLPOP)", n, err)
	}
}

// SendAndForget of a blocking command follows its redirect in the background: BLMOVE
// sent after its slot moved behind the client's back gets MOVED, and waits on the new
// owner, where it moves the element pushed there; nothing is counted as failed. One
// whose redirects run out is counted in ForgottenErrors.
func TestSendAndForgetBlockingMoved(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	const maxRedirects = 3
	c := connect(t, cl, Config{RefreshInterval: -1, MaxRedirects: maxRedirects})
	ctx := testCtx(t, 30*time.Second)
	from, to := "{sf}from", "{sf}to"
	slot := KeySlotString(from)
	s := strconv.Itoa(slot)
	src, dst := srcDst(t, cl, slot)
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	before := c.Stats()
	c.SendAndForget("BLMOVE", from, to, "LEFT", "RIGHT", 0)
	waitBlocked(t, ctx, dst, 1, nil)
	dst.MustDo("RPUSH", from, "job")
	for dst.MustDo("LLEN", to).Int() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("%s on the new owner: %v, want the element BLMOVE moved", to, dst.MustDo("LRANGE", to, "0", "-1"))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if st := c.Stats(); st.Moved != before.Moved+1 {
		t.Fatalf("stats before %+v, after %+v: want one MOVED followed", before, st)
	}
	if n := c.ForgottenErrors(); n != 0 {
		t.Fatalf("ForgottenErrors %d after a redirect that landed", n)
	}

	// A redirect loop (ASK to a node that does not import the slot, MOVED back):
	// counted once the redirects ran out.
	dst.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", src.NodeID())
	c.SendAndForget("BLMOVE", from, to, "LEFT", "RIGHT", 0)
	for c.ForgottenErrors() != 1 {
		if ctx.Err() != nil {
			t.Fatalf("ForgottenErrors %d, want 1", c.ForgottenErrors())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
