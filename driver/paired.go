package driver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/ring"
	"github.com/respring/respring/writer"
)

// PairedConn sends commands and pairs each with its reply. Send never waits for a
// reply: commands are pipelined implicitly, written in the order Send is called, in
// batches (one write per wake of the event loop). It is safe for concurrent use.
//
// After a broken connection it reconnects in the background (exponential backoff with
// jitter, capped) and re-applies the handshake (HELLO, AUTH, CLIENT SETNAME, SELECT).
// Commands written and not answered when the connection broke fail with an error that
// matches ErrConnLost; they are never sent again. Commands not yet written wait for the
// new connection.
type PairedConn struct {
	b       base
	ring    *ring.Ring
	closing atomic.Bool
	encErrs atomic.Uint64 // SendAndForget commands refused or not encodable
	pushes  atomic.Uint64
	// isDown reports that no connection is up to write a command (for ring.AwaitLent);
	// bound once.
	isDown func() bool

	// pool holds the dedicated connections of a shared PairedConn (Dedicated, blocking
	// commands); nil on a dedicated one, which has ded instead (non-nil exactly when
	// the connection is a dedicated one).
	pool *pool
	ded  *dedState

	// probeSeq is 1 + the sequence number of the health check's last PING.
	probeSeq atomic.Uint64

	// froutes follows the redirects of SendRoutedAndForget's commands; made on its
	// first use (forget.go).
	froutes atomic.Pointer[forgetRoutes]
	fmu     sync.Mutex // makes froutes
}

// newPaired returns a PairedConn for cfg (with defaults) before it is started.
func newPaired(cfg Config) *PairedConn {
	c := &PairedConn{ring: ring.New(cfg.RingSize)}
	c.isDown = func() bool { return !c.b.connected() }
	c.ring.SetRelease(putBig)
	c.ring.SetRescue(c.rescue)
	c.b.down = func(err error) {
		c.ring.FailWritten(&connLostError{cause: err})
		// Senders waiting for bytes they lent to commands not written yet take them
		// back now that no connection writes them (ring.AwaitLent); before
		// OnDisconnect runs, which must not wait for them.
		c.ring.WakeLent()
	}
	return c
}

// PairedConnect connects to the server described by cfg and runs the handshake. ctx
// bounds the first connection only.
func PairedConnect(ctx context.Context, cfg Config) (*PairedConn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := newPaired(cfg)
	c.pool = newPool(cfg)
	if err := c.b.start(ctx, cfg, c); err != nil {
		return nil, err
	}
	c.b.startHealth(c.probe, c.excused)
	return c, nil
}

// Send queues one command and returns its Future. Arguments are encoded as bulk
// strings (see writer.AppendArgs); an unsupported argument makes the Future fail with
// a *writer.ArgError, and nothing is sent. When Config.RingSize commands are in
// flight, Send waits for a reply to free a slot. Send keeps no reference to args once
// it returns, except to string arguments of 64 KiB or more, which it writes from
// where they are instead of copying them (Go strings are immutable).
//
// A []byte argument of 256 KiB or more is written from where it is too, so Send
// waits, as net.Conn's Write does, until the socket took it (not for the reply):
// then the caller may change it again. While no connection is up, or when a
// Do's ctx ends before the command was written, it is copied instead and Send
// returns; a command written in part keeps it until the rest is written or the
// connection is lost (the health check and TCP_USER_TIMEOUT bound that).
func (c *PairedConn) Send(args ...any) Future {
	return c.send(context.Background(), false, args)
}

// SendAndForget queues one command whose reply nobody will read. Its error reply or
// failure is not lost: it is counted in ForgottenErrors.
func (c *PairedConn) SendAndForget(args ...any) {
	c.send(context.Background(), true, args)
}

