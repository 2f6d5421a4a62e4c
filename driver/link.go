package driver

import (
	"errors"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/panjf2000/gnet/v2"
	"github.com/respring/respring/parser"
)

// ownedMin is the payload size from which a reply read into a buffer the link then
// drops is handed over to the session instead of copied (see link.lend).
const ownedMin = 128 << 10

// session is what a link serves: the state of a PairedConn, Conn or PubsubConn that
// outlives any one connection. Its loop-side methods run on the event loop and must
// never block.
type session interface {
	// collect appends the commands waiting to be written to dst. With big > 0 it may
	// instead reference commands of big bytes or more in vec, which is then the whole
	// batch (see ring.CollectVec); sessions without large commands ignore it.
	collect(dst []byte, vec [][]byte, big int) ([]byte, [][]byte)
	// deliver takes one parsed top-level value; it may alias the read buffer only for
	// the duration of the call. An error drops the connection.
	deliver(v parser.Value) error
	// deliverOwned is deliver for a value whose memory the session may keep: the link
	// never reuses the buffer it aliases. With buf, v is the last value of buf, a
	// pooled buffer (bigbuf.go) the session gives back when it lets go of v; kept says
	// whether it took v (and buf) that way, or copied or dropped v as deliver does.
	deliverOwned(v parser.Value, buf []byte) (kept bool, err error)
	// hold says the link keeps referencing what the last collect put in vec after
	// returning to the loop (the socket did not take it all); wrote that it no
	// longer references anything collect gave it (written, or dropped with the
	// connection), called after every write with a non-empty vec. See ring.Hold and
	// ring.Wrote; sessions whose collect never fills vec ignore them.
	hold()
	wrote()
	// lost is told that the connection l is gone and why.
	lost(l *link, err error)
}

// link is one live connection on the event loop. Senders read gc and waker only after
// isOpen published them (opened sets them first); the atomics are shared; everything
// else is touched by the loop goroutine only.
type link struct {
	sess   session
	addr   string // the address dialled (see dial); set before the link is published
	gc     gnet.Conn
	isOpen atomic.Bool
	failed atomic.Pointer[error] // why the loop dropped the connection, if it did

	wakers map[gnet.EventLoop]*waker // the engine's, read-only
	waker  *waker                    // this loop's waker, set in opened; nil: gnet's Wake
	queued atomic.Bool               // listed on the waker
	next   *link                     // next on the waker's list

	p           parser.Parser
	deliver     func(parser.Value) error
	deliverLent func(parser.Value) error // l.lent, used while lend is set
	// lend is set while acc is parsed for the last time before it is dropped (it grew
	// past accKeep): large string replies are then handed over, not copied (see lent).
	lend bool
	need int    // bytes the partial value at the head of the input needs (0: unknown)
	acc  []byte // a partial value moved out of gnet's buffer, and what followed it
	// (for TLS: all the plaintext not parsed yet)
	// pool is the pooled buffer (getBig) acc was made in, whole, while acc is in it;
	// nil when acc is an ordinary allocation. handed is set during a lend parse once
	// the value that ends acc was handed over with pool.
	pool   []byte
	handed bool
	// fresh is set once acc was handed over with a large reply, until a parse uses
	// bytes again: TLS decrypts into a small buffer meanwhile (see tlsFirst).
	fresh bool

	tls *tlsState // nil for plain TCP and unix sockets; loop-owned
	// marks is sess if it answers every written command in order (a PairedConn),
	// for TLS links to hold batches back (tlsbatch.go); nil otherwise.
	marks replyMarks

	// held is what is left of a large batch the socket did not take (see hold), from
	// heldAt on, in order: commands' own buffers, referenced, and the pieces of the
	// loop's buffer, copied into heldBuf. Loop-owned; empty unless a plain link's
	// socket is full.
	held    [][]byte
	heldAt  int
	heldBuf []byte
	// heldCut says held[heldAt] is what is left of a buffer the socket took part of
	// (writeVec then splits no head off it).
	heldCut bool

	// bounded says the session's queue is bounded by what waits in it (a Conn, see
	// Config.SendBuffer): its output is taken only once gnet holds none (write).
	bounded bool

	// writing is set while write runs: drop waits for a write under way, so that
	// nothing is written to a link once drop returned (see drop).
	writing atomic.Bool

	reads atomic.Uint64 // input events with bytes, for the health check
	// outBusy says the loop is writing, or gnet still held unsent output at its last
	// write: a large command is still going out, so silence from the server is no
	// sign of death (the health check waits; TCP_USER_TIMEOUT catches a peer that
	// stopped acknowledging).
	outBusy atomic.Bool
}

