package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respring/respring/parser"
)

// DedicatedConn is a connection that no other caller uses while the fn given to
// PairedConn.Dedicated runs: WATCH ... SendTx, and blocking commands, run on it
// directly. It has the methods of PairedConn for sending; it must not be used after fn
// returned (ErrClosed). If its connection breaks, it is not re-established under fn
// (WATCH and other state would be silently lost): every command in flight or sent later
// fails with an error matching ErrConnLost, and the pool replaces the connection.
type DedicatedConn struct {
	c    *PairedConn
	over atomic.Bool
}

// errDedicatedOver is the error of a DedicatedConn used after its Dedicated call
// returned.
var errDedicatedOver = fmt.Errorf("%w: DedicatedConn used after its Dedicated call returned", ErrClosed)

// Send queues one command on the dedicated connection (as PairedConn.Send).
func (d *DedicatedConn) Send(args ...any) Future {
	if d.over.Load() {
		return Future{x: errDedicatedOver}
	}
	return d.c.send(context.Background(), false, args)
}

// SendAndForget queues one command whose reply nobody will read (as
// PairedConn.SendAndForget); its failures are counted in the PairedConn's
// ForgottenErrors.
func (d *DedicatedConn) SendAndForget(args ...any) {
	if d.over.Load() {
		d.c.encErrs.Add(1)
		return
	}
	d.c.send(context.Background(), true, args)
}

// Do sends one command and waits for its reply (as PairedConn.Do).
func (d *DedicatedConn) Do(ctx context.Context, args ...any) (parser.Value, error) {
	if d.over.Load() {
		return parser.Value{}, errDedicatedOver
	}
	return d.c.send(ctx, false, args).Wait(ctx)
}

// SendBatch writes b's commands contiguously (as PairedConn.SendBatch; blocking
// commands and WATCH are allowed here).
func (d *DedicatedConn) SendBatch(dst []Future, b *Batch) []Future {
	if d.over.Load() {
		return appendFailed(dst, b.Len(), errDedicatedOver)
	}
	if b.has(clsWatch) {
		d.c.ded.watched.Store(true)
	}
	d.c.ded.mu.Lock()
	defer d.c.ded.mu.Unlock()
	if d.c.ded.reply != replyOn {
		return appendFailed(dst, b.Len(), errReplyOff)
	}
	if b.has(clsBlocking) && b.n > 0 {
		n := len(dst)
		on, reads := d.c.readCount()
		lead := blockCmd{lead: b.special[clsBlocking] > 1, on: on, reads: reads, limit: blockLimit(b.buf)} // replies are on
		d.c.ded.sendingBlocking(d.c.ring, lead, func() Future {
			dst = d.c.SendBatch(dst, b)
			return dst[n] // the batch's slot
		})
		return dst
	}
	return d.c.SendBatch(dst, b)
}

// SendTx writes MULTI, b's commands and EXEC contiguously (as PairedConn.SendTx).
// After WATCH on this connection, a transaction whose watched keys changed fails every
// Future with ErrWatchConflict.
func (d *DedicatedConn) SendTx(dst []Future, b *Batch) []Future {
	if d.over.Load() {
		return appendFailed(dst, b.Len(), errDedicatedOver)
	}
	d.c.ded.mu.Lock()
	defer d.c.ded.mu.Unlock()
	if d.c.ded.reply != replyOn {
		return appendFailed(dst, b.Len(), errReplyOff)
	}
	return d.c.SendTx(dst, b)
}

// Dedicated runs fn with a connection that no other caller uses meanwhile, taken from
// a small pool owned by c (Config.DedicatedPoolSize connections at most, dialled
// lazily on the same event loops, with the same handshake, and one CLIENT REPLY ON to
// learn whether the server takes CLIENT REPLY there; idle ones are closed after
// Config.DedicatedIdleTimeout). When every connection of the pool is in use, Dedicated
// waits for one, bounded by ctx (which bounds that wait only; a ctx that has ended
// already runs nothing, and Dedicated returns its error). It returns fn's error.
//
// When fn returns, the connection goes back to the pool: after an UNWATCH if fn sent
// WATCH, so the next user never inherits a watch. A connection returned with commands
// still in flight (Futures not waited for, SendAndForget commands not yet answered), a
// broken one, or one whose fn panicked, is closed instead; its commands in flight fail
// with ErrClosed. Wait for what fn sends before it returns. (The driver's own commands
// in flight, whose replies nobody reads, do not count: the health check's PING, and
// the CLIENT REPLY ON that checks a SKIP, unless a blocking command runs ahead of it.)
func (c *PairedConn) Dedicated(ctx context.Context, fn func(d *DedicatedConn) error) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if err := ended(ctx); err != nil {
		return err
	}
	if c.pool == nil {
		return errors.New("respring: Dedicated on a dedicated connection")
	}
	dc, err := c.pool.get(ctx)
	if err != nil {
		return err
	}
	d := &DedicatedConn{c: dc}
	clean := false
	defer func() {
		d.over.Store(true)
		if clean {
			c.pool.put(dc)
		} else {
			c.pool.discard(dc)
		}
	}()
	err = fn(d)
	clean = true
	return err
}

