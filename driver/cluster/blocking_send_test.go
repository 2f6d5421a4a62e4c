package cluster

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

// goWait reads f with Wait on a goroutine of its own.
func goWait(ctx context.Context, f driver.Future) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		v, err := f.Wait(ctx)
		ch <- reply{v, err}
	}()
	return ch
}

// A blocking command sent with Send follows its redirects inside its Future, as other
// commands do: during a migration the source answers ASK for a list it does not hold,
// and BLPOP waits on the importing node (ASKING and BLPOP on one of its dedicated
// connections) until an element is pushed there; once the slot moved behind the
// client's back, the old owner answers MOVED and BLPOP waits on the new one.
func TestSendBlockingFollowsAskAndMoved(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 30*time.Second)
	key := "{sb}list"
	slot := KeySlotString(key)
	s := strconv.Itoa(slot)
	src, dst := srcDst(t, cl, slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())

	before := c.Stats()
	done := goWait(ctx, c.Send("BLPOP", key, 0))
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

	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	before = c.Stats()
	done = goWait(ctx, c.Send("BLPOP", key, 0))
	waitBlocked(t, ctx, dst, 1, done)
	dst.MustDo("RPUSH", key, "b")
	popped(t, "BLPOP after the slot moved", await(t, ctx, done), key, "b")
	if st := c.Stats(); st.Moved != before.Moved+1 {
		t.Fatalf("stats before %+v, after %+v: want one MOVED followed", before, st)
	}
	if a := c.topo.Load().slots[slot].Load().master.addr; a != dst.Addr {
		t.Fatalf("after MOVED the slot maps to %s, want %s", a, dst.Addr)
	}
}

// Send's Future of a blocking command follows as many redirects as any other before
// the caller gets the last one: in a loop of ASK (the source migrates the slot to a
// node that does not import it) and MOVED back, BLPOP follows MaxRedirects of them,
// then returns the next as a *driver.RedisError.
func TestSendBlockingRedirectBound(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	const maxRedirects = 3
	c := connect(t, cl, Config{RefreshInterval: -1, MaxRedirects: maxRedirects})
	ctx := testCtx(t, 30*time.Second)
	key := "{sbb}list"
	slot := KeySlotString(key)
	src, dst := srcDst(t, cl, slot)
	src.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "MIGRATING", dst.NodeID())
	before := c.Stats()
	err := c.Send("BLPOP", key, 0).Err(ctx)
	var re *driver.RedisError
	if !errors.As(err, &re) || (re.Code() != "MOVED" && re.Code() != "ASK") {
		t.Fatalf("BLPOP in a redirect loop: %v, want the last redirect", err)
	}
	st := c.Stats()
	if n := st.Asked - before.Asked + st.Moved - before.Moved; n != maxRedirects {
		t.Fatalf("BLPOP followed %d redirects (stats before %+v, after %+v), want %d", n, before, st, maxRedirects)
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
