package driver

import (
	"context"
	"errors"
	"strings"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/ring"
	"github.com/respring/respring/writer"
)

// Rerouter lets a layer above the driver (driver/cluster) send a command again
// elsewhere when its reply says it belongs there (MOVED, ASK) or that it did not run
// and may be retried (TRYAGAIN, CLUSTERDOWN, ...). A command sent with SendRouted or
// Resend keeps its encoded form until its reply was read; when the reply is an error
// that Reroutes accepts, the Future's methods (Wait, Err, Int, String, AppendBytes)
// call Reroute, on the caller's goroutine and within the caller's context, and wait
// on the Future it returns instead, redirect after redirect. Each redirect is
// followed once for the command, by whichever reader of its Future sees it first;
// the others wait for that Reroute (within their own contexts) and share its
// outcome, and then read the new Future's reply, which expires with that Future's
// slot (RingSize commands later on the connection it went to). A command that never
// went out, because Close closed its connection while it waited for it (a cluster
// node that left the map while it was down), is handed to Reroute too, with
// Redirect.Err set: the server never saw it. So is a blocking command (which runs on
// the dedicated pool, see Send) that waited for a connection of the pool when Close
// closed it, or whose pool connection closed or broke before writing it. Blocking
// commands follow their redirects as others do, from the pool connection they ran
// on. (Send's blocking commands, not routed by the caller, take that path too, with
// a Rerouter of the driver's own that sends again only those never written: see
// "The shared connection" in the package documentation.) Nothing else is re-sent: a
// command cut by a lost connection fails with ErrConnLost as always, and one written
// before Close gave up waiting for its reply fails with ErrClosed.
type Rerouter interface {
	// Reroutes reports whether the error reply msg (its text, such as
	// "MOVED 3999 127.0.0.1:7001") is one Reroute handles. It runs while the driver
	// holds the reply: it must be quick, must not keep msg and must not send.
	Reroutes(msg []byte) bool
	// Reroute sends the command again (typically with ResendContext, within ctx)
	// and returns the Future to wait on in its place. ErrNoReroute gives the caller
	// the reply as it is (a *RedisError, for example once the redirects are used
	// up); another error ends the command with that error (ctx.Err(), a failed
	// dial). It returns ctx's error only if it sent nothing: the next reader of the
	// Future then calls it again.
	Reroute(ctx context.Context, r Redirect) (Future, error)
}

// ErrNoReroute is returned by a Rerouter's Reroute to hand the error reply to the
// caller as it is.
var ErrNoReroute = errors.New("respring: no reroute")

// Redirect is one error reply a Rerouter is asked to handle.
type Redirect struct {
	// Reply is the server's error reply, such as "MOVED 3999 127.0.0.1:7001".
	Reply string
	// Cmd is the command as it was written (one RESP array of bulk strings); it
	// belongs to the Rerouter.
	Cmd []byte
	// Attempt counts the redirects of this command so far, this one included.
	Attempt int
	// Tx is, for a transaction, the number of its commands: Cmd is then the whole
	// MULTI ... EXEC, Reply the first error reply Reroutes took among its queued
	// commands, and it is sent again with ResendTx. 0 for a single command.
	Tx int
	// Err is set, and Reply empty, when the command was never written: Close
	// closed its connection while it waited to go out (ErrClosed); for a blocking
	// command also while it waited for a connection of the dedicated pool, or the
	// pool connection it was handed was lost before writing it (ErrConnLost).
	// Reroute may send it elsewhere; ErrNoReroute gives the caller Err.
	Err error
}

// modeRouted is the flag added to a Future's mode when x holds its Rerouter.
const modeRouted uint8 = 0x80

// askingCmd is ASKING, as Resend puts it ahead of the command it applies to.
const askingCmd = "*1\r\n$6\r\nASKING\r\n"

// isAsking reports whether c, one encoded command, is ASKING.
func isAsking(c []byte) bool {
	return len(c) == len(askingCmd) && strings.EqualFold(string(c), askingCmd)
}

