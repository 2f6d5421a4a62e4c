package driver

import (
	"context"
	"sync"
	"sync/atomic"
)

// SendRoutedAndForget is SendAndForget for a command whose error replies r may handle
// (see Rerouter), as SendRouted's: nobody reads its reply, but when that reply is an
// error Reroutes takes, the driver follows the redirect in the background, on a
// goroutine of its own (at most forgetFollowers per connection at a time; the others
// wait their turn), within no deadline but Close's, and redirect after redirect. The
// final outcome, if it is an error (an error reply, a lost connection, Close), is
// counted in ForgottenErrors, as are SendAndForget's. Commands that do not go out on
// the shared connection as they are go as SendAndForget sends them, without
// rerouting.
func (c *PairedConn) SendRoutedAndForget(r Rerouter, args ...any) {
	c.sendRouted(r, true, args)
}

// forgetFollowers bounds the goroutines of one connection that follow the redirects
// of forgotten commands.
const forgetFollowers = 64

// forgetRoutes is a PairedConn's state for SendRoutedAndForget.
type forgetRoutes struct {
	// by holds, per ring slot, the Rerouter of the forgotten routed command in it:
	// set by the sender between Reserve and Publish, read and cleared by the loop
	// when its error reply comes (rescue), before the slot can be reserved again.
	by []Rerouter

	ctx    context.Context // ends with Close
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   []Future // redirected, waiting for a follower
	running int      // followers running

	errs atomic.Uint64 // final outcomes that were errors
}

// forgetRoutes returns c's forgetRoutes, made on first use.
func (c *PairedConn) forgetRoutes() *forgetRoutes {
	if fr := c.froutes.Load(); fr != nil {
		return fr
	}
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if fr := c.froutes.Load(); fr != nil {
		return fr
	}
	fr := &forgetRoutes{by: make([]Rerouter, c.ring.Size())}
	fr.ctx, fr.cancel = context.WithCancel(context.Background())
	if c.closing.Load() {
		fr.cancel()
	}
	c.froutes.Store(fr)
	return fr
}

// set records r for the forgotten command seq (reserved, not yet published).
func (fr *forgetRoutes) set(seq uint64, r Rerouter) {
	fr.by[seq%uint64(len(fr.by))] = r
}

// rescue is the ring's rescue (ring.SetRescue), on the loop: an error reply msg to the
// forgotten routed command seq that its Rerouter takes is followed by a follower,
// which reads it as the command's Future would.
func (c *PairedConn) rescue(seq uint64, msg []byte) bool {
	fr := c.froutes.Load()
	if fr == nil {
		return false
	}
	i := seq % uint64(len(fr.by))
	r := fr.by[i]
	fr.by[i] = nil
	if r == nil || !r.Reroutes(msg) {
		return false
	}
	fr.follow(Future{r: c.ring, seq: seq, mode: modeRouted, x: r})
	return true
}

// follow has f read by a follower: a new one if fewer than forgetFollowers run.
func (fr *forgetRoutes) follow(f Future) {
	fr.mu.Lock()
	if fr.running >= forgetFollowers {
		fr.queue = append(fr.queue, f)
		fr.mu.Unlock()
		return
	}
	fr.running++
	fr.mu.Unlock()
	go fr.run(f)
}

// run reads f, following its redirects, then the queued Futures, until none is left.
func (fr *forgetRoutes) run(f Future) {
	for {
		if err := f.Err(fr.ctx); err != nil {
			fr.errs.Add(1)
		}
		fr.mu.Lock()
		if len(fr.queue) == 0 {
			fr.running--
			if cap(fr.queue) > 1024 {
				fr.queue = nil
			}
			fr.mu.Unlock()
			return
		}
		f = fr.queue[0]
		fr.queue[0] = Future{}
		fr.queue = fr.queue[1:]
		fr.mu.Unlock()
	}
}