// accKeep is the capacity above which acc is dropped once empty.
const accKeep = 256 << 10

func newLink(s session, lim parser.Limits, wakers map[gnet.EventLoop]*waker, ts *tlsState) *link {
	l := &link{sess: s, wakers: wakers, tls: ts}
	_, l.bounded = s.(*Conn)
	if ts != nil {
		l.marks, _ = s.(replyMarks)
	}
	l.p.Limits = lim
	l.deliver = s.deliver // bound once: no allocation per read
	l.deliverLent = l.lent
	if h := newLinkHook.Load(); h != nil {
		(*h)(l)
	}
	return l
}

// newLinkHook, if set (by tests only), sees every new link before it is enrolled.
var newLinkHook atomic.Pointer[func(l *link)]

// opened runs on the loop when gnet opened the connection: everything a sender reads
// (gc, waker) is set before isOpen publishes it. It reports false if the link was
// dropped meanwhile (see drop, which found it not open yet): the loop closes it.
func (l *link) opened(c gnet.Conn) bool {
	l.gc = c
	l.waker = l.wakers[c.EventLoop()]
	l.isOpen.Store(true)
	return l.failed.Load() == nil
}

// wasOpened reports whether the loop ran opened; read it only after EnrollContext
// returned (see enroll), which the loop lets happen after OnOpen.
func (l *link) wasOpened() bool { return l.gc != nil }

// wake asks the loop to flush this link's pending output.
func (l *link) wake() {
	if !l.isOpen.Load() {
		return
	}
	if l.waker != nil {
		l.waker.schedule(l)
		return
	}
	_ = l.gc.Wake(nil)
}

// flush writes the pending output; it runs on the link's loop.
func (l *link) flush() {
	if !l.isOpen.Load() {
		return
	}
	if act := l.write(l.gc); act != gnet.None {
		_ = l.gc.Close()
	}
}

// drop closes the link on request (Reconnect, a failover, the health check's verdict)
// with why as the cause, unless the loop failed it first. Once drop returns, the link
// takes no more commands: a write under way on the loop is waited for (it began
// before failed was set; one that begins after sees it and collects nothing; gnet may
// still flush what it buffered of earlier commands, which then fail as lost). A command
// sent after drop returned therefore waits for the next connection instead of going
// out on this one and failing as lost, or running on a server the caller moved away
// from. Called off the link's loop or on it outside write (never from write itself).
func (l *link) drop(why *error) {
	l.failed.CompareAndSwap(nil, why)
	for l.writing.Load() {
		runtime.Gosched()
	}
	l.close()
}

// close asks the loop to close the connection; lost follows on the loop.
func (l *link) close() {
	if l.isOpen.Load() {
		_ = l.gc.Close()
	}
}