// SendRouted is Send for a command whose error replies r may handle (see Rerouter).
// It allocates nothing more than Send. A string argument of 64 KiB or more is written
// from where it is, as by Send, and kept with the command for a redirect; a []byte
// is copied (Send returns before the write, and a redirect sends it again). A
// blocking command runs on the dedicated pool, as Send runs it, and follows its
// redirects there (each redirect once for all the readers of its Future, as for
// other commands; a reader whose ctx ends while it waits on the server closes that
// pool connection, as for Send's). Commands refused on the shared connection, and
// commands on a DedicatedConn, are sent as Send sends them, without rerouting.
func (c *PairedConn) SendRouted(r Rerouter, args ...any) Future {
	return c.sendRouted(context.Background(), r, false, args)
}

// SendRoutedContext is SendRouted whose wait for room in a full ring ends with ctx, as
// Do's does: the Future then fails with ctx's error, and nothing was sent (nor with a
// ctx that has ended already). (The Future's methods take their own ctx, for the
// reply and the redirects.)
func (c *PairedConn) SendRoutedContext(ctx context.Context, r Rerouter, args ...any) Future {
	if ctx == nil {
		ctx = context.Background()
	}
	return c.sendRouted(ctx, r, false, args)
}

// sendRouted is SendRouted, SendRoutedContext, and with forget SendRoutedAndForget.
func (c *PairedConn) sendRouted(ctx context.Context, r Rerouter, forget bool, args []any) Future {
	if err := ended(ctx); err != nil {
		return c.failed(forget, err)
	}
	if r == nil || c.ded != nil {
		return c.sendLive(ctx, forget, args)
	}
	if mayBeSpecial(args) {
		switch cls, _ := classify(args); cls {
		case clsPlain:
		case clsBlocking:
			return c.sendBlockingRouted(ctx, r, forget, args)
		default:
			return c.sendLive(ctx, forget, args)
		}
	}
	err := ErrClosed
	if !c.closing.Load() {
		var seq uint64
		var cmd *[]byte
		if seq, cmd, err = c.ring.Reserve(ctx); err == nil {
			if argsSize(args) > bigMin {
				// Large strings are attached, not copied (the ring keeps them with the
				// command for a redirect); a []byte is copied: it is the caller's
				// again once Send returns, and a redirect sends it again.
				*cmd, _, err = c.encodeLarge(seq, cmd, 0, args)
			} else {
				*cmd, err = writer.AppendArgs((*cmd)[:0], args...)
			}
			if err == nil {
				c.ring.Keep(seq)
				if forget {
					c.forgetRoutes().set(seq, r)
				}
				if c.ring.Publish(seq, forget) {
					c.b.wake()
				}
				return Future{r: c.ring, seq: seq, mode: modeRouted, x: r}
			}
			if c.ring.Fail(seq, err) {
				c.b.wake()
			}
		}
	}
	return c.failed(forget, err)
}

// Failed returns a Future that fails with err at once (for layers above the driver
// that refuse a command before it reaches a connection).
func Failed(err error) Future { return Future{x: err} }

// ErrBadCommand is returned (through the Future) by Resend for bytes that are not
// exactly one command encoded as a RESP array of bulk strings.
var ErrBadCommand = errors.New("respring: not one encoded command")

// Resend sends cmd, one command already encoded (a Redirect's Cmd), routed by r (nil:
// not routed). With asking it is preceded by ASKING, contiguously, as a cluster's ASK
// redirect requires; the Future is the command's. A blocking command goes to the
// dedicated pool, as SendRouted sends it (cmd copied), with ASKING ahead of it on the
// same pool connection. Commands the shared connection refuses are refused here too.
// A full ring makes it wait, as Send does.
func (c *PairedConn) Resend(r Rerouter, cmd []byte, asking bool) Future {
	f, _ := c.ResendContext(context.Background(), r, cmd, asking)
	return f
}

// ResendContext is Resend whose wait for room in a full ring ends with ctx (a
// Rerouter's Reroute passes its own). It returns ctx's error, and no Future, only when
// that wait ended so, or ctx had ended already: nothing was sent, and Reroute may say
// so (the next reader of the Future follows the redirect again). Other failures come
// through the Future, as Resend's.
func (c *PairedConn) ResendContext(ctx context.Context, r Rerouter, cmd []byte, asking bool) (Future, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return Future{}, err
	}
	return notSent(ctx, c.resend(ctx, r, cmd, asking))
}

// notSent turns the Future of a send whose wait for room ended with ctx into ctx's
// error (see ResendContext).
func notSent(ctx context.Context, f Future) (Future, error) {
	if err, ok := f.x.(error); ok && f.r == nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return Future{}, err
	}
	return f, nil
}