// Do sends one command and waits for its reply. ctx bounds the wait for a free slot
// and for the reply; a command already written is not un-sent, its reply is read and
// dropped. A ctx that has ended already sends nothing: Do returns its error.
func (c *PairedConn) Do(ctx context.Context, args ...any) (parser.Value, error) {
	f := c.send(ctx, false, args)
	return f.Wait(ctx)
}

func (c *PairedConn) send(ctx context.Context, forget bool, args []any) Future {
	if err := ended(ctx); err != nil {
		return c.failed(forget, err)
	}
	return c.sendLive(ctx, forget, args)
}

// sendLive is send for a ctx that had not ended (or nil).
func (c *PairedConn) sendLive(ctx context.Context, forget bool, args []any) Future {
	if c.ded != nil {
		return c.sendDedicated(ctx, forget, args)
	}
	if mayBeSpecial(args) {
		return c.sendSpecial(ctx, forget, args)
	}
	return c.sendPlain(ctx, forget, args)
}

// ended is ctx's error, nil for a nil ctx: a command whose ctx has ended is not sent
// (else a Do in a loop that outlived its ctx would still run some of its commands,
// those written before their Wait saw the ctx).
func ended(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// sendSpecial is send, on the shared connection, for a command the table may hold:
// blocking commands go to the dedicated pool, the others the table holds are refused.
// (A dedicated connection's commands go through sendDedicated instead.)
func (c *PairedConn) sendSpecial(ctx context.Context, forget bool, args []any) Future {
	switch cls, use := classify(args); cls {
	case clsPlain:
	case clsBlocking:
		return c.sendBlocking(ctx, forget, args)
	case clsEmpty:
		return c.failed(forget, errEmptyCommand)
	default:
		return c.failed(forget, refusal(args, use, "a shared connection"))
	}
	return c.sendPlain(ctx, forget, args)
}

// sendPlain queues one command that needs no special handling.
func (c *PairedConn) sendPlain(ctx context.Context, forget bool, args []any) Future {
	return c.sendMode(ctx, forget, false, false, args)
}

// sendMode is sendPlain; noReply says the server will not answer it (CLIENT REPLY);
// pin, that once in the ring it is written whatever its Future's ctx does (ring.Pin:
// a CLIENT REPLY command, or the command a SKIP applies to).
func (c *PairedConn) sendMode(ctx context.Context, forget, noReply, pin bool, args []any) Future {
	err := ErrClosed
	if !c.closing.Load() {
		var seq uint64
		var cmd *[]byte
		if seq, cmd, err = c.ring.Reserve(ctx); err == nil {
			lent := false
			if argsSize(args) > bigMin {
				*cmd, lent, err = c.encodeLarge(seq, cmd, lendMin, args)
			} else {
				*cmd, err = writer.AppendArgs((*cmd)[:0], args...)
			}
			if err == nil {
				if pin {
					c.ring.Pin(seq)
				}
				var wake bool
				if noReply {
					wake = c.ring.PublishNoReply(seq)
				} else {
					wake = c.ring.Publish(seq, forget)
				}
				if wake {
					c.b.wake()
				}
				if lent && c.ring.AwaitLent(ctx, seq, c.isDown) {
					c.b.wake()
				}
				return Future{r: c.ring, seq: seq}
			}
			if c.ring.Fail(seq, err) { // nothing is written for it
				c.b.wake()
			}
		}
	}
	return c.failed(forget, err)
}

// encodeLarge encodes a command whose payloads are large into *cmd, the buffer of
// the reserved seq: its string arguments of refMin bytes or more are not copied but
// attached to the slot (ring.Attach; Go strings are immutable), its []byte arguments
// of minLend bytes or more (minLend > 0) lent to it (ring.Lend: lent reports it, and
// the sender must wait for them with ring.AwaitLent once it published the command);
// the rest goes into a buffer sized for it (pooled when large).
func (c *PairedConn) encodeLarge(seq uint64, cmd *[]byte, minLend int, args []any) (b []byte, lent bool, err error) {
	var buf [4]writer.Ref
	// Room for the payloads copied and the RESP headers, allocated once (pooled when
	// large), not regrown header by header.
	want := copiedSize(args, refMin, minLend) + 16*len(args) + 16
	sizeFor(cmd, want)
	if cap(*cmd) < want {
		// Rounded up: a slot that next carries a command with a slightly longer
		// key (or length header) reuses the buffer instead of making one again.
		*cmd = make([]byte, 0, (want+63)&^63)
	}
	b, refs, err := writer.AppendArgsRefs((*cmd)[:0], refMin, minLend, buf[:0], args...)
	if err == nil {
		for _, r := range refs {
			if r.B != nil {
				c.ring.Lend(seq, r.At, r.B)
				lent = true
			} else {
				c.ring.Attach(seq, r.At, r.S)
			}
		}
	}
	return b, lent, err
}

// failed returns the Future of a command that was never queued; a forgotten one is
// counted, since its caller has no Future to see the error.
func (c *PairedConn) failed(forget bool, err error) Future {
	if forget {
		c.encErrs.Add(1)
	}
	return Future{x: err}
}

// ForgottenErrors returns how many SendAndForget (and SendRoutedAndForget) commands
// failed: error replies, broken connections, Close, and arguments that could not be
// encoded.
func (c *PairedConn) ForgottenErrors() uint64 {
	n := c.ring.ForgottenErrors() + c.encErrs.Load()
	if fr := c.froutes.Load(); fr != nil {
		n += fr.errs.Load()
	}
	if c.pool != nil {
		n += c.pool.forgottenErrors()
	}
	return n
}

// Connected reports whether the connection is up at this moment: false while it is
// being re-established, and after Close.
func (c *PairedConn) Connected() bool { return c.b.connected() }

// Addr returns the address the connection is made to at this moment: what
// Config.Resolve returned for it (driver/sentinel: the master, or a replica), else
// Config.Addr; "" while it is being re-established, and after Close. The dedicated
// pool's connections are dialled apart, and may be elsewhere.
func (c *PairedConn) Addr() string { return c.b.address() }

// Reconnect drops the current connection and establishes a new one (through
// Config.Resolve, if set), as after a loss: written, unanswered commands fail with
// ErrConnLost, unwritten ones wait for the new connection. The dedicated pool's
// connections are retired too: the idle ones closed now, those in use when they come
// back. A connection being dialled meanwhile (a reconnect under way, a dial of the
// pool) is dropped once made and dialled again: it may have resolved the old server.
// A reconnect pausing between attempts (see Config.ReconnectMin) dials at once.
// driver/sentinel calls it when the master moved. It returns without waiting for the
// new connection (only for a write to the old one under way on its event loop): a
// command sent after Reconnect returned is never written to the old connection, but
// goes out on the new one; a blocking command, on a new connection of the pool. (A
// DedicatedConn a caller holds keeps its connection until it is given back.)
func (c *PairedConn) Reconnect() {
	if c.pool != nil {
		c.pool.retire()
	}
	c.b.requestReconnect()
}

// Done returns a channel closed once Close was called (for layers above the driver
// that keep a helper running as long as the connection: driver/sentinel).
func (c *PairedConn) Done() <-chan struct{} { return c.b.stop }

// errReconnect is why a connection closed by Reconnect was lost.
var errReconnect error = errors.New("respring: reconnect requested")

// Reconnects returns how many times the connection was re-established.
func (c *PairedConn) Reconnects() uint64 { return c.b.reconnects.Load() }

// Protocol returns the RESP version of the current connection: 3, or 2 after a
// fallback (or when Config.Protocol asked for it).
func (c *PairedConn) Protocol() int { return int(c.b.proto.Load()) }

// Close waits up to Config.CloseTimeout for the commands in flight, fails those left
// with ErrClosed, closes the connection and returns; it waits as long for the
// redirects of SendRoutedAndForget commands being followed elsewhere, and for the
// blocking commands that went back to the dedicated pool (see "The
// shared connection" in the package documentation). Later calls return ErrClosed.
func (c *PairedConn) Close() error {
	if c.closing.Swap(true) {
		return ErrClosed
	}
	if c.pool != nil {
		c.pool.close()
	}
	deadline := time.Now().Add(c.b.cfg.CloseTimeout)
	for c.ring.InFlight() > 0 && c.b.cur.Load() != nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Microsecond)
	}
	c.ring.Close(ErrClosed)
	c.b.close()
	if fr := c.froutes.Load(); fr != nil {
		fr.stop(deadline) // the redirects of forgotten commands being followed elsewhere
	}
	return nil
}

