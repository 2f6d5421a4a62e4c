package driver

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// A blocking command (see commandTable) sent through a shared PairedConn's Send runs on
// a connection of its dedicated pool, so that it never holds up other callers. The
// call is encoded at once; it is written when a pool connection is free (at once if
// one is idle or may be dialled; otherwise when another user gives one back, in
// order). Its Future waits for that, bounded by the context of Wait (or of any
// method reading it): a call whose context ends before it was written is never
// written. The connection goes back to the pool when the reply came. When the context
// ends after the command was written, the connection is closed (the command fails with
// ErrClosed for any other reader): a late reply, such as an element a BLPOP popped,
// is then never handed to anybody, and nothing the server gets afterwards (an RPUSH)
// is consumed by the abandoned command. A call whose pool connection broke before it
// was written goes back to the pool (requeue, a Rerouter of the driver's own: the
// call is routed, as below, so that its slot keeps the command and says Unsent).

// A blocking command sent with SendRouted (or Resend, or SendRoutedAndForget) runs on
// the pool as well, and follows its redirects as other routed commands do: its slot on
// the pool connection keeps the command (ring.Keep), and its Future reads that slot as
// a routed Future (viewRouted), so that each redirect is followed once for all its
// readers and the Rerouter's Future is read in its place, redirect after redirect (the
// attempts counted across them). Resend with asking puts ASKING ahead of the command
// in the same slot, so on the same pool connection, ASKING first; the Future views
// the command's reply. Nothing is sent again but on a reply the Rerouter takes, or for
// a call that was never written: one whose pool connection closed or broke before it
// wrote the call (an *ring.Unsent, as for any kept command), and one that waited for
// a connection when the pool closed (Close of the PairedConn: a cluster node that
// left the map), which has no slot and keeps its one Reroute itself (unsent). A
// forgotten routed call's redirect is found by the pool connection's rescue
// (forgetRoutes.call) and followed for the shared connection by a goroutine of its
// own until the call sent again is answered (forgetRoutes.followBlocking).

// blockingCall is one blocking command on its way to, or running on, a pool
// connection. Fields other than ready are written before ready is closed and read
// after.
type blockingCall struct {
	pool *pool
	// ctx is the sender's (nil: none): a call whose ctx ended before a connection
	// took it is never written (see assign).
	ctx    context.Context
	cmd    []byte // with ASKING ahead of the command when asking
	forget bool
	asking bool
	// rr routes the call (nil: not routed); home follows the redirects of a
	// forgotten routed call (the shared connection's forgetRoutes).
	rr   Rerouter
	home *forgetRoutes
	// limit is how long the server may block on the command before it answers
	// on its own (blockLimit), for the health check.
	limit time.Duration
	ready chan struct{} // closed once assigned (fut set) or failed (err set)
	conn  *PairedConn
	fut   Future // on conn's ring; routed by rr if set
	err   error
	// unsent, for a routed call that failed before it was written because the
	// pool closed, is its one Reroute, shared by its readers (see viewRouted).
	unsent *reroute
}

// sendBlocking queues a blocking command for the pool; a ctx that ended (before, see
// send, or while it waits for a connection) keeps it from being written. It is routed
// by requeue: a call its pool connection lost before writing it goes to the pool
// again.
func (c *PairedConn) sendBlocking(ctx context.Context, forget bool, args []any) Future {
	return c.sendBlockingRouted(ctx, requeue{c: c, ctx: ctx}, forget, args)
}

// requeueMax bounds how many times a blocking call goes back to the pool (requeue).
const requeueMax = 3

// requeue is the Rerouter of a blocking command sent through Send or Do (not routed
// by the caller): it takes no error reply, and a call whose pool connection broke
// before writing it (Redirect.Err matches ErrConnLost: the server never saw it) goes
// back to the pool, to wait for another connection as a new call would (bounded by
// the context of each reader of its Future: one whose context ends while it waits
// takes it off the queue; lost's reader, and a forgotten call's, wait until Close),
// up to requeueMax times; after that, and for a pool that closed (ErrClosed), the call
// fails with that error. Without it, a connection lost between the pool handing it
// over and the loop writing the call (an idle connection the server had just closed)
// failed a call that never ran with ErrConnLost, which says it may have. n counts the
// times the call went back: it travels with the call (each Reroute gives the next
// requeue), since the readers of its Futures, among them lost's, each count the
// attempts of their own.
type requeue struct {
	c *PairedConn
	n int
	// ctx is the sender's (nil: none): a call whose ctx ended is not sent again,
	// whichever reader (lost's, with a ctx of its own) found it unsent.
	ctx context.Context
}

