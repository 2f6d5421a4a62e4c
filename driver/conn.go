package driver

import (
	"context"
	"sync"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Conn is the low-level interface: a full-duplex stream of RESP values. Send and
// SendValue queue values in order and never wait for replies; Recv returns whatever the
// server sends, in order, and matching replies to requests is the caller's job (MONITOR,
// CLIENT REPLY OFF, pipelines of your own). Send and Recv are safe for concurrent use.
//
// After a broken connection Conn reconnects in the background and re-applies the
// handshake; Recv returns an error matching ErrConnLost at the point of the break, so
// the caller knows which requests may be unanswered. Values queued but not yet written
// are written on the new connection.
type Conn struct {
	b base

	mu   sync.Mutex // guards pend and the send side
	pend []byte
	// flushed is made by a waiting Flush and closed (then cleared) when the loop takes
	// pend or the Conn is finished, waking every waiting Flush (under mu).
	flushed chan struct{}
	// queued and took count the bytes appended to pend and taken from it by the
	// loop, so that Flush waits for what was queued when it was called (under mu).
	queued, took uint64
	sendMax      int // Config.SendBuffer: the most pend may hold before Send refuses

	qmu   sync.Mutex // guards the receive queue
	q     []recvItem
	qhead int
	qerr  error         // set once: no more values after the queued ones
	qsig  chan struct{} // capacity 1: something was queued
	limit int
}

type recvItem struct {
	v   parser.Value
	err error
}

// Connect connects to the server described by cfg and runs the handshake. ctx bounds
// the first connection only.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Conn{qsig: make(chan struct{}, 1), limit: cfg.MessageBuffer, sendMax: cfg.SendBuffer}
	c.b.down = func(err error) { c.push(recvItem{err: &connLostError{cause: err}}) }
	if err := c.b.start(ctx, cfg, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Send queues one command (see writer.AppendArgs for the arguments). It never waits
// for a reply, nor for the socket: an unsupported argument is an error, and so is a
// full send buffer (ErrSendBufferFull, see Config.SendBuffer); nothing is queued then.
// So is a command with no arguments at all: the server never answers one, and every
// later reply would be taken for the one before it.
func (c *Conn) Send(args ...any) error {
	if len(args) == 0 {
		return errEmptyCommand
	}
	c.mu.Lock()
	if err := c.sendErr(); err != nil {
		c.mu.Unlock()
		return err
	}
	first := len(c.pend) == 0
	n := len(c.pend)
	var err error
	c.pend, err = writer.AppendArgs(c.pend, args...)
	c.queued += uint64(len(c.pend) - n)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if first {
		c.b.wake()
	}
	return nil
}

// SendValue queues any RESP value as it is (see writer.AppendValue), as Send does. An
// empty or null array is refused as Send refuses no arguments: the server takes it for
// a command with none and never answers it.
func (c *Conn) SendValue(v parser.Value) error {
	if v.IsNullArray() || (v.Kind() == parser.Array && len(v.Elems()) == 0) {
		return errEmptyCommand
	}
	c.mu.Lock()
	if err := c.sendErr(); err != nil {
		c.mu.Unlock()
		return err
	}
	first := len(c.pend) == 0
	n := len(c.pend)
	c.pend = writer.AppendValue(c.pend, v)
	c.queued += uint64(len(c.pend) - n)
	c.mu.Unlock()
	if first {
		c.b.wake()
	}
	return nil
}

// sendErr is the error that stops sending (under mu): the Conn is finished, or the
// send buffer is full. The loop takes pend only when the socket took all it had
// before (see link.write), so pend holds what waits, bounded by sendMax; one command
// may go past sendMax, so that a command larger than it can still be sent.
func (c *Conn) sendErr() error {
	c.qmu.Lock()
	err := c.qerr
	c.qmu.Unlock()
	if err == nil && len(c.pend) >= c.sendMax {
		err = ErrSendBufferFull
	}
	return err
}

// Flush waits until the loop has taken every command queued so far for writing (the
// socket, or the loop's buffer behind it, has them): after ErrSendBufferFull, Flush and
// send again. It returns ctx's error if ctx ends first (nothing is un-queued), and the
// error that finished the Conn (ErrClosed, ErrSlowConsumer) if one did. While the
// connection is being re-established, the commands wait for the new one, and so does
// Flush.
func (c *Conn) Flush(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c.mu.Lock()
	target := c.queued
	for c.took < target {
		c.qmu.Lock()
		err := c.qerr
		c.qmu.Unlock()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if c.flushed == nil {
			c.flushed = make(chan struct{})
		}
		ch := c.flushed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

// wakeFlush wakes every waiting Flush (under mu).
func (c *Conn) wakeFlush() {
	if c.flushed != nil {
		close(c.flushed)
		c.flushed = nil
	}
}

// Recv returns the next value from the server, owned by the caller, or an error: one
// matching ErrConnLost where the connection broke (later values come from the new
// connection), ErrSlowConsumer once more than Config.MessageBuffer values were left
// unread (the Conn is then finished), ErrClosed after Close, or ctx's error.
// Error replies of the server are values (IsError), not errors.
func (c *Conn) Recv(ctx context.Context) (parser.Value, error) {
	if ctx == nil {
		ctx = context.Background() // as Future.Wait takes it
	}
	for {
		c.qmu.Lock()
		if c.qhead < len(c.q) {
			it := c.q[c.qhead]
			c.q[c.qhead] = recvItem{}
			c.qhead++
			if c.qhead == len(c.q) {
				c.q, c.qhead = c.q[:0], 0
			}
			c.qmu.Unlock()
			return it.v, it.err
		}
		err := c.qerr
		c.qmu.Unlock()
		if err != nil {
			return parser.Value{}, err
		}
		select {
		case <-c.qsig:
		case <-ctx.Done():
			return parser.Value{}, ctx.Err()
		}
	}
}

// Close closes the connection. Values not yet received are dropped; Recv and Send
// return ErrClosed.
func (c *Conn) Close() error {
	c.qmu.Lock()
	if c.qerr == ErrClosed {
		c.qmu.Unlock()
		return ErrClosed
	}
	c.qerr = ErrClosed
	c.q, c.qhead = nil, 0
	c.qmu.Unlock()
	notify(c.qsig)
	c.mu.Lock()
	c.wakeFlush()
	c.mu.Unlock()
	c.b.close()
	return nil
}

// push queues an item for Recv; false when the reader fell too far behind.
func (c *Conn) push(it recvItem) bool {
	c.qmu.Lock()
	if c.qerr != nil {
		c.qmu.Unlock()
		return true // finished: nothing more is delivered, and the reader was told
	}
	if len(c.q)-c.qhead >= c.limit {
		c.qerr = ErrSlowConsumer
		c.qmu.Unlock()
		notify(c.qsig)
		c.mu.Lock()
		c.wakeFlush()
		c.mu.Unlock()
		return false
	}
	if len(c.q) == cap(c.q) && c.qhead > 0 && c.qhead >= len(c.q)/2 {
		// Full, and at least half of it read: move the unread part down instead of
		// growing. Recv resets the queue only when it is drained, so a reader that
		// always stays a value or two behind would otherwise keep every value ever
		// received in the backing array (the read prefix zeroed, never dropped).
		// Compacting only when append would grow copies at most half the array
		// after at least as many pushes: constant work per value, no allocation.
		n := copy(c.q, c.q[c.qhead:])
		clear(c.q[n:]) // old copies of the moved values: once received, nothing here may keep them
		c.q, c.qhead = c.q[:n], 0
	}
	c.q = append(c.q, it)
	c.qmu.Unlock()
	notify(c.qsig)
	return true
}

// session: loop side.

func (c *Conn) collect(dst []byte, vec [][]byte, _ int) ([]byte, [][]byte) {
	c.mu.Lock()
	c.took += uint64(len(c.pend))
	if len(dst) == 0 && len(c.pend) > 0 {
		dst, c.pend = c.pend, dst[:0] // swap buffers instead of copying
	} else {
		dst = append(dst, c.pend...)
		c.pend = c.pend[:0]
	}
	c.wakeFlush()
	c.mu.Unlock()
	return dst, vec
}

func (c *Conn) deliver(v parser.Value) error {
	if !c.push(recvItem{v: v.Clone()}) {
		c.b.halt()
		return ErrSlowConsumer
	}
	return nil
}

func (c *Conn) lost(l *link, err error) { c.b.lost(l, err) }

// notify posts a token on a capacity-1 signal channel without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deliverOwned is deliver: a received value is copied for the reader anyway.
func (c *Conn) deliverOwned(v parser.Value, _ []byte) (bool, error) { return false, c.deliver(v) }

// hold and wrote: Conn's collect never references commands in vec.
func (c *Conn) hold()  {}
func (c *Conn) wrote() {}