// session: loop side.

func (c *PairedConn) collect(dst []byte, vec [][]byte, big int) ([]byte, [][]byte) {
	dst, vec, _ = c.ring.CollectVec(dst, vec, big)
	return dst, vec
}

// marks: see replyMarks. A dedicated connection's replies may be turned off.
func (c *PairedConn) marks() (written, next uint64, ok bool) {
	if c.ded != nil {
		return 0, 0, false
	}
	return c.ring.Written(), c.ring.NextReply(), true
}

func (c *PairedConn) deliver(v parser.Value) error {
	if v.Kind() == parser.Push {
		// Out-of-band data (RESP3 pushes) never takes a reply slot.
		c.pushes.Add(1)
		return nil
	}
	if c.ded != nil {
		if err := c.ded.checkOff(c.ring, v); err != nil {
			return err
		}
	}
	return c.completed(c.ring.Complete(v))
}

// completed finishes the delivery of a reply the ring took (err from Complete).
func (c *PairedConn) completed(err error) error {
	if err != nil {
		return &protocolError{reason: "reply with no command outstanding", cause: err}
	}
	if c.ded != nil {
		c.drained()
	}
	return nil
}

func (c *PairedConn) hold() { c.ring.Hold() }

func (c *PairedConn) wrote() {
	c.ring.Wrote()
	if c.ded != nil {
		c.drained() // a reply that came while the batch was held did not free it
	}
}

