package driver

import (
	"context"
	"errors"

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
// ErrConnLost for any other reader): a late reply, such as an element a BLPOP popped,
// is then never handed to anybody, and nothing the server gets afterwards (an RPUSH)
// is consumed by the abandoned command.

// blockingCall is one blocking command on its way to, or running on, a pool
// connection. Fields other than ready are written before ready is closed and read
// after.
type blockingCall struct {
	pool   *pool
	cmd    []byte
	forget bool
	ready  chan struct{} // closed once assigned (fut set) or failed (err set)
	conn   *PairedConn
	fut    Future
	err    error
}

// sendBlocking queues a blocking command for the pool.
func (c *PairedConn) sendBlocking(forget bool, args []any) Future {
	cmd, err := writer.AppendArgs(nil, args...)
	if err != nil {
		return c.failed(forget, err)
	}
	bc := &blockingCall{pool: c.pool, cmd: cmd, forget: forget, ready: make(chan struct{})}
	c.pool.submit(bc)
	return Future{x: bc}
}

// assign writes the call on dc, which the pool handed over.
func (bc *blockingCall) assign(dc *PairedConn) {
	seq, cmd, err := dc.ring.Reserve(context.Background()) // an idle connection: never waits
	if err != nil {
		bc.fail(err)
		bc.pool.discard(dc)
		return
	}
	// Set after Reserve, so that InFlight stays above 0 until this reply is read: a
	// reply to an earlier command (UNWATCH) cannot hand dc back too early. blocks
	// tells the health check where the call is among the commands in flight (one
	// ahead of it, such as UNWATCH or a PING, is due its answer).
	dc.ded.blocks.add(dc.ring, seq)
	dc.ded.drain.Store(true)
	*cmd = append((*cmd)[:0], bc.cmd...)
	bc.conn, bc.fut = dc, Future{r: dc.ring, seq: seq}
	close(bc.ready)
	if dc.ring.Publish(seq, bc.forget) {
		dc.b.wake()
	}
}

// fail ends a call that was never written.
func (bc *blockingCall) fail(err error) {
	bc.err = err
	if bc.forget {
		bc.pool.forgotten.Add(1)
	}
	close(bc.ready)
}

// drained runs on the loop after a reply: a connection running a blocking call goes
// back to the pool once nothing is in flight on it.
func (c *PairedConn) drained() {
	if c.ring.InFlight() == 0 && c.ded.drain.CompareAndSwap(true, false) {
		c.ded.pool.put(c)
	}
}

// view is Future.view for a blocking call.
func (bc *blockingCall) view(ctx context.Context, fn func(v parser.Value, err error)) error {
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
	if bc.err != nil {
		return bc.err
	}
	err := bc.fut.view(ctx, fn)
	if err != nil && ctx != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		bc.pool.abandon(bc.conn)
	}
	return err
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

// abandon closes the connection of a blocking call whose caller stopped waiting, unless
// its reply already came and the connection went back to the pool.
func (p *pool) abandon(dc *PairedConn) {
	if dc.ded.drain.CompareAndSwap(true, false) {
		p.discard(dc)
	}
}