// resend is ResendContext's send.
func (c *PairedConn) resend(ctx context.Context, r Rerouter, cmd []byte, asking bool) Future {
	v, n, err := parser.Parse(cmd)
	if err != nil || n != len(cmd) || v.Kind() != parser.Array || len(v.Elems()) == 0 {
		return Future{x: ErrBadCommand}
	}
	args := make([]any, len(v.Elems()))
	for i, e := range v.Elems() {
		if e.Kind() != parser.BulkString {
			return Future{x: ErrBadCommand}
		}
		args[i] = e.Bytes()
	}
	if c.ded == nil && mayBeSpecial(args) {
		switch cls, use := classify(args); cls {
		case clsPlain:
		case clsBlocking:
			return c.resendBlocking(ctx, r, cmd, asking)
		default:
			return Future{x: refusal(args, use, "a shared connection")}
		}
	}
	pre, replies, mode, part := "", 1, modePlain, int32(0)
	if asking {
		pre, replies, mode, part = askingCmd, 2, modeBatch, 1
	}
	f := c.sendKept(ctx, cmd, pre, replies, mode)
	if f.x == nil {
		f.part = part
		if r != nil {
			f.mode |= modeRouted
			f.x = r
		}
	}
	return f
}

// SendBatchRouted is SendBatch whose commands' error replies r may handle, each
// command on its own (see Rerouter): a redirected command is sent again alone, after
// the batch's redirected commands ahead of it, in the batch's order whichever Future
// is read first.
func (c *PairedConn) SendBatchRouted(dst []Future, b *Batch, r Rerouter) []Future {
	if r == nil || b.n < 2 {
		if b.n == 1 && r != nil && b.check(c, false) == nil {
			return append(dst, c.Resend(r, b.buf, false))
		}
		return c.SendBatch(dst, b)
	}
	if err := b.check(c, false); err != nil {
		return appendFailed(dst, b.n, err)
	}
	f := c.sendKeptParts(context.Background(), b.buf, "", "", b.n, b.n, modeBatch)
	return appendRouted(dst, f, b.n, r)
}

// SendTxRouted is SendTx whose transaction r may send again as a whole when the
// server refused a command with an error reply Reroutes takes (MOVED and ASK when its
// slot moved) and EXEC failed: Reroute is then called once for all its Futures, with
// Redirect.Tx set, and each Future reads its own element of the new transaction's
// reply. A transaction whose EXEC answered ran, and is never sent again.
func (c *PairedConn) SendTxRouted(dst []Future, b *Batch, r Rerouter) []Future {
	if r == nil || b.n == 0 {
		return c.SendTx(dst, b)
	}
	if err := b.check(c, true); err != nil {
		return appendFailed(dst, b.n, err)
	}
	f := c.sendKeptParts(context.Background(), b.buf, multiCmd, execCmd, b.n+2, b.n, modeTx)
	return appendRouted(dst, f, b.n, r)
}

// appendRouted appends the n Futures of the parts of f's slot, routed by r.
func appendRouted(dst []Future, f Future, n int, r Rerouter) []Future {
	if f.x != nil {
		return appendFailed(dst, n, f.x.(error))
	}
	f.mode |= modeRouted
	f.x = r
	for i := 0; i < n; i++ {
		f.part = int32(i)
		dst = append(dst, f)
	}
	return dst
}

// ResendTx sends tx, a whole encoded transaction (a Redirect's Cmd with Tx set:
// MULTI, the commands, EXEC), routed by r, preceded by ASKING with asking. It returns
// the Future of its first command; a Future of command i is that Future's part i,
// which the driver's redirect handling takes care of. A full ring makes it wait, as
// Send does.
func (c *PairedConn) ResendTx(r Rerouter, tx []byte, asking bool) Future {
	f, _ := c.ResendTxContext(context.Background(), r, tx, asking)
	return f
}

// ResendTxContext is ResendTx whose wait for room in a full ring ends with ctx, as
// ResendContext's.
func (c *PairedConn) ResendTxContext(ctx context.Context, r Rerouter, tx []byte, asking bool) (Future, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return Future{}, err
	}
	return notSent(ctx, c.resendTx(ctx, r, tx, asking))
}

