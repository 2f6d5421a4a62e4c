package driver

import (
	"context"
	"errors"
	"strings"

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

// setReply sets the mode (under mu), and its mirror for the health check.
func (d *dedState) setReply(m replyMode) {
	d.reply = m
	d.replyNotOn.Store(m != replyOn)
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
		return d.sendingBlocking(func() Future { return c.sendMode(ctx, forget, noReply, args) })
	}
	return c.sendMode(ctx, forget, noReply, args)
}

// blockSending is dedState.blockSeq while a blocking command is being sent.
const blockSending = ^uint64(0)

// sendingBlocking runs send, which sends a blocking command (or a batch with one) on
// the dedicated connection, under mu, and marks it in flight for the health check
// (see blockingInFlight).
func (d *dedState) sendingBlocking(send func() Future) Future {
	prev := d.blockSeq.Swap(blockSending)
	f := send()
	if f.x == nil && f.r != nil {
		d.blockSeq.Store(f.seq + 1)
	} else {
		d.blockSeq.Store(prev) // not sent: an earlier one may still run
	}
	return f
}

// blockingInFlight reports whether a blocking command sent on the connection (not one
// of PairedConn.Send's blocking calls, which set drain) may still be running: being
// sent (unless the ring is full: then its sender still waits for room, and what is in
// flight is due an answer), or not over. Any goroutine.
func (d *dedState) blockingInFlight(r *ring.Ring) bool {
	bs := d.blockSeq.Load()
	switch {
	case bs == 0:
		return false
	case bs == blockSending:
		return r.InFlight() < r.Size()
	case r.Freed(bs-1) || r.Done(bs-1):
		d.blockSeq.CompareAndSwap(bs, 0)
		return false
	}
	return true
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
		return c.sendMode(ctx, forget, true, args)
	case "SKIP":
		noReply := true
		if d.reply != replyOff {
			d.setReply(replySkip)
		}
		return c.sendMode(ctx, forget, noReply, args)
	}
	// Anything else is a syntax error the server answers (and that changes nothing).
	return c.sendMode(ctx, forget, d.reply != replyOn, args)
}
