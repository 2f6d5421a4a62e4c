package driver

import (
	"context"
	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Batch is a reusable list of encoded commands for SendBatch and SendTx. The zero
// value is ready; Reset empties it and keeps its memory, so a reused Batch allocates
// nothing. A Batch is not safe for concurrent use, but it may be queued into again as
// soon as SendBatch or SendTx returns (they copy it).
type Batch struct {
	buf []byte // the encoded commands, back to back
	n   int    // commands queued
	err error  // the first argument that could not be encoded
	// special[cls] is 1 + the index of the first command of class cls (see classify),
	// for the refusal message; 0 when there is none (so the zero Batch is ready).
	special [clsEmpty + 1]int
	first   [clsEmpty + 1]string // that command's "use instead" text
}

// Queue encodes one command (arguments as for PairedConn.Send) at the end of the
// batch. An argument that cannot be encoded is reported by SendBatch or SendTx: every
// Future of the batch then fails with it, and nothing is sent.
func (b *Batch) Queue(args ...any) {
	if cls, use := classify(args); cls != clsPlain && b.special[cls] == 0 {
		b.special[cls] = b.n + 1
		b.first[cls] = use
	}
	if b.err == nil {
		var err error
		if b.buf, err = writer.AppendArgs(b.buf, args...); err != nil {
			b.err = err
		}
	}
	b.n++
}

// Err returns the error of the first argument that could not be encoded, or nil.
func (b *Batch) Err() error { return b.err }

// Commands calls fn with the arguments of each queued command, in order, until fn
// returns false. The values are valid during fn only. It parses the encoded batch
// (allocating): it is meant for layers that route a batch's commands (driver/cluster).
func (b *Batch) Commands(fn func(i int, args []parser.Value) bool) {
	rest := b.buf
	for i := 0; i < b.n; i++ {
		v, n, err := parser.Parse(rest)
		if err != nil || !fn(i, v.Elems()) {
			return
		}
		rest = rest[n:]
	}
}

// Len returns how many commands are queued.
func (b *Batch) Len() int { return b.n }

// Reset empties the batch and keeps its memory.
func (b *Batch) Reset() {
	b.buf, b.n, b.err = b.buf[:0], 0, nil
	b.special, b.first = [clsEmpty + 1]int{}, [clsEmpty + 1]string{}
}

// has reports whether the batch holds a command of class cls.
func (b *Batch) has(cls cmdClass) bool { return b.special[cls] != 0 }

// nameOf returns the upper-case name of the first command of class cls (errors only).
func (b *Batch) nameOf(cls cmdClass) string { return b.commandAt(b.special[cls] - 1) }

// check returns why the batch cannot be sent on c (nil: a shared connection), or nil.
// tx says it is for SendTx:
// blocking commands do not block inside MULTI, and WATCH is refused by the server
// there (EXECABORT), so only session commands matter.
func (b *Batch) check(c *PairedConn, tx bool) error {
	if b.err != nil {
		return b.err
	}
	where := "a batch"
	if tx {
		where = "a transaction"
	}
	switch {
	case b.has(clsEmpty):
		return errEmptyCommand
	case b.has(clsReply):
		return &NotOnSharedConnError{Command: "CLIENT REPLY", Use: "DedicatedConn.Send, on its own", Where: where}
	case b.has(clsSession):
		return &NotOnSharedConnError{Command: b.nameOf(clsSession), Use: b.first[clsSession], Where: where}
	case tx:
		return nil
	}
	shared := c == nil || c.ded == nil
	switch {
	case shared && b.has(clsBlocking):
		return &NotOnSharedConnError{Command: b.nameOf(clsBlocking), Use: "Dedicated (a blocking command in a batch would hold up every other caller)", Where: "a batch on a shared connection"}
	case shared && b.has(clsWatch):
		return &NotOnSharedConnError{Command: b.nameOf(clsWatch), Use: "Dedicated", Where: "a shared connection"}
	}
	return nil
}

// CheckShared returns the error with which SendBatch on a shared PairedConn refuses b
// whole, sending none of it (an argument that could not be encoded, an empty command,
// a command that needs a connection of its own, such as a blocking one, WATCH or
// SUBSCRIBE: a *NotOnSharedConnError), or nil. A layer that splits a batch over
// several connections (driver/cluster) checks it first, so that it is refused whole
// as on one connection.
func (b *Batch) CheckShared() error { return b.check(nil, false) }

// commandAt returns the upper-case name of command i of the batch (for errors only).
func (b *Batch) commandAt(i int) string {
	if v, _, err := parser.Parse(commandAt(b.buf, i)); err == nil {
		if e := v.Elems(); len(e) > 0 {
			return upper(e[0].Text())
		}
	}
	return "command"
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// Future modes: which part of a slot's result a Future reads.
const (
	modePlain uint8 = iota // the slot's one reply
	modeBatch              // element part of a batch's gathered replies
	modeTx                 // element part of EXEC's reply (see txElem)
)

// SendBatch writes b's commands contiguously: no other caller's command ever lands
// between them. It appends one Future per command to dst, in order, and returns it;
// with a dst of enough capacity and a reused Batch it allocates nothing. The batch goes
// into one slot of the ring whatever its length, so a batch longer than
// Config.RingSize works too; it is cancelled only as a whole (a Future's context that
// ends before the batch was written cancels all of it). Commands refused on the shared
// connection (see the package doc), and blocking commands, fail the whole batch with
// an error matching ErrNotOnSharedConn before anything is written.
func (c *PairedConn) SendBatch(dst []Future, b *Batch) []Future {
	if b.n == 0 {
		return dst
	}
	if err := b.check(c, false); err != nil {
		return appendFailed(dst, b.n, err)
	}
	if b.n == 1 {
		return append(dst, c.sendEncoded(b.buf, "", "", 1, 0, modePlain))
	}
	f := c.sendEncoded(b.buf, "", "", b.n, b.n, modeBatch)
	return appendParts(dst, f, b.n)
}

// sendEncoded puts pre, the encoded commands cmds and post into one slot taking
// replies replies, and returns the Future of its first part.
func (c *PairedConn) sendEncoded(cmds []byte, pre, post string, replies, parts int, mode uint8) Future {
	return c.sendSlot(context.Background(), cmds, pre, post, replies, parts, mode, false)
}

// sendSlot is sendEncoded waiting for room within ctx; keep marks the slot kept
// (ring.Keep: its encoded form stays viewable for redirects).
func (c *PairedConn) sendSlot(ctx context.Context, cmds []byte, pre, post string, replies, parts int, mode uint8, keep bool) Future {
	if c.closing.Load() {
		return Future{x: ErrClosed}
	}
	seq, cmd, err := c.ring.Reserve(ctx)
	if err != nil {
		return Future{x: err}
	}
	sizeFor(cmd, len(pre)+len(cmds)+len(post))
	*cmd = append(append(append((*cmd)[:0], pre...), cmds...), post...)
	if keep {
		c.ring.Keep(seq)
	}
	var wake bool
	if mode == modePlain {
		wake = c.ring.Publish(seq, false)
	} else {
		wake = c.ring.PublishMulti(seq, replies, parts)
	}
	if wake {
		c.b.wake()
	}
	return Future{r: c.ring, seq: seq, mode: mode}
}

// appendParts appends the n Futures of the parts of f's slot to dst.
func appendParts(dst []Future, f Future, n int) []Future {
	if f.x != nil { // never queued: every part has its error
		return appendFailed(dst, n, f.x.(error))
	}
	for i := 0; i < n; i++ {
		f.part = int32(i)
		dst = append(dst, f)
	}
	return dst
}

// appendFailed appends n Futures that fail with err.
func appendFailed(dst []Future, n int, err error) []Future {
	for i := 0; i < n; i++ {
		dst = append(dst, Future{x: err})
	}
	return dst
}

// batchElem returns element part of a batch's gathered replies.
func batchElem(v parser.Value, part int32) (parser.Value, error) {
	e := v.Elems()
	if int(part) >= len(e) {
		return parser.Value{}, &protocolError{reason: "batch result shorter than the batch"}
	}
	return e[part], nil
}