// lost runs when the pool connection bc was handed was lost, perhaps before it wrote
// bc: a call of Send's that is not forgotten (the ring's rescue follows those) is
// read at once (kick), so that it goes back to the pool now if it was never written.
func (bc *blockingCall) lost() {
	if q, ok := bc.rr.(requeue); ok && !bc.forget {
		q.c.forgetRoutes().kick(Future{x: bc, mode: modeRouted})
	}
}

// Reroutes takes no error reply: a blocking command's replies are its caller's.
func (requeue) Reroutes([]byte) bool { return false }

// Reroute queues the call again on the pool, if it was never written.
func (q requeue) Reroute(ctx context.Context, r Redirect) (Future, error) {
	if r.Err == nil || !errors.Is(r.Err, ErrConnLost) || q.n >= requeueMax {
		return Future{}, ErrNoReroute
	}
	if err := ended(q.ctx); err != nil {
		return Future{x: err}, nil // never written, and now never will be
	}
	if err := ended(ctx); err != nil {
		return Future{}, err
	}
	sctx := q.ctx
	if sctx == nil {
		sctx = ctx
	}
	return q.c.resendBlocking(sctx, requeue{c: q.c, n: q.n + 1, ctx: q.ctx}, r.Cmd, false), nil
}

// sendBlockingRouted is sendBlocking for a command routed by r (nil: not routed).
func (c *PairedConn) sendBlockingRouted(ctx context.Context, r Rerouter, forget bool, args []any) Future {
	cmd, err := writer.AppendArgs(nil, args...)
	if err != nil {
		return c.failed(forget, err)
	}
	return c.submitBlocking(&blockingCall{ctx: ctx, cmd: cmd, forget: forget}, r)
}

// resendBlocking is resend for a blocking command: cmd, one encoded command (copied:
// it is the Rerouter's), goes to the pool, with ASKING ahead of it on the same
// connection when asking. (ResendContext returned already for a ctx that ended.)
func (c *PairedConn) resendBlocking(ctx context.Context, r Rerouter, cmd []byte, asking bool) Future {
	bc := &blockingCall{ctx: ctx, asking: asking}
	if asking {
		bc.cmd = append(append(make([]byte, 0, len(askingCmd)+len(cmd)), askingCmd...), cmd...)
	} else {
		bc.cmd = append([]byte(nil), cmd...)
	}
	return c.submitBlocking(bc, r)
}

// submitBlocking hands bc to the pool, routed by r (nil: not routed), and returns its
// Future.
func (c *PairedConn) submitBlocking(bc *blockingCall, r Rerouter) Future {
	bc.pool, bc.rr, bc.ready = c.pool, r, make(chan struct{})
	bc.limit = blockLimit(bc.command0())
	f := Future{x: bc}
	if r != nil {
		f.mode = modeRouted
		if bc.forget {
			bc.home = c.forgetRoutes()
		}
	}
	c.pool.submit(bc)
	return f
}

// assign writes the call on dc, which the pool handed over.
func (bc *blockingCall) assign(dc *PairedConn) {
	if bc.ctx != nil && bc.ctx.Err() != nil {
		// The sender's ctx ended before a connection took the call: it is never
		// written (a BLPOP written now could pop an element that nobody reads), and
		// fails with ctx's error, not rerouted. The connection goes to the next.
		bc.err = bc.ctx.Err()
		close(bc.ready)
		if bc.forget {
			bc.pool.forgotten.Add(1)
		}
		bc.pool.put(dc)
		return
	}
	seq, cmd, err := dc.ring.Reserve(context.Background()) // an idle connection: never waits
	if err != nil {
		bc.fail(err)
		bc.lost()
		bc.pool.discard(dc)
		return
	}
	// Set after Reserve, so that InFlight stays above 0 until this reply is read: a
	// reply to an earlier command (UNWATCH) cannot hand dc back too early. blocks
	// tells the health check where the call is among the commands in flight (one
	// ahead of it, such as UNWATCH or a PING, is due its answer).
	dc.ded.blocks.add(dc.ring, blockCmd{seq: seq, limit: bc.limit})
	if h := assignHook.Load(); h != nil {
		(*h)(dc)
	}
	dc.ded.drain.Store(bc)
	*cmd = append((*cmd)[:0], bc.cmd...)
	fut := Future{r: dc.ring, seq: seq}
	if bc.asking {
		// ASKING and the command in one slot, as Resend sends them on the shared
		// connection: the Future views the command's reply (part 1).
		fut.mode, fut.part = modeBatch, 1
	}
	if bc.rr != nil {
		dc.ring.Keep(seq)
		fut.mode |= modeRouted
		fut.x = bc.rr
		if bc.forget {
			dc.forgetRoutes().keepCall(seq, bc)
		}
	}
	bc.conn, bc.fut = dc, fut
	close(bc.ready)
	var wake bool
	if bc.asking {
		wake = dc.ring.PublishMulti(seq, 2, 1) // never forgotten: only Resend asks
	} else {
		wake = dc.ring.Publish(seq, bc.forget)
	}
	if wake {
		dc.b.wake()
	}
	if dc.ring.Err() != nil && dc.ded.drain.CompareAndSwap(bc, nil) {
		// Lost before the store above: lostConn, which closed the ring first, then
		// found no call on dc and left it to its user, this call (whose Publish
		// failed). Nobody else would hand it back: the pool would keep it for good.
		bc.lost()
		bc.pool.discard(dc)
	}
}

