package driver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/respring/respring/ring"
)

// CLIENT REPLY on a DedicatedConn. The server answers nothing while CLIENT REPLY is
// OFF, nor the command after a SKIP (nor the OFF and SKIP commands themselves); ON
// answers OK. The DedicatedConn follows the mode in the order commands enter the ring,
// so a command the server will not answer takes no reply (its Future is done with a
// null value once it is written) and every other command still gets its own reply. A
// connection returned with CLIENT REPLY not ON is closed rather than reused.

// replyMode is the server's CLIENT REPLY state for the next command.
type replyMode uint8

const (
	replyOn   replyMode = iota
	replyOff            // until CLIENT REPLY ON
	replySkip           // the next command only
)

// errReplyOff is the error of SendBatch and SendTx while CLIENT REPLY is not ON: a
// batch's commands would be answered only in part.
var errReplyOff = errors.New("respring: CLIENT REPLY is OFF or SKIP on this DedicatedConn: SendBatch and SendTx need every reply (send CLIENT REPLY ON first)")

// setReply sets the mode (under mu), and its mirrors for the health check: leaving ON,
// offFrom is unknown (offUnknown) until the OFF or SKIP command is in the ring
// (offAt).
func (d *dedState) setReply(m replyMode) {
	if m != replyOn && d.reply == replyOn {
		d.offFrom.Store(offUnknown)
	}
	d.reply = m
	d.replyNotOn.Store(m != replyOn)
}

// offUnknown is dedState.offFrom while the command that turns replies off is being
// sent: every command in flight then came before it.
const offUnknown = ^uint64(0)

// offAt records f, the CLIENT REPLY OFF or SKIP command that turned replies off, as
// where the commands that take no reply start (under mu).
func (d *dedState) offAt(f Future) {
	if f.x == nil && f.r != nil && d.offFrom.Load() == offUnknown {
		d.offFrom.Store(f.seq)
	}
}

// dueBeforeOff reports, while CLIENT REPLY is not ON, whether a command sent before it
// was turned off is still in flight: it is due its reply. Any goroutine.
func (d *dedState) dueBeforeOff(r *ring.Ring) bool {
	if r.InFlight() == 0 || r.Err() != nil {
		return false
	}
	from := d.offFrom.Load()
	return from == offUnknown || (from > 0 && !r.Freed(from-1))
}

// replyOn reports whether the connection is in its normal reply mode.
func (d *dedState) replyOn() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reply == replyOn
}

// sendDedicated is send on a dedicated connection: under the connection's lock, so
// that CLIENT REPLY modes and ring order agree.
func (c *PairedConn) sendDedicated(ctx context.Context, forget bool, args []any) Future {
	d := c.ded
	d.mu.Lock()
	defer d.mu.Unlock()
	cls, use := classify(args)
	switch cls {
	case clsReply:
		return c.sendReplyMode(ctx, forget, args)
	case clsPlain, clsBlocking:
	case clsWatch:
		d.watched.Store(true)
	case clsEmpty:
		return c.failed(forget, errEmptyCommand)
	default:
		return c.failed(forget, refusal(args, use, "a dedicated connection"))
	}
	noReply := d.reply != replyOn
	if d.reply == replySkip {
		d.setReply(replyOn)
	}
	if cls == clsBlocking {
		return d.sendingBlocking(c.ring, func() Future { return c.sendMode(ctx, forget, noReply, args) })
	}
	return c.sendMode(ctx, forget, noReply, args)
}

// sendingBlocking runs send, which sends a blocking command (or a batch with one) on
// the dedicated connection, under mu, and tracks it for the health check (blockTrack).
func (d *dedState) sendingBlocking(r *ring.Ring, send func() Future) Future {
	d.blocks.sending.Store(true)
	f := send()
	if f.x == nil && f.r != nil {
		d.blocks.add(r, f.seq)
	}
	d.blocks.sending.Store(false)
	return f
}

// blockTrack follows the blocking commands of a dedicated connection for its health
// check: those sent that may still run, in order, and whether one is being sent.
type blockTrack struct {
	mu      sync.Mutex
	seqs    []uint64 // sent, oldest first, until over (prune)
	sending atomic.Bool
}

// add records seq, a blocking command just published on r.
func (b *blockTrack) add(r *ring.Ring, seq uint64) {
	b.mu.Lock()
	b.prune(r)
	b.seqs = append(b.seqs, seq)
	b.mu.Unlock()
}

// prune drops the commands over (answered, failed, or freed and their slot reused)
// from the front; under mu. Replies come in order, so those behind wait their turn.
func (b *blockTrack) prune(r *ring.Ring) {
	i := 0
	for i < len(b.seqs) && (r.Freed(b.seqs[i]) || r.Done(b.seqs[i])) {
		i++
	}
	if i > 0 {
		b.seqs = b.seqs[:copy(b.seqs, b.seqs[i:])]
	}
}

// state reports whether a blocking command may be running on the connection (one
// sent and not over, or one being sent while the ring has room: in a full ring its
// sender waits, and what is in flight is due an answer), and whether the oldest
// command in flight is one of them: nothing is then due an answer, since everything
// else waits behind it on the server. Any goroutine.
func (b *blockTrack) state(r *ring.Ring) (running, ahead bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(r)
	if len(b.seqs) > 0 {
		h := b.seqs[0]
		return true, !r.Freed(h) && (h == 0 || r.Freed(h-1))
	}
	return b.sending.Load() && r.InFlight() < r.Size(), false
}

// sendReplyMode sends CLIENT REPLY ON, OFF or SKIP and follows the mode (under d.mu).
func (c *PairedConn) sendReplyMode(ctx context.Context, forget bool, args []any) Future {
	d := c.ded
	mode := ""
	if len(args) == 3 {
		switch a := args[2].(type) {
		case string:
			mode = strings.ToUpper(a)
		case []byte:
			mode = strings.ToUpper(string(a))
		}
	}
	switch mode {
	case "ON":
		d.setReply(replyOn)
		return c.sendMode(ctx, forget, false, args) // answered OK whatever came before
	case "OFF":
		d.setReply(replyOff)
		f := c.sendMode(ctx, forget, true, args)
		d.offAt(f)
		return f
	case "SKIP":
		noReply := true
		if d.reply != replyOff {
			d.setReply(replySkip)
		}
		f := c.sendMode(ctx, forget, noReply, args)
		d.offAt(f)
		return f
	}
	// Anything else is a syntax error the server answers (and that changes nothing).
	return c.sendMode(ctx, forget, d.reply != replyOn, args)
}