func (c *PairedConn) lost(l *link, err error) { c.b.lost(l, err) }

// Future is the pending reply of one command: a small value (ring, slot sequence)
// that costs no allocation. Its methods may be called from any goroutine, more than
// once, until Config.RingSize later commands have reused its slot (then ErrExpired).
// A large reply (a string over 256 KiB, read into a buffer of its own) is let go of
// sooner, so that a connection does not hold RingSize of them: once it was read, it
// stays readable until four more such replies of the connection were read.
// Each method's ctx bounds only the caller's wait: when it ends, a command not yet
// written is cancelled, and one already written has its reply read and dropped.
type Future struct {
	r    *ring.Ring
	seq  uint64
	part int32 // which command of a batch or transaction (mode)
	mode uint8 // modePlain, modeBatch, modeTx
	// x is nil, or the error of a command that was never queued, or the
	// *blockingCall of a blocking command run on the dedicated pool.
	x any
}

// view waits for the reply and calls fn with it (valid during fn only).
func (f Future) view(ctx context.Context, fn func(v parser.Value, err error)) error {
	if f.x == nil && f.mode == modePlain && f.r != nil { // the common case first
		err := f.r.View(ctx, f.seq, fn)
		if err == ring.ErrExpired {
			return ErrExpired
		}
		return err
	}
	return f.viewOther(ctx, fn)
}

// peek is view that does not count as reading the reply (ring.Peek), for a plain
// Future; the others are viewed.
func (f Future) peek(ctx context.Context, fn func(v parser.Value, err error)) error {
	if f.x == nil && f.mode == modePlain && f.r != nil {
		err := f.r.Peek(ctx, f.seq, fn)
		if err == ring.ErrExpired {
			return ErrExpired
		}
		return err
	}
	return f.view(ctx, fn)
}