// fail ends a call that was never written: err is why (the pool or the connection
// it was handed closed). A routed one is handed to its Rerouter by the readers of its
// Future (Redirect.Err set), or for a forgotten one by a follower of its shared
// connection's; a forgotten one whose redirect is not followed is counted.
func (bc *blockingCall) fail(err error) {
	bc.err = err
	if bc.rr != nil {
		bc.unsent = &reroute{lock: make(chan struct{}, 1)}
	}
	close(bc.ready)
	if bc.forget && (bc.home == nil || !bc.home.followBlocking(Future{x: bc, mode: modeRouted})) {
		bc.pool.forgotten.Add(1)
	}
}

// drained runs on the loop after a reply: a connection running a blocking call goes
// back to the pool once nothing is in flight on it. The call is loaded before the
// count: assign reserves its slot before it stores the call, so a call seen here
// with nothing in flight is one that was answered. (Counted first, an idle
// connection's health-check reply could find nothing in flight, then the call
// assign had just stored meanwhile, and hand the connection back with that call on
// it: put would close it, and the call, written, fail with ErrClosed.)
func (c *PairedConn) drained() {
	d := c.ded.drain.Load()
	if h := drainedHook.Load(); h != nil {
		(*h)(c)
	}
	if d != nil && c.ring.InFlight() == 0 && c.ded.drain.CompareAndSwap(d, nil) {
		if fr := c.froutes.Load(); fr != nil {
			fr.call = nil // answered: rescue will not look for it (and keeps nothing alive)
		}
		c.ded.pool.put(c)
	}
}

// drainedHook, if set (tests), runs in drained between the load of the call and the
// count of the commands in flight; assignHook in assign, between the slot's reserve
// and the store of the call.
var drainedHook, assignHook atomic.Pointer[func(*PairedConn)]

// view is Future.view for a blocking call that is not routed.
func (bc *blockingCall) view(ctx context.Context, fn func(v parser.Value, err error)) error {
	if err := bc.await(ctx); err != nil {
		return err
	}
	err := bc.fut.view(ctx, fn)
	bc.viewed(ctx, err)
	return err
}

// await waits, bounded by ctx, until the call was handed a connection (nil) or failed
// (its error). A ctx that ends first cancels the call if it still waits for a
// connection: it is never written, and fails with ctx's error.
func (bc *blockingCall) await(ctx context.Context) error {
	select {
	case <-bc.ready:
	default:
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		select {
		case <-bc.ready:
		case <-done:
			if bc.pool.cancelCall(bc, ctx.Err()) {
				return ctx.Err()
			}
			<-bc.ready // being assigned right now
		}
	}
	return bc.err
}

// viewed follows a view of the call's reply on its connection that returned err: one
// whose ctx ended before the reply came closes the connection (see above).
func (bc *blockingCall) viewed(ctx context.Context, err error) {
	if err != nil && ctx != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		bc.pool.abandon(bc)
	}
}

// command returns a copy of the call's command, without the ASKING ahead of it (a
// Redirect's Cmd).
func (bc *blockingCall) command() []byte { return append([]byte(nil), bc.command0()...) }

// command0 is the call's command, without the ASKING ahead of it (not a copy).
func (bc *blockingCall) command0() []byte {
	if bc.asking {
		return bc.cmd[len(askingCmd):]
	}
	return bc.cmd
}

// cancelCall removes a call that still waits for a connection: it is never written.
func (p *pool) cancelCall(bc *blockingCall, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w.bc == bc {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			bc.err = err
			close(bc.ready)
			return true
		}
	}
	return false
}

// abandon closes the connection of bc, a blocking call whose caller stopped waiting,
// unless its reply already came and the connection went back to the pool (and may
// run another call by now, which keeps it).
func (p *pool) abandon(bc *blockingCall) {
	if dc := bc.conn; dc.ded.drain.CompareAndSwap(bc, nil) {
		p.discard(dc)
	}
}