// dedState is what a PairedConn that belongs to a pool has beyond a shared one.
type dedState struct {
	// mu orders every command of the connection with its CLIENT REPLY mode: whether
	// the server will answer a command depends on the CLIENT REPLY commands before it
	// in the ring (see sendDedicated).
	mu    sync.Mutex
	reply replyMode // under mu; set with setReply
	// replyErr is why the handshake's CLIENT REPLY probe found the server not to
	// take CLIENT REPLY (probeReplySkip), nil if it does: OFF and SKIP are refused
	// with it (see sendReplyMode). Set before the connection is used.
	replyErr error
	// off mirrors reply for the health check, which does not wait for mu, in one
	// word: 0 while replies are ON; else 1 + the sequence number of the command that
	// turned them off, or offUnknown while it is being sent. Commands before it are
	// due their replies, those from it on take none (see dueBeforeOff).
	off atomic.Uint64
	// offs lists, oldest first, the CLIENT REPLY OFF and SKIP commands that turned
	// replies off and whose first reply after them, which only ON's OK may be, the
	// loop has not checked yet (see checkOff): several when OFF/ON rounds are sent
	// without waiting.
	offs offChecks
	// skipSeq is 1 + the sequence number of the CLIENT REPLY SKIP sent while
	// replies were ON, whose check (an entry on offs) waits for the command it
	// applies to; 0 if none. Under mu.
	skipSeq uint64
	// skipOn is 1 + the sequence number of confirmSkip's last ON (see onlyOwn).
	skipOn atomic.Uint64
	// blocks tracks the blocking commands sent on the connection, by the
	// DedicatedConn (Send, Do, SendBatch) or for a PairedConn.Send (blocking.go):
	// the health check does not probe behind one, nor take its silence for death.
	blocks blockTrack

	pool    *pool
	dead    atomic.Bool // its connection was lost: never reused
	watched atomic.Bool // WATCH was sent since it was last reset
	// drain is the blocking call (for a PairedConn.Send) the connection runs, nil
	// when none: the loop gives it back to the pool when its last reply came (see
	// deliver), or the call's reader closes it (abandon), whichever takes drain
	// first. A call, not a flag, so that a reader late to abandon its call cannot
	// take the connection from the next call it was handed to.
	drain atomic.Pointer[blockingCall]
	timer *time.Timer // closes it after DedicatedIdleTimeout in the idle list (under pool.mu)
}

// pool is a PairedConn's bounded pool of dedicated connections, for Dedicated and for
// the blocking commands sent through Send. Connections are dialled lazily, one dial per
// waiter up to the bound, each by a goroutine that lives only while it dials.
type pool struct {
	cfg       Config // the parent's
	forgotten atomic.Uint64

	mu      sync.Mutex
	idle    []*PairedConn // most recently used last
	all     map[*PairedConn]struct{}
	opening int // dials under way
	waiters []*poolWaiter
	closed  bool
	// gen counts the retires: a dial that began before one (it may have resolved the
	// old server) is closed and made again.
	gen uint64
	// brief counts the pool's connections lost soon after they were made, in a
	// row (see briefRun): a server that drops every connection is not dialled in a
	// loop while calls wait.
	brief  briefRun
	ctx    context.Context // cancelled by close: ends the dials
	cancel context.CancelFunc
	dials  sync.WaitGroup
}

// poolWaiter waits for a connection: a Dedicated caller (ch) or a blocking call (bc).
type poolWaiter struct {
	ch chan *PairedConn // capacity 1; nil is sent when the pool closes
	bc *blockingCall
}

func newPool(cfg Config) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &pool{cfg: cfg, all: map[*PairedConn]struct{}{}, ctx: ctx, cancel: cancel}
}

