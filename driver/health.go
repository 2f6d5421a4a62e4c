package driver

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The health check of a PairedConn (and of each dedicated connection): every
// Config.HealthCheck, a runtime timer (no goroutine between its firings) looks at how
// many reads the loop made on the current connection. If none since the last look, it
// sends a PING through the ring like any other command, so it jumps no queue and its
// reply is matched like any other. If still nothing was read by the next look, the
// connection is declared dead: it is closed, its written commands fail with
// ErrConnLost (wrapping ErrHealthCheck), unwritten ones wait for the reconnect, which
// starts at once. Any byte received counts as alive, so a slow but live connection (a
// big reply dripping in, replies delayed by less than the interval) is never declared
// dead. A server busy for longer than two intervals (a long script) is declared dead
// too: raise HealthCheck above the longest command you run, or turn it off.
//
// When no PING can be sent because the ring is full (or, on a dedicated connection, a
// sender holds it), the commands in flight take its place: if nothing is read by the
// next look, the connection is dead all the same.
//
// A dedicated connection running a blocking command (one of PairedConn.Send's, or one
// sent on the DedicatedConn itself) is sent no PING (it would wait behind it), nor one
// whose CLIENT REPLY is not ON (it would get no reply). The commands in flight ahead
// of the oldest blocking command, or sent before CLIENT REPLY OFF, are due their
// answers all the same, and stand for the PING; so is a PING that went out before
// either. A blocking command the server does not answer (sent while CLIENT REPLY is
// OFF, or the one a SKIP applies to) counts as running until the command answered
// after it (the ON that ends OFF, or the DedicatedConn's own ON after a SKIP) is. A
// SendBatch with commands ahead of its blocking one counts as blocking once the
// connection read anything since SendBatch was called: until then, those commands are
// due their replies. (A reply to a command sent before the batch, read after that,
// is taken for theirs: the check is then blind to the batch, never wrong about it.)
//
// That holds until the blocking command's own timeout (BLPOP's last argument, BLMPOP's
// first, XREAD's BLOCK, the last one as the server reads it, WAIT's; for a batch, and
// for blocking commands the server does not answer sent one after the other, the sum
// of theirs) ran out, counted from when the check found nothing ahead of it in flight, and a grace
// after it: the interval, at least a second. The server answers it by then (a null
// reply), so its answer (or, for one the server does not answer, that of the command
// answered after it) is then due as any other: a blocking command written just
// before the connection went silent fails with ErrConnLost within its timeout, the
// grace and two intervals, instead of waiting until its context ends. One with a
// timeout of 0 (it blocks until served), or one this driver cannot read, is due no
// answer: TCP keepalive, paced by the interval, and TCP_USER_TIMEOUT catch a peer
// that is gone under it (on Linux within 10 s at the default interval), not a path
// that still acknowledges every byte.
//
// Conn and PubsubConn have no health check (a PING reply would reach a Conn's reader;
// a subscriber may be idle for hours); their TCP sockets have the same keepalive and
// TCP_USER_TIMEOUT (Config.HealthCheck).

// ErrHealthCheck is wrapped by the ErrConnLost error of commands failed because the
// health check declared their connection dead.
var ErrHealthCheck = errors.New("respring: health check: no reply from the server")

// cancelledCtx makes the probe's Reserve give up at once when the ring is full.
var cancelledCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// health is a base's health-check state, touched by its timer's callback only (one
// firing at a time: the callback re-arms the timer last).
type health struct {
	every   time.Duration
	timer   *time.Timer
	link    *link  // the connection looked at last time
	seen    uint64 // its read count then
	probing bool   // a PING was sent (or commands were in flight) since the last read
	// probe sends the PING (see probeResult); excused, if set, reports at a look
	// that found nothing read since the probe that no answer is due after all.
	probe   func() probeResult
	excused func() bool
}

// probeResult is what a health check's probe did.
type probeResult uint8

const (
	// probeNone: no PING, and no answer is due (a blocking command runs, replies
	// are off, the connection is closing).
	probeNone probeResult = iota
	// probeSent: a PING went out.
	probeSent
	// probeBusy: no PING (the ring is full, or a sender holds the connection), but
	// commands in flight are due an answer.
	probeBusy
)

// startHealth arms the health check if the config has one and the session probes.
func (b *base) startHealth(probe func() probeResult, excused func() bool) {
	if b.cfg.HealthCheck <= 0 || probe == nil {
		return
	}
	b.mu.Lock() // the first firing reads timer under mu
	b.hc = &health{every: b.cfg.HealthCheck, probe: probe, excused: excused}
	b.hc.timer = time.AfterFunc(b.hc.every, b.healthTick)
	b.mu.Unlock()
}

