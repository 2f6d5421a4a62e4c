package driver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// SendRoutedAndForget is SendAndForget for a command whose error replies r may handle
// (see Rerouter), as SendRouted's: nobody reads its reply, but when that reply is an
// error Reroutes takes, or Close fails the command before it was written, the driver
// follows the redirect in the background, redirect after redirect, on a goroutine of
// its own: at most 64 per connection at a time, with one waiting its turn per slot
// of the ring; a redirect beyond those is not followed. The final outcome, if it is
// an error (an error reply, a redirect not followed, a lost connection, Close), is
// counted in ForgottenErrors, as are SendAndForget's. Close waits for the redirects
// being followed up to Config.CloseTimeout, then stops them: a command whose redirect
// was sent and not yet answered then counts as failed, though it may run (one whose
// Reroute was still waiting for room in a full ring was not sent, and counts as
// failed too). A blocking command runs on the dedicated pool, as SendAndForget runs
// it, and its redirects are followed in the same way, each by a goroutine of its own
// until the command sent again is answered (not by the followers the others share,
// which a BLPOP ... 0 would hold; Close stops it as any follower: that command is
// then never written, or the pool connection it waits on is closed). Commands refused on the shared connection, and all commands
// when r is nil, go as SendAndForget sends them, without rerouting.
func (c *PairedConn) SendRoutedAndForget(r Rerouter, args ...any) {
	c.sendRouted(context.Background(), r, true, args)
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
	// call is, on a connection of the dedicated pool (which runs one blocking call
	// of its PairedConn's at a time, see blocking.go), the forgotten routed call it
	// runs, in its slot callSeq: set by assign before Publish, read and cleared by
	// the loop's rescue, which hands a redirect to the shared connection's
	// followers (the call's home).
	call    *blockingCall
	callSeq uint64

	ctx    context.Context // ends with Close
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   []Future // redirected, waiting for a follower (at most len(by))
	running int      // followers running
	stopped bool     // Close began to wait for the followers: no more start
	wg      sync.WaitGroup

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
	fr := &forgetRoutes{}
	if c.ded == nil { // a dedicated connection's has only call
		fr.by = make([]Rerouter, c.ring.Size())
	}
	fr.ctx, fr.cancel = context.WithCancel(context.Background())
	c.froutes.Store(fr)
	if c.closing.Load() {
		// Close may have looked for froutes before the Store: nothing waits for
		// followers then, so none starts.
		fr.mu.Lock()
		fr.stopped = true
		fr.mu.Unlock()
		fr.cancel()
	}
	return fr
}

// set records r for the forgotten command seq (reserved, not yet published).
func (fr *forgetRoutes) set(seq uint64, r Rerouter) {
	fr.by[seq%uint64(len(fr.by))] = r
}

// keepCall records bc, the forgotten routed blocking call published next in slot seq
// of the dedicated connection fr belongs to.
func (fr *forgetRoutes) keepCall(seq uint64, bc *blockingCall) {
	fr.call, fr.callSeq = bc, seq
}

// rescue is the ring's rescue (ring.SetRescue): an error reply msg to the forgotten
// routed command seq that its Rerouter takes, or (msg nil) the command's failure by
// Close before it was written, is followed by a follower, which reads it as the
// command's Future would (Reroute is given Redirect.Err for the latter).
func (c *PairedConn) rescue(seq uint64, msg []byte) bool {
	fr := c.froutes.Load()
	if fr == nil {
		return false
	}
	if c.ded != nil {
		// A connection of the dedicated pool: its forgotten routed blocking call,
		// whose redirects its shared connection's followers follow.
		bc := fr.call
		if bc == nil || fr.callSeq != seq {
			return false
		}
		fr.call = nil
		if msg != nil && !bc.rr.Reroutes(msg) {
			return false
		}
		return bc.home.followBlocking(Future{x: bc, mode: modeRouted})
	}
	i := seq % uint64(len(fr.by))
	r := fr.by[i]
	fr.by[i] = nil
	if r == nil || (msg != nil && !r.Reroutes(msg)) {
		return false
	}
	return fr.follow(Future{r: c.ring, seq: seq, mode: modeRouted, x: r})
}

// follow has f read by a follower: a new one if fewer than forgetFollowers run, else
// one that runs, once it is done with those queued before. It reports false when the
// queue is full: the redirect is not followed (a result queued longer than a ring's
// worth of later commands would expire anyway).
func (fr *forgetRoutes) follow(f Future) bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.stopped {
		return false // a Publish that raced Close: counted at once
	}
	if fr.running >= forgetFollowers {
		if len(fr.queue) >= len(fr.by) {
			return false
		}
		fr.queue = append(fr.queue, f)
		return true
	}
	fr.running++
	fr.wg.Add(1)
	go fr.run(f)
	return true
}

// followBlocking has f, the redirect of a forgotten blocking call, read by a goroutine
// of its own, not by one of the forgetFollowers: the command sent again may wait on
// its server for as long as it blocks (BLPOP ... 0), and 64 of them would hold every
// follower, leaving the other forgotten redirects unfollowed. There is one such
// goroutine per forgotten blocking call being followed, as there is one pool
// connection, or one place in a pool's queue, per call; Close stops them as the
// followers (stop). It reports false once Close began.
func (fr *forgetRoutes) followBlocking(f Future) bool { return fr.readBlocking(f, true) }

// kick has f, a blocking call of Send's (routed by requeue, not forgotten) whose pool
// connection was lost with it on board, read at once by a goroutine of its own, as
// followBlocking does, so that a call never written goes back to the pool now rather
// when its Future is read (its readers share that Reroute, see viewRouted); its
// errors are its readers', not counted.
func (fr *forgetRoutes) kick(f Future) { fr.readBlocking(f, false) }

// readBlocking is followBlocking and kick; count counts an error outcome.
func (fr *forgetRoutes) readBlocking(f Future, count bool) bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.stopped {
		return false
	}
	fr.wg.Add(1)
	go func() {
		defer fr.wg.Done()
		if err := f.Err(fr.ctx); err != nil && count {
			fr.errs.Add(1)
		}
	}()
	return true
}

// stop waits for the followers until deadline, then stops them and waits for them to
// end (Close).
func (fr *forgetRoutes) stop(deadline time.Time) {
	fr.mu.Lock()
	fr.stopped = true
	fr.mu.Unlock()
	done := make(chan struct{})
	go func() {
		fr.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		fr.cancel()
		<-done
	}
	fr.cancel()
}

// run reads f, following its redirects, then the queued Futures, until none is left.
func (fr *forgetRoutes) run(f Future) {
	defer fr.wg.Done()
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
