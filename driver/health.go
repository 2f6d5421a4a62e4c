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
// A dedicated connection running a blocking command is not probed (the PING would wait
// behind it). Conn and PubsubConn have no health check (a PING reply would reach a
// Conn's reader; a subscriber may be idle for hours); their sockets have TCP
// keepalive.

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
	probing bool   // a PING was sent since the last read
	// probe sends the PING; false when it cannot (ring full, blocking command).
	probe func() bool
}

// startHealth arms the health check if the config has one and the session probes.
func (b *base) startHealth(probe func() bool) {
	if b.cfg.HealthCheck <= 0 || probe == nil {
		return
	}
	b.mu.Lock() // the first firing reads timer under mu
	b.hc = &health{every: b.cfg.HealthCheck, probe: probe}
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
		h.probing = h.probe()
	case l.reads.Load() != h.seen:
		h.seen, h.probing = l.reads.Load(), false
	case h.probing && l.outBusy.Load():
		// Still sending a large command: the server is reading, not answering yet.
		// Let the loop look at its output again (it refreshes outBusy).
		l.wake()
	case h.probing:
		err := fmt.Errorf("%w within %v", ErrHealthCheck, 2*h.every)
		l.failed.CompareAndSwap(nil, &err)
		l.close()
		h.link = nil
	default:
		h.probing = h.probe()
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
func (c *PairedConn) probe() bool {
	if c.closing.Load() || (c.ded != nil && c.ded.drain.Load()) {
		return false
	}
	if d := c.ded; d != nil {
		// The PING must take its place in the CLIENT REPLY order, and get a reply.
		if !d.mu.TryLock() {
			return false
		}
		defer d.mu.Unlock()
		if d.reply != replyOn {
			return false
		}
	}
	seq, cmd, err := c.ring.Reserve(cancelledCtx)
	if err != nil {
		return false // full: commands in flight will show whether it reads
	}
	*cmd = append((*cmd)[:0], pingCmd...)
	if c.ring.Publish(seq, false) { // not forgotten: a failed probe is not a user's error
		c.b.wake()
	}
	return true
}

const pingCmd = "*1\r\n$4\r\nPING\r\n"