// healthTick is one look at the current connection.
func (b *base) healthTick() {
	h := b.hc
	l := b.cur.Load()
	switch {
	case l == nil || !l.isOpen.Load():
		h.link = nil // reconnecting: look again later
	case l != h.link:
		h.link, h.seen, h.probing = l, l.reads.Load(), false
		h.probing = h.probe() != probeNone
	case l.reads.Load() != h.seen:
		h.seen, h.probing = l.reads.Load(), false
	case h.probing && l.outBusy.Load():
		// Still sending a large command: the server is reading, not answering yet.
		// Let the loop look at its output again (it refreshes outBusy).
		l.wake()
	case h.probing && h.excused != nil && h.excused():
		// A blocking command raced the probe's look and went out ahead of the PING
		// (or of the commands that stood for it): they wait behind it, and no
		// answer is due.
		h.probing = false
	case h.probing:
		err := fmt.Errorf("%w within %v", ErrHealthCheck, 2*h.every)
		l.drop(&err)
		h.link = nil
	default:
		h.probing = h.probe() != probeNone
	}
	b.mu.Lock()
	if !b.closed {
		h.timer.Reset(h.every)
	}
	b.mu.Unlock()
}

// stopHealth stops the timer (under b.mu, with closed set, so no firing re-arms it).
func (b *base) stopHealth() {
	if b.hc != nil {
		b.hc.timer.Stop()
	}
}

// probe sends the health check's PING on a PairedConn.
func (c *PairedConn) probe() probeResult {
	if c.closing.Load() {
		return probeNone
	}
	if d := c.ded; d != nil {
		// The PING must take its place in the CLIENT REPLY order, and get a reply:
		// under mu. A sender that holds mu (it may wait for room in a full ring)
		// marks a blocking command before it sends one, and a mode other than ON
		// before it holds replies back, so what is looked at after TryLock tells
		// either way whether the commands in flight are due an answer.
		locked := d.mu.TryLock()
		if locked {
			defer d.mu.Unlock()
		}
		if off := d.off.Load(); off != 0 {
			// No PING: it would get no reply. Commands sent before the mode
			// changed are due theirs; those sent after take none.
			if dueBeforeOff(c.ring, off) {
				return probeBusy
			}
			return probeNone
		}
		on, reads := c.readCount()
		if running, ahead, late := d.blocks.state(c.ring, on, reads); running {
			if ahead && !late {
				return probeNone // the PING would wait behind it: no answer is due
			}
			// The commands ahead of it are due an answer, or it is, past its
			// timeout.
			return c.busy()
		}
		if !locked {
			return c.busy()
		}
	}
	seq, cmd, err := c.ring.Reserve(cancelledCtx)
	if err != nil {
		return c.busy() // full (or closed): what is in flight shows whether it reads
	}
	*cmd = append((*cmd)[:0], pingCmd...)
	c.ring.Unread(seq) // its PONG is not parked when the slot is reused
	c.probeSeq.Store(seq + 1)
	if c.ring.Publish(seq, false) { // not forgotten: a failed probe is not a user's error
		c.b.wake()
	}
	return probeSent
}

// onlyOwn reports whether the commands in flight are only the driver's own, whose
// replies nobody reads: the health check's PING, and the CLIENT REPLY ON that checks a
// SKIP (confirmSkip), with no blocking command ahead of them (a dedicated connection
// may then go back to its pool: their replies go to their own slots).
func (c *PairedConn) onlyOwn() bool {
	var own [2]uint64
	n := 0
	for _, s := range [...]uint64{c.probeSeq.Load(), c.ded.skipOn.Load()} {
		if s != 0 && !c.ring.Freed(s-1) && !c.ring.Done(s-1) {
			own[n] = s - 1
			n++
		}
	}
	// Every other command is done (those the server does not answer are done once
	// written, before the loop frees them).
	if n == 0 || !c.ring.SettledExcept(own[:n]...) {
		return false
	}
	on, reads := c.readCount()
	running, _, _ := c.ded.blocks.state(c.ring, on, reads)
	return !running
}

// excused reports, at a look that found nothing read since the probe, that a
// dedicated connection owes no answer after all: nothing is in flight any more, or
// replies are off and nothing sent before that is in flight, or the oldest command in
// flight is a blocking one within its timeout (it raced the probe's look, and what
// the probe counted on waits behind it). A PING, or a command that stood for it, sent ahead of a blocking
// command is due its answer: no excuse then.
func (c *PairedConn) excused() bool {
	d := c.ded
	if d == nil {
		return false
	}
	if off := d.off.Load(); c.ring.InFlight() == 0 || (off != 0 && !dueBeforeOff(c.ring, off)) {
		return true
	}
	on, reads := c.readCount()
	_, ahead, late := d.blocks.state(c.ring, on, reads)
	return ahead && !late
}

// readCount returns the current link (nil: none) and its count of reads with bytes.
func (c *PairedConn) readCount() (*link, uint64) {
	if l := c.b.cur.Load(); l != nil {
		return l, l.reads.Load()
	}
	return nil, 0
}

// busy is probeBusy when commands are in flight (and the ring is open), else
// probeNone.
func (c *PairedConn) busy() probeResult {
	if c.ring.InFlight() > 0 && c.ring.Err() == nil {
		return probeBusy
	}
	return probeNone
}

const pingCmd = "*1\r\n$4\r\nPING\r\n"