// resendTx is ResendTxContext's send.
func (c *PairedConn) resendTx(ctx context.Context, r Rerouter, tx []byte, asking bool) Future {
	n, ok := countTx(tx)
	if !ok {
		return Future{x: ErrBadCommand}
	}
	pre, replies, mode := "", n+2, modeTx
	if asking {
		pre, replies, mode = askingCmd, n+3, modeTxAsk
	}
	f := c.sendKeptParts(ctx, tx, pre, "", replies, n, mode)
	if f.x == nil && r != nil {
		f.mode |= modeRouted
		f.x = r
	}
	return f
}

// countTx returns the number of commands between MULTI and EXEC in tx.
func countTx(tx []byte) (int, bool) {
	if len(tx) < len(multiCmd)+len(execCmd) || string(tx[:len(multiCmd)]) != multiCmd || string(tx[len(tx)-len(execCmd):]) != execCmd {
		return 0, false
	}
	rest := tx[len(multiCmd) : len(tx)-len(execCmd)]
	n := 0
	for len(rest) > 0 {
		v, k, err := parser.Parse(rest)
		if err != nil || v.Kind() != parser.Array || len(v.Elems()) == 0 {
			return 0, false
		}
		rest = rest[k:]
		n++
	}
	return n, n > 0
}

// sendKept puts pre and cmd into one kept slot (see ring.Keep) taking replies replies,
// viewed by one Future.
func (c *PairedConn) sendKept(ctx context.Context, cmd []byte, pre string, replies int, mode uint8) Future {
	return c.sendKeptParts(ctx, cmd, pre, "", replies, 1, mode)
}

// sendKeptParts is sendEncoded for a kept slot, waiting for room within ctx.
func (c *PairedConn) sendKeptParts(ctx context.Context, cmd []byte, pre, post string, replies, parts int, mode uint8) Future {
	return c.sendSlot(ctx, cmd, pre, post, replies, parts, mode, true)
}