// closed runs on the loop when gnet closed the connection. What the link still held
// of a batch is dropped: its commands were written in part, so they fail as lost.
func (l *link) closed(err error) {
	l.isOpen.Store(false)
	if l.gc != nil {
		forgetOut(l, l.gc.Fd())
	}
	if l.heldAt < len(l.held) || l.writing.Load() {
		// What the link held, or what a write that gnet's failed Write closed
		// under it was writing (see sendVec): nothing of it is written any more.
		l.releaseHeld()
		l.sess.wrote()
	}
	l.dropAcc() // a pooled one goes back: nothing parsed from it is used any more
	if e := l.failed.Load(); e != nil {
		err = *e
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	l.sess.lost(l, err)
}

// fail records why the loop drops the connection and tells gnet to close it.
func (l *link) fail(err error) gnet.Action {
	l.failed.CompareAndSwap(nil, &err)
	return gnet.Close
}

// traffic runs on the loop on new input and on wake: it writes what is pending, then
// parses and delivers every complete value.
func (l *link) traffic(c gnet.Conn) gnet.Action {
	if act := l.write(c); act != gnet.None {
		return act
	}
	n := c.InboundBuffered()
	if n == 0 {
		return gnet.None
	}
	l.reads.Add(1)
	if l.tls != nil {
		act := l.tlsTraffic(c, n)
		if act == gnet.None && l.tls.batch.held {
			// A batch was held back (tlsbatch.go): replies came, it goes now.
			l.tls.batch.held = false
			act = l.write(c)
		}
		return act
	}
	if len(l.acc) > 0 {
		return l.readAcc(c, n)
	}
	buf, err := c.Peek(n)
	if err != nil {
		return l.fail(err)
	}
	act := l.parseInput(buf)
	_, _ = c.Discard(n)
	if act == gnet.None && len(l.acc) > 0 && l.need > len(l.acc) {
		// A large reply began: read its rest straight into acc.
		if act = l.readDirect(c); act == gnet.None && len(l.acc) >= l.need {
			act = l.parseAcc()
		}
	}
	return act
}

// parseInput parses buf, input read while acc is empty, in place; a partial value at
// its end is moved into acc, so that gnet does not copy it again on every read and the
// parser resumes over bytes that stay put.
func (l *link) parseInput(buf []byte) gnet.Action {
	used, err := l.parseAll(buf)
	if err != nil {
		return l.fail(err)
	}
	if used < len(buf) {
		l.acc = l.growAcc(l.acc[:0], len(buf)-used)
		l.acc = append(l.acc, buf[used:]...)
	}
	return gnet.None
}

// readAcc appends new input to the partial value in acc and parses on.
func (l *link) readAcc(c gnet.Conn, n int) gnet.Action {
	buf, err := c.Next(n)
	if err != nil {
		return l.fail(err)
	}
	if l.need > len(l.acc) && len(l.acc)+len(buf) > cap(l.acc) && l.need <= cap(l.acc) {
		// The input ends the partial value and goes on: fill acc exactly to the
		// value's end (acc was sized for it), parse it, and take the rest as fresh
		// input, instead of growing acc for bytes that belong to later replies.
		k := l.need - len(l.acc)
		l.acc = append(l.acc, buf[:k]...)
		if act := l.parseAcc(); act != gnet.None || len(buf) == k {
			return act
		}
		if buf = buf[k:]; len(l.acc) == 0 {
			return l.parseInput(buf)
		}
	}
	l.acc = l.growAcc(l.acc, len(buf))
	l.acc = append(l.acc, buf...)
	if len(l.acc) < l.need {
		if act := l.readDirect(c); act != gnet.None || len(l.acc) < l.need {
			return act
		}
	}
	return l.parseAcc()
}

// directMin is the rest of a partial reply from which readDirect reads it itself.
const directMin = 64 << 10

// readDirect reads what the socket holds straight into acc's spare room, towards the
// partial value's need, instead of letting gnet read it into its buffer first and
// copying it from there: a large reply then crosses one copy fewer. It reads until
// the need is met, acc is full or the socket has nothing more (EAGAIN); the loop is
// woken again for the rest as usual. Plain sockets only (TLS input must go through
// TLS).
func (l *link) readDirect(c gnet.Conn) gnet.Action {
	if l.tls != nil || !directIO || l.need-len(l.acc) < directMin {
		return gnet.None // small rests (a pipelined reply cut by a read) wait for the loop
	}
	fd := c.Fd()
	for len(l.acc) < l.need && len(l.acc) < cap(l.acc) {
		room := l.acc[len(l.acc):min(cap(l.acc), l.need)]
		n, err := rawRead(fd, room)
		switch {
		case n > 0:
			l.acc = l.acc[:len(l.acc)+n]
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return gnet.None
		case err != nil:
			return l.fail(err)
		default: // n == 0: the peer closed the connection
			return l.fail(errors.New("connection closed by the server"))
		}
	}
	return gnet.None
}

// parseAcc parses what acc holds and keeps only the partial value at its end. A large
// acc is dropped once parsed, so its large string replies are handed over to the
// session instead of copied, and a partial value left is moved to a new buffer.
func (l *link) parseAcc() gnet.Action {
	l.lend = cap(l.acc) > accKeep
	used, err := l.parseAll(l.acc)
	lent := l.lend && used > 0
	if l.handed {
		// The session has the buffer now (and the value that ended it: used is all
		// of acc), and gives it back to the pool when it lets go of the value.
		l.acc, l.pool, l.fresh = nil, nil, true
	} else if used > 0 {
		l.fresh = false // what comes now is parsed as it comes
	}
	l.lend, l.handed = false, false
	if err != nil {
		return l.fail(err)
	}
	switch {
	case l.acc == nil:
	case used == len(l.acc) && cap(l.acc) > accKeep:
		l.dropAcc()
	case used == len(l.acc):
		l.acc = l.acc[:0]
	case lent:
		// The partial value moves to a buffer of its own (maybe a pooled one), and
		// the old buffer goes back to the pool once it was copied from.
		old, oldPool := l.acc, l.pool
		if !l.inPool() {
			oldPool = nil
		}
		l.pool = nil
		l.acc = l.growAcc(nil, len(old)-used)
		l.acc = append(l.acc, old[used:]...)
		if oldPool != nil {
			putBig(oldPool)
		}
	case used > 0:
		// Keep only the partial value; the parser re-points what it read.
		l.acc = append(l.acc[:0], l.acc[used:]...)
	}
	return gnet.None
}

// lent delivers a value parsed from acc while lend is set: a value of an ordinary
// acc is handed over as it is (deliverOwned; the garbage collector frees acc once
// nothing aliases it). A pooled acc goes back to the pool, so only the value that ends
// it can be handed over (with the buffer, which the session then gives back once it
// lets go of the value: nothing else is read from the buffer after that value); the
// other values are copied.
func (l *link) lent(v parser.Value) error {
	if !l.inPool() {
		_, err := l.sess.deliverOwned(v, nil)
		return err
	}
	if b := v.Bytes(); !l.handed && len(b) > 0 && len(l.acc) >= len(b)+2 &&
		&l.acc[len(l.acc)-2-len(b)] == &b[0] { // the payload, then CRLF, end acc
		kept, err := l.sess.deliverOwned(v, l.pool)
		l.handed = kept
		return err
	}
	return l.deliver(v)
}

// sameArray reports whether a and b start at the same place of the same array.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}

// inPool reports whether acc is in the pooled buffer pool.
func (l *link) inPool() bool { return sameArray(l.acc, l.pool) }

// release gives buf, a buffer acc was in and no value aliases, back to the pool if it
// is the pooled one, and forgets the pooled buffer if acc is no longer in it.
func (l *link) release(buf []byte) {
	if sameArray(buf, l.pool) {
		putBig(l.pool)
		l.pool = nil
	}
	if !l.inPool() {
		l.pool = nil
	}
}

// dropAcc drops acc, giving its buffer back to the pool if it came from there.
func (l *link) dropAcc() {
	old := l.acc
	l.acc = nil
	l.release(old)
}

// accGrowth bounds how far ahead of the bytes received acc grows towards what the
// partial value needs: a server declaring a huge length (within Limits.MaxBulkLen)
// gets at most this many times what it actually sent allocated, and a value of up to
// accGrowth times the first read (16 MiB after 64 KiB) is read into one buffer of its
// size (append's 1.25x growth copied a 64 MiB reply ~30 times).
const accGrowth = 256

// growAcc makes room in acc for extra more bytes: to what the partial value needs
// (l.need, known from its header), but to no more than accGrowth times the bytes
// held; without a known need, it doubles.
func (l *link) growAcc(acc []byte, extra int) []byte {
	want := len(acc) + extra
	if want <= cap(acc) {
		return acc
	}
	c := max(want, 2*cap(acc))
	if l.need > want {
		// Up to the need, within the bound; a need just past the bound (a 16 MiB
		// value's header after a 64 KiB read) is taken whole rather than reached by
		// a second, full-size copy.
		lim := accGrowth * want
		c = max(want, min(l.need, lim))
		if l.need <= lim+lim/8 {
			c = l.need
		}
	}
	var n, pooled []byte
	if c == l.need && c > bigMin {
		// A large value's whole buffer: from the pool, cut to the value's size so
		// that reads (and TLS's decryption, see tlsTraffic) stop at its end, and,
		// parsed last, it can be handed over with its buffer (see lent).
		pooled = getBig(c)
		n = pooled[:len(acc):c]
	} else {
		n = make([]byte, len(acc), c)
	}
	copy(n, acc)
	l.release(acc)
	if pooled != nil {
		l.pool = pooled
	}
	return n
}

// parseAll delivers every complete value at the start of buf and returns the bytes
// used. It records how many bytes a trailing partial value needs.
func (l *link) parseAll(buf []byte) (int, error) {
	deliver := l.deliver
	if l.lend {
		deliver = l.deliverLent
	}
	used, err := l.p.ParseEach(buf, deliver)
	switch {
	case err == nil:
		l.need = 0
		return used, nil
	case errors.Is(err, parser.ErrIncomplete):
		l.need = l.p.NeedBytes()
		return used, nil
	case errors.As(err, new(*parser.ProtocolError)):
		return used, &protocolError{reason: "malformed reply", cause: err}
	}
	return used, err // the session refused a value
}