// viewOther is view for the parts of batches and transactions (modeBatch, modeTx),
// blocking calls and commands never queued.
func (f Future) viewOther(ctx context.Context, fn func(v parser.Value, err error)) error {
	if f.mode&modeRouted != 0 {
		return f.viewRouted(ctx, fn)
	}
	if f.x != nil {
		if bc, ok := f.x.(*blockingCall); ok {
			return bc.view(ctx, fn)
		}
		return f.x.(error)
	}
	if f.r == nil {
		return ErrClosed
	}
	elem := batchElem
	switch f.mode {
	case modeTx:
		elem = txElem
	case modeTxAsk:
		elem = func(v parser.Value, part int32) (parser.Value, error) { return txElem(dropFirst(v), part) }
	}
	err := f.r.ViewPart(ctx, f.seq, int(f.part), func(v parser.Value, e error) {
		if e == nil {
			v, e = elem(v, f.part)
		}
		fn(v, e)
	})
	if errors.Is(err, ring.ErrExpired) {
		return ErrExpired
	}
	return err
}

// Wait returns the reply, owned by the caller (it aliases nothing of the driver's).
// An error reply is returned as a *RedisError.
func (f Future) Wait(ctx context.Context) (parser.Value, error) {
	var out parser.Value
	var rerr error
	err := f.view(ctx, func(v parser.Value, e error) {
		switch {
		case e != nil:
			rerr = e
		case v.IsError():
			rerr = newRedisError(v)
		default:
			out = v.Clone()
		}
	})
	if err != nil {
		return parser.Value{}, err
	}
	return out, rerr
}

// Err waits for the reply and returns its error (a *RedisError for an error reply),
// dropping the value.
func (f Future) Err(ctx context.Context) error {
	var rerr error
	err := f.view(ctx, func(v parser.Value, e error) {
		if e != nil {
			rerr = e
		} else if v.IsError() {
			rerr = newRedisError(v)
		}
	})
	if err != nil {
		return err
	}
	return rerr
}

// Int waits for the reply and returns it as an integer: an Integer, a Boolean (1 or
// 0), or a string of decimal digits. A null reply gives ErrNil; another kind a
// *TypeError.
func (f Future) Int(ctx context.Context) (int64, error) {
	var n int64
	var rerr error
	err := f.view(ctx, func(v parser.Value, e error) {
		n, rerr = toInt(v, e)
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// String waits for the reply and returns it as a string: the text of a string-like
// reply, or an Integer, Double or Boolean formatted. A null reply gives ErrNil; an
// aggregate a *TypeError.
func (f Future) String(ctx context.Context) (string, error) {
	var s string
	var rerr error
	err := f.view(ctx, func(v parser.Value, e error) {
		var b []byte
		b, rerr = appendText(nil, v, e)
		s = string(b)
	})
	if err != nil {
		return "", err
	}
	return s, rerr
}

// AppendBytes waits for the reply and appends its text (as String) to dst. With a dst
// of enough capacity it allocates nothing.
func (f Future) AppendBytes(ctx context.Context, dst []byte) ([]byte, error) {
	var rerr error
	err := f.view(ctx, func(v parser.Value, e error) {
		dst, rerr = appendText(dst, v, e)
	})
	if err != nil {
		return dst, err
	}
	return dst, rerr
}

// deliverOwned takes a reply whose memory the link hands over: a large string reply
// is kept by its slot as it is instead of copied (with buf, the pooled buffer it
// lives in, which the ring gives back once it lets go of the reply).
func (c *PairedConn) deliverOwned(v parser.Value, buf []byte) (kept bool, err error) {
	if v.IsAggregate() || v.Attrs() != nil || len(v.Bytes()) < ownedMin || v.Kind() == parser.Push {
		return false, c.deliver(v)
	}
	if c.ded != nil {
		if err := c.ded.checkOff(c.ring, v); err != nil {
			return false, err
		}
	}
	kept, err = c.ring.CompleteOwned(v, buf)
	return kept, c.completed(err)
}