// viewRouted is view for a routed Future: it follows the redirects its Rerouter takes.
// Each redirect is followed once for the command, however many times and from however
// many goroutines its Future is read: the first reader's Reroute, and its outcome,
// are kept with the result (ring.Memo) for every later one. A transaction is sent
// again once for all its Futures, each reading its own element of the new one.
func (f Future) viewRouted(ctx context.Context, fn func(v parser.Value, err error)) error {
	for attempt := 1; ; attempt++ {
		bc, blocking := f.x.(*blockingCall)
		if blocking {
			// A blocking command: its reply is read from the slot of the pool
			// connection it went to, itself a routed Future (see assign).
			if err := bc.await(ctx); err != nil {
				if bc.unsent == nil {
					return err
				}
				// Never written (the pool closed): handed to the Rerouter once, as
				// a kept command the connection never wrote.
				red := Redirect{Cmd: bc.command(), Attempt: attempt, Err: err}
				next, rerr := bc.unsent.do(ctx, bc.rr, red)
				switch {
				case rerr == ErrNoReroute:
					return err
				case rerr != nil:
					return rerr
				case next.mode&modeRouted == 0:
					return next.view(ctx, fn)
				}
				f = next
				continue
			}
			f = bc.fut
		}
		rr := f.x.(Rerouter)
		mode := f.mode &^ modeRouted
		part := -1
		if mode != modePlain {
			part = int(f.part)
		}
		var red Redirect
		var orig error // a transaction's error, given as is if nobody reroutes it
		var rs *reroutes
		var before []partRedirect // a batch's commands ahead of this one that go again
		err := f.r.ViewCmd(ctx, f.seq, part, func(cmd []byte, v parser.Value, e error, memo *ring.Memo) {
			if un, ok := e.(*ring.Unsent); ok {
				// Never written: it may go elsewhere, as it is.
				e = un.Err
				var ok bool
				if red, ok = unsent(cmd, mode, part, e, attempt); ok {
					orig, rs = e, keepReroutes(memo, mode, cmd)
					if mode == modeBatch {
						before = batchAhead(cmd, part, func(_ int, c []byte) (Redirect, bool) {
							if isAsking(c) {
								// Resend's ASKING ahead of the command: it applies to
								// the next command on its connection only, so alone
								// elsewhere it would apply to someone else's.
								return Redirect{}, false
							}
							return Redirect{Cmd: append([]byte(nil), c...), Attempt: attempt, Err: e}, true
						})
					}
					return
				}
			}
			if e == nil && (mode == modeTx || mode == modeTxAsk) {
				all := v
				if mode == modeTxAsk {
					all, cmd = dropFirst(v), cmd[len(askingCmd):]
				}
				if msg := txRedirect(all, rr); msg != nil && cmd != nil {
					red = Redirect{Reply: string(msg), Cmd: append([]byte(nil), cmd...), Attempt: attempt, Tx: len(all.Elems()) - 2}
					_, orig = txElem(all, f.part)
					rs = keepReroutes(memo, mode, cmd)
					return
				}
				fn(txElem(all, f.part))
				return
			}
			all := v
			if e == nil && mode != modePlain {
				v, e = batchElem(v, f.part)
			}
			if e == nil && v.IsError() && rr.Reroutes(v.Bytes()) {
				if c := commandAt(cmd, part); c != nil {
					red = Redirect{Reply: string(v.Bytes()), Cmd: append([]byte(nil), c...), Attempt: attempt}
					rs = keepReroutes(memo, mode, cmd)
					if mode == modeBatch {
						before = batchAhead(cmd, part, func(j int, c []byte) (Redirect, bool) {
							v, e := batchElem(all, int32(j))
							if e != nil || !v.IsError() || !rr.Reroutes(v.Bytes()) || isAsking(c) {
								// Not redirected; or the ASKING of an ASK resend, refused
								// (LOADING, say) with the command behind it: alone
								// elsewhere it would apply to someone else's command.
								return Redirect{}, false
							}
							return Redirect{Reply: string(v.Bytes()), Cmd: append([]byte(nil), c...), Attempt: attempt}, true
						})
					}
					return
				}
			}
			fn(v, e)
		})
		if blocking {
			bc.viewed(ctx, err) // its ctx ended before the reply: the connection goes
		}
		if errors.Is(err, ring.ErrExpired) {
			return ErrExpired
		}
		if err != nil || rs == nil {
			return err
		}
		// The batch's redirected commands ahead of this one go again first, in their
		// order, whichever Future is read first: each once (its own Future then reads
		// the outcome), and errors are their Futures' own.
		for _, b := range before {
			if _, err := rs.follow(ctx, rr, b.red, mode, b.part); err != nil && ctx != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		next, err := rs.follow(ctx, rr, red, mode, f.part)
		if err == ErrNoReroute {
			if orig != nil {
				fn(parser.Value{}, orig)
			} else {
				fn(parser.NewSimpleError(red.Reply), nil)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if next.mode&modeRouted == 0 {
			return next.view(ctx, fn)
		}
		f = next
	}
}

// reroutes is what a redirected result keeps in its ring.Memo: the one Reroute of
// each of its commands (a batch's each on its own, a transaction's as a whole).
type reroutes struct{ r []reroute }

// reroute is one command's Reroute and its outcome.
type reroute struct {
	lock chan struct{} // capacity 1: full while a reader runs the Reroute
	done bool
	next Future
	err  error
}

// do calls rr.Reroute for red unless a reader did before, and returns its outcome. A
// reader whose ctx ended during the Reroute (which then sent nothing, see Rerouter)
// leaves it to the next reader; one whose ctx ends while another runs it stops
// waiting.
func (r *reroute) do(ctx context.Context, rr Rerouter, red Redirect) (Future, error) {
	var stop <-chan struct{}
	if ctx != nil {
		stop = ctx.Done()
	}
	select {
	case r.lock <- struct{}{}:
	case <-stop:
		return Future{}, ctx.Err()
	}
	defer func() { <-r.lock }()
	if !r.done {
		next, err := rr.Reroute(ctx, red)
		if err != nil && ctx != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Future{}, err
		}
		r.next, r.err, r.done = next, err, true
	}
	return r.next, r.err
}

// keepReroutes returns the reroutes kept in memo, keeping new ones (one per command
// of cmd for a batch, one otherwise) if there are none yet. It runs during the view.
func keepReroutes(memo *ring.Memo, mode uint8, cmd []byte) *reroutes {
	if v := memo.Load(); v != nil {
		return v.(*reroutes)
	}
	n := 1
	if mode == modeBatch {
		n = countCommands(cmd)
	}
	rs := &reroutes{r: make([]reroute, max(n, 1))}
	for i := range rs.r {
		rs.r[i].lock = make(chan struct{}, 1)
	}
	return memo.Keep(rs).(*reroutes)
}

// follow calls rr.Reroute for red, the redirect of part part of the result, unless
// that was done already, and returns the Future to wait on (for a transaction, part's
// element of the new one).
func (rs *reroutes) follow(ctx context.Context, rr Rerouter, red Redirect, mode uint8, part int32) (Future, error) {
	i := 0
	if mode == modeBatch {
		i = int(part)
	}
	if i < 0 || i >= len(rs.r) {
		return Future{}, ErrNoReroute // no such command: give the reply as it is
	}
	next, err := rs.r[i].do(ctx, rr, red)
	if red.Tx > 0 {
		next.part = part
	}
	return next, err
}

// partRedirect is the redirect of one command of a batch.
type partRedirect struct {
	part int32
	red  Redirect
}

// batchAhead returns the redirects of a batch's commands before part, in order, in
// one pass over cmd, the batch's encoded commands: redirect gives command j's (c),
// or false if it is not sent again.
func batchAhead(cmd []byte, part int, redirect func(j int, c []byte) (Redirect, bool)) []partRedirect {
	var out []partRedirect
	for j := 0; j < part; j++ {
		_, n, err := parser.Parse(cmd)
		if err != nil {
			break
		}
		if red, ok := redirect(j, cmd[:n]); ok {
			out = append(out, partRedirect{int32(j), red})
		}
		cmd = cmd[n:]
	}
	return out
}

// countCommands returns how many encoded commands buf holds.
func countCommands(buf []byte) int {
	n := 0
	for len(buf) > 0 {
		_, k, err := parser.Parse(buf)
		if err != nil {
			break
		}
		buf = buf[k:]
		n++
	}
	return n
}

// unsent returns the Redirect of a command that was never written (err is the close
// error), from cmd, its kept encoded form: the command part of it, or for a
// transaction all of it (without the ASKING ahead). ok is false when there is no
// such command to send.
func unsent(cmd []byte, mode uint8, part int, err error, attempt int) (red Redirect, ok bool) {
	if cmd == nil {
		return Redirect{}, false
	}
	tx := 0
	switch mode {
	case modeTxAsk:
		if len(cmd) < len(askingCmd) {
			return Redirect{}, false
		}
		cmd = cmd[len(askingCmd):]
		fallthrough
	case modeTx:
		if tx, ok = countTx(cmd); !ok {
			return Redirect{}, false
		}
	default:
		if cmd = commandAt(cmd, part); cmd == nil {
			return Redirect{}, false
		}
	}
	return Redirect{Cmd: append([]byte(nil), cmd...), Attempt: attempt, Tx: tx, Err: err}, true
}

// modeTxAsk is modeTx for a transaction sent after ASKING: its result starts with
// ASKING's reply.
const modeTxAsk uint8 = 3

// dropFirst returns v's elements but the first, as an Array (aliasing them).
func dropFirst(v parser.Value) parser.Value {
	e := v.Elems()
	if len(e) == 0 {
		return v
	}
	return parser.NewArray(e[1:]...)
}

// txRedirect returns the first error reply among a transaction's queued replies (or
// its EXEC reply) that rr takes, or nil. Only a transaction whose EXEC failed (real
// servers answer EXECABORT after a refused command) is redirected: one whose EXEC
// answered ran, whatever a queued reply said, and is never sent again.
func txRedirect(all parser.Value, rr Rerouter) []byte {
	e := all.Elems()
	if len(e) < 3 || !e[len(e)-1].IsError() {
		return nil
	}
	for _, q := range e[1:] {
		if q.IsError() && rr.Reroutes(q.Bytes()) {
			return q.Bytes()
		}
	}
	return nil
}

// commandAt returns command part of the encoded commands buf (the whole of buf for
// part < 0), or nil if buf holds no such command.
func commandAt(buf []byte, part int) []byte {
	if part < 0 {
		if len(buf) == 0 {
			return nil
		}
		return buf
	}
	for i := 0; ; i++ {
		_, n, err := parser.Parse(buf)
		if err != nil {
			return nil
		}
		if i == part {
			return buf[:n]
		}
		buf = buf[n:]
	}
}