// get returns a connection for a Dedicated caller, waiting bounded by ctx.
func (p *pool) get(ctx context.Context) (*PairedConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if dc := p.popIdleLocked(); dc != nil {
		p.mu.Unlock()
		return dc, nil
	}
	w := &poolWaiter{ch: make(chan *PairedConn, 1)}
	p.waiters = append(p.waiters, w)
	p.growLocked()
	p.mu.Unlock()
	select {
	case dc := <-w.ch:
		if dc == nil {
			return nil, ErrClosed
		}
		return dc, nil
	case <-ctx.Done():
		p.mu.Lock()
		removed := p.removeWaiterLocked(w)
		p.mu.Unlock()
		if !removed { // handed a connection meanwhile: give it back
			if dc := <-w.ch; dc != nil {
				p.put(dc)
			}
		}
		return nil, ctx.Err()
	}
}

// submit runs a blocking call on a connection of the pool, now or when one is free.
func (p *pool) submit(bc *blockingCall) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		bc.fail(ErrClosed)
		return
	}
	if dc := p.popIdleLocked(); dc != nil {
		p.mu.Unlock()
		bc.assign(dc)
		return
	}
	p.waiters = append(p.waiters, &poolWaiter{bc: bc})
	p.growLocked()
	p.mu.Unlock()
}

// popIdleLocked takes the most recently used idle connection, or nil.
func (p *pool) popIdleLocked() *PairedConn {
	for len(p.idle) > 0 {
		dc := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		dc.ded.timer.Stop()
		if dc.ded.dead.Load() { // lost while idle: down removed it from all
			continue
		}
		return dc
	}
	return nil
}

// growLocked starts a dial if waiters outnumber the dials under way and the bound
// allows another connection.
func (p *pool) growLocked() {
	if p.closed || p.opening >= len(p.waiters) || len(p.all)+p.opening >= p.cfg.DedicatedPoolSize {
		return
	}
	p.opening++
	p.dials.Add(1)
	go p.dial()
}

// dial opens one connection for the waiters, retrying with backoff while some still
// wait for it.
func (p *pool) dial() {
	defer p.dials.Done()
	delay := p.cfg.ReconnectMin
	p.mu.Lock()
	pause := p.brief.pause(&p.cfg)
	p.mu.Unlock()
	if pause > 0 {
		t := time.NewTimer(jittered(pause))
		select {
		case <-p.ctx.Done(): // the dial below fails at once
			t.Stop()
		case <-t.C:
		}
	}
	for {
		p.mu.Lock()
		gen := p.gen
		p.mu.Unlock()
		dc, err := newDedicated(p.ctx, p)
		p.mu.Lock()
		if err == nil && p.gen != gen && !p.closed {
			// Retired while it was dialled (Reconnect: the server changed, a
			// failover): it may be on the old one. Dialled again.
			p.mu.Unlock()
			p.closeConn(dc)
			continue
		}
		if err == nil {
			p.opening--
			if p.closed {
				p.mu.Unlock()
				p.closeConn(dc)
				return
			}
			p.all[dc] = struct{}{}
			p.mu.Unlock()
			p.put(dc)
			return
		}
		if p.closed || p.opening > len(p.waiters) {
			p.opening--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		t := time.NewTimer(jittered(delay))
		select {
		case <-p.ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(2*delay, p.cfg.ReconnectMax)
	}
}

// put gives a connection back: to the first waiter, else to the idle list. A broken
// one, or one with commands in flight (but for a health check's PING, whose reply
// goes to its own slot), is closed instead. It may run on an event loop (a blocking
// call's reply came): it never blocks there.
func (p *pool) put(dc *PairedConn) {
	if dc.ded.dead.Load() || !(dc.ring.Settled() || dc.onlyOwn()) || !dc.ded.replyOn() {
		p.discard(dc)
		return
	}
	if dc.ded.watched.Swap(false) {
		// Pipelined ahead of the next user's commands: nobody inherits the watch.
		dc.sendPlain(context.Background(), true, []any{"UNWATCH"})
	}
	if h := putPause.Swap(nil); h != nil {
		(*h)()
	}
	p.mu.Lock()
	if p.closed || dc.ded.dead.Load() {
		// dead again, under mu: retire (Reconnect) sets it under mu, and a caller
		// that sent a blocking command after Reconnect returned waits here; it
		// must not be handed a connection to the old server.
		p.mu.Unlock()
		p.discard(dc)
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		if w.bc != nil {
			w.bc.assign(dc)
		} else {
			w.ch <- dc
		}
		return
	}
	p.idle = append(p.idle, dc)
	if dc.ded.timer == nil {
		dc.ded.timer = time.AfterFunc(p.cfg.DedicatedIdleTimeout, func() { p.expire(dc) })
	} else {
		dc.ded.timer.Reset(p.cfg.DedicatedIdleTimeout)
	}
	p.mu.Unlock()
}

// putPause, set by a test, runs once in put between its first look at the connection
// and taking the pool's lock (where Reconnect may retire it).
var putPause atomic.Pointer[func()]

// expire closes dc if it is still idle (its idle timer fired).
func (p *pool) expire(dc *PairedConn) {
	p.mu.Lock()
	for i, x := range p.idle {
		if x == dc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			delete(p.all, dc)
			p.brief = 0 // it lived long enough
			p.mu.Unlock()
			p.closeConn(dc)
			return
		}
	}
	p.mu.Unlock()
}

// discard drops dc from the pool and closes it; a waiter may get a new dial.
func (p *pool) discard(dc *PairedConn) {
	p.mu.Lock()
	_, mine := p.all[dc]
	delete(p.all, dc)
	for i, x := range p.idle {
		if x == dc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.growLocked()
	p.mu.Unlock()
	if mine {
		// Closing may wait for the engine's lock: never on an event loop.
		go p.closeConn(dc)
	}
}

// retire makes every connection of the pool one that is not reused: the idle ones
// are closed now, those in use when they come back (PairedConn.Reconnect: the server
// changed, so must the pool's connections).
func (p *pool) retire() {
	p.mu.Lock()
	p.gen++
	idle := append([]*PairedConn(nil), p.idle...)
	for dc := range p.all {
		dc.ded.dead.Store(true)
	}
	p.mu.Unlock()
	for _, dc := range idle {
		p.discard(dc)
	}
}

// lostConn runs on the loop when dc's connection broke: dc is never reused.
func (p *pool) lostConn(dc *PairedConn) {
	dc.ded.dead.Store(true)
	p.mu.Lock()
	idle := false
	for _, x := range p.idle {
		idle = idle || x == dc
	}
	p.mu.Unlock()
	bc := dc.ded.drain.Load()
	if idle || bc != nil {
		// Nobody will hand it back: an idle one, or one running a blocking call
		// (whose Future already has ErrConnLost, or, never written, goes back to
		// the pool).
		if bc != nil {
			bc.lost()
		}
		p.discard(dc)
	}
}

// closeConn closes a connection of the pool at once (no wait for commands in flight)
// and keeps its count of forgotten errors.
func (p *pool) closeConn(dc *PairedConn) {
	if dc.closing.Swap(true) {
		return
	}
	p.mu.Lock()
	if dc.ded.timer != nil {
		dc.ded.timer.Stop()
	}
	p.mu.Unlock()
	dc.ring.Close(ErrClosed)
	dc.b.close()
	p.forgotten.Add(dc.ForgottenErrors())
}

// removeWaiterLocked removes w from the waiters and reports whether it was there.
func (p *pool) removeWaiterLocked(w *poolWaiter) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// forgottenErrors counts the failed SendAndForget commands of the pool's connections.
func (p *pool) forgottenErrors() uint64 {
	p.mu.Lock()
	n := p.forgotten.Load()
	for dc := range p.all {
		n += dc.ForgottenErrors()
	}
	p.mu.Unlock()
	return n
}

// close fails every waiter with ErrClosed and closes every connection, idle or in use.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.cancel()
	waiters, conns := p.waiters, make([]*PairedConn, 0, len(p.all))
	for dc := range p.all {
		conns = append(conns, dc)
	}
	p.waiters, p.idle, p.all = nil, nil, map[*PairedConn]struct{}{}
	p.mu.Unlock()
	for _, w := range waiters {
		if w.bc != nil {
			w.bc.fail(ErrClosed)
		} else {
			w.ch <- nil
		}
	}
	p.dials.Wait()
	for _, dc := range conns {
		p.closeConn(dc)
	}
}

// newDedicated dials one connection of pool p.
func newDedicated(ctx context.Context, p *pool) (*PairedConn, error) {
	c := newPaired(p.cfg)
	c.ded = &dedState{pool: p}
	c.b.halted = true // never re-established: its state (WATCH) would be lost
	c.b.down = func(err error) {
		// Counted before its calls fail: a caller's next call, dialled at once,
		// must see it.
		p.mu.Lock()
		p.brief.lost(&p.cfg, c.b.upAt, false) // down runs under c.b.mu
		p.mu.Unlock()
		c.ring.Close(&connLostError{cause: err})
		p.lostConn(c)
	}
	// Whether the server takes CLIENT REPLY here: checked once, in the handshake (see
	// probeReplySkip), so that OFF and SKIP never meet a reply where none is due.
	cfg := p.cfg
	pr := &skipProbe{}
	cfg.skipProbe = pr
	if err := c.b.start(ctx, cfg, c); err != nil {
		return nil, err
	}
	c.ded.replyErr = pr.refused
	c.ded.blocks.grace = max(p.cfg.HealthCheck, time.Second)
	c.b.startHealth(c.probe, c.excused)
	return c, nil
}
