package driver

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/ring"
	"github.com/respring/respring/writer"
)

// CLIENT REPLY on a DedicatedConn. The server answers nothing while CLIENT REPLY is
// OFF, nor the command after a SKIP (nor the OFF and SKIP commands themselves); ON
// answers OK. The DedicatedConn follows the mode in the order commands enter the ring,
// so a command the server will not answer takes no reply (its Future is done with a
// null value once it is written) and every other command still gets its own reply. A
// connection returned with CLIENT REPLY not ON is closed rather than reused.
//
// The commands that change the mode (and the one a SKIP applies to) are pinned: once
// in the ring they are written whatever their Future's ctx does; one that could not
// go into the ring changes nothing. Each dedicated connection's handshake checks once
// that the server skips a reply after CLIENT REPLY SKIP (probeReplySkip); if the
// server refuses the SKIP for good (an ACL without client|reply, which then logs one
// ACL failure per dedicated connection; a renamed CLIENT), or answers it and does not
// skip, OFF and SKIP are refused with that error. An OFF the server refuses later with an error reply
// (-BUSY while another client's script runs past busy-reply-threshold, an ACL changed
// meanwhile) is found out at the reply that comes where the next ON's OK is due, and
// the connection is dropped there (checkOff): the commands sent meanwhile were done
// with no reply, as under OFF; none gets another's reply. A SKIP is checked the same
// way: right after the command it applies to, the DedicatedConn sends CLIENT REPLY ON
// of its own (confirmSkip), whose OK is the first reply due since the SKIP (when that
// command is ON, its own OK; OFF, the next ON's). If the server refused the SKIP
// later (-BUSY, -NOPERM after an ACL change), the SKIP's error comes there instead,
// and the connection is dropped before the skipped command's reply can go to the
// command after it. (In a ring the caller filled, no ON is sent, and that SKIP goes
// unchecked: the driver's check never makes a caller wait.)

// offChecks is a FIFO of sequence numbers of CLIENT REPLY OFF and SKIP commands (see
// dedState.offs), each checked at the first reply after it: senders add under
// dedState.mu, the loop takes. Its own lock, not
// dedState.mu, which a sender holds while it waits for room in a full ring.
type offChecks struct {
	n    atomic.Int32 // len(seqs), for the loop's look without the lock
	mu   sync.Mutex
	seqs []uint64
}

// add records the OFF or SKIP command seq (under dedState.mu).
func (o *offChecks) add(seq uint64) {
	o.mu.Lock()
	o.seqs = append(o.seqs, seq)
	o.n.Store(int32(len(o.seqs)))
	o.mu.Unlock()
}

// undo takes seq off the list again if it was added last (under dedState.mu): the
// command that was to be checked with it could not be sent.
func (o *offChecks) undo(seq uint64) {
	o.mu.Lock()
	if n := len(o.seqs); n > 0 && o.seqs[n-1] == seq {
		o.seqs = o.seqs[:n-1]
		o.n.Store(int32(n - 1))
	}
	o.mu.Unlock()
}

// due returns the oldest OFF whose check is due at a reply to next (a command after
// it), and takes it off the list; ok is false if there is none.
func (o *offChecks) due(next uint64) (seq uint64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seqs) == 0 || next <= o.seqs[0] {
		return 0, false
	}
	seq = o.seqs[0]
	o.seqs = o.seqs[:copy(o.seqs, o.seqs[1:])]
	o.n.Store(int32(len(o.seqs)))
	return seq, true
}

// checkOff runs on the loop before the reply v is given to its command. While
// replies are off, the server answers nothing until CLIENT REPLY ON, which answers
// OK: the first reply after an OFF, or after a SKIP and the command it applies to,
// goes to an ON. Anything else there is the error with which the server refused the
// OFF or SKIP (replies stayed on), and every reply after it would go to the command
// before its own: the connection is dropped instead (the ON and the commands written
// after it fail with ErrConnLost, this as the cause). An error reply to the ON itself
// (the SKIP taken, the ON refused: -BUSY) is taken for the same; dropping the
// connection then is needless, but no reply goes astray.
func (d *dedState) checkOff(r *ring.Ring, v parser.Value) error {
	if d.offs.n.Load() == 0 {
		return nil
	}
	if _, ok := d.offs.due(r.NextReply()); !ok {
		return nil
	}
	if v.Kind() == parser.SimpleString && string(v.Bytes()) == "OK" {
		return nil
	}
	what := v.Kind().String()
	if v.IsError() {
		what = strconv.Quote(v.Text())
	}
	return &protocolError{reason: "a reply (" + what + ") came where CLIENT REPLY ON's OK was due: the server did not turn replies off (it refused CLIENT REPLY OFF or SKIP, or refused that ON), so the replies after it may belong to other commands"}
}

// errSkipIgnored is the error of CLIENT REPLY OFF and SKIP on a dedicated connection
// whose server answered the handshake's SKIP and did not skip the next reply (a proxy
// or a server that takes CLIENT REPLY without doing it; see probeReplySkip): their
// replies would go to the commands after them.
var errSkipIgnored error = &protocolError{reason: "the server answers CLIENT REPLY SKIP but does not skip the next reply: CLIENT REPLY OFF and SKIP are refused on its dedicated connections"}

// Probe commands (see probeReplySkip).
const (
	probeSkipped  = "respring:skip-probe:skipped"
	probeAnswered = "respring:skip-probe:answered"
)

// skipProbe receives the verdict of a dedicated connection's CLIENT REPLY probe.
type skipProbe struct {
	// refused is why OFF and SKIP are refused on the connection: nil if the server
	// skips as it should (or refused the SKIP for now only, -BUSY, -LOADING).
	refused error
}

// probeReplySkip checks, at the end of a dedicated connection's handshake, that the
// server takes CLIENT REPLY: it sends CLIENT REPLY SKIP, ECHO probeSkipped and ECHO
// probeAnswered in one write, and reads replies until probeAnswered's (three at most:
// a server that answers every one is read to the end, so none is left for later
// commands). Only probeAnswered's should come. A refusal of the SKIP for good (an ACL
// without client|reply, which then logs one ACL failure per dedicated connection; a
// renamed CLIENT) is kept, as any other reply where none was due (errSkipIgnored:
// the server answered the SKIP, as checkOff could not tell from an ON's OK); another
// error reply (-BUSY while a script runs, -LOADING) says nothing about later.
func (s *syncConn) probeReplySkip(pr *skipProbe) error {
	s.out = writer.AppendCommand(s.out[:0], "CLIENT", "REPLY", "SKIP")
	s.out = writer.AppendCommand(s.out, "ECHO", probeSkipped)
	s.out = writer.AppendCommand(s.out, "ECHO", probeAnswered)
	if _, err := s.nc.Write(s.out); err != nil {
		return err
	}
	var first parser.Value
	for i := range 3 {
		v, err := s.read()
		if err != nil {
			return err
		}
		if i == 0 {
			first = v
		}
		if !v.IsError() && string(v.Bytes()) == probeAnswered {
			break
		}
	}
	switch {
	case !first.IsError() && string(first.Bytes()) == probeAnswered:
	case first.IsError():
		if re := newRedisError(first); re.Code() == "NOPERM" || strings.Contains(re.Error(), "unknown") {
			pr.refused = re
		}
	default:
		pr.refused = errSkipIgnored
	}
	return nil
}

// replyOnCmd is CLIENT REPLY ON, encoded.
const replyOnCmd = "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n"

// confirmSkip sends CLIENT REPLY ON right after the command a SKIP applied to (under
// mu), checked as skip, an entry of offs: pinned, and its reply read by nobody, as
// the health check's PING. Replies are on again by then, so the server answers it OK,
// the first reply due since the SKIP, which checkOff verifies. After a blocking
// command, the ON waits behind it on the server as any command would. It never waits
// for room in the ring: in a full ring (or a closed one) no ON is sent and the check
// is taken back, so the SKIP goes unchecked (as the caller sent no more than the ring
// holds, none of its commands waits for the driver's).
func (c *PairedConn) confirmSkip(skip uint64) {
	d := c.ded
	seq, cmd, err := c.ring.Reserve(cancelledCtx)
	if err != nil {
		d.offs.undo(skip) // no reply after the SKIP can have come: none was due
		// A blocking command skipped has no ON to end it: the health check counts
		// it as over once written, as before such commands were followed, rather
		// than as running for good (no other ON comes: replies are on).
		d.blocks.answeredBy(0)
		return
	}
	*cmd = append((*cmd)[:0], replyOnCmd...)
	c.ring.Pin(seq)
	c.ring.Unread(seq)
	d.skipOn.Store(seq + 1)
	wake := c.ring.Publish(seq, false) // not forgotten: its failure is no user's error
	d.blocks.answeredBy(seq)
	if wake {
		c.b.wake()
	}
}

// replyMode is the server's CLIENT REPLY state for the next command.
type replyMode uint8

const (
	replyOn   replyMode = iota
	replyOff            // until CLIENT REPLY ON
	replySkip           // the next command only
)

// errReplyOff is the error of SendBatch and SendTx while CLIENT REPLY is not ON: a
// batch's commands would be answered only in part.
var errReplyOff = errors.New("respring: CLIENT REPLY is OFF or SKIP on this DedicatedConn: SendBatch and SendTx need every reply (send CLIENT REPLY ON first)")

// setReply sets the mode (under mu), and its mirror for the health check (off): 0
// while ON; leaving ON, offUnknown until the OFF or SKIP command is in the ring
// (offAt).
func (d *dedState) setReply(m replyMode) {
	switch {
	case m == replyOn:
		d.off.Store(0)
	case d.reply == replyOn:
		d.off.Store(offUnknown)
	}
	d.reply = m
}

// offUnknown is dedState.off while the command that turns replies off is being sent:
// every command in flight then came before it.
const offUnknown = ^uint64(0)

// offAt records f, the CLIENT REPLY OFF or SKIP command that turned replies off, as
// where the commands that take no reply start (under mu).
func (d *dedState) offAt(f Future) {
	if f.x == nil && f.r != nil && d.off.Load() == offUnknown {
		d.off.Store(f.seq + 1)
	}
}

// dueBeforeOff reports, for off (a load of dedState.off, not 0: replies are not ON),
// whether a command sent before they were turned off is still in flight: it is due
// its reply. Any goroutine.
func dueBeforeOff(r *ring.Ring, off uint64) bool {
	if r.InFlight() == 0 || r.Err() != nil {
		return false
	}
	if off == offUnknown {
		return true
	}
	from := off - 1 // the off command's seq
	return from > 0 && !r.Freed(from-1)
}

// replyOn reports whether the connection is in its normal reply mode.
func (d *dedState) replyOn() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reply == replyOn
}

// sendDedicated is send on a dedicated connection: under the connection's lock, so
// that CLIENT REPLY modes and ring order agree.
func (c *PairedConn) sendDedicated(ctx context.Context, forget bool, args []any) Future {
	d := c.ded
	d.mu.Lock()
	defer d.mu.Unlock()
	cls, use := classify(args)
	switch cls {
	case clsReply:
		return c.sendReplyMode(ctx, forget, args)
	case clsPlain, clsBlocking:
	case clsWatch:
		d.watched.Store(true)
	case clsEmpty:
		return c.failed(forget, errEmptyCommand)
	default:
		return c.failed(forget, refusal(args, use, "a dedicated connection"))
	}
	return c.sendInMode(ctx, forget, cls == clsBlocking, args)
}

// sendInMode sends a command on a dedicated connection in its CLIENT REPLY mode (under
// mu): taking no reply while the mode is not ON, and using a SKIP up.
func (c *PairedConn) sendInMode(ctx context.Context, forget, blocking bool, args []any) Future {
	d := c.ded
	noReply := d.reply != replyOn
	if d.reply == replySkip {
		// The command the server skips: the skip is used up only once it is in the
		// ring, pinned, as for the CLIENT REPLY commands (see sendReplyMode).
		prevOff := d.off.Load()
		d.setReply(replyOn)
		send := func() Future { return c.sendMode(ctx, forget, true, true, args) }
		var f Future
		if blocking {
			f = d.sendingBlocking(c.ring, blockCmd{quiet: true, limit: argsLimit(args)}, send)
		} else {
			f = send()
		}
		if f.x != nil {
			d.reply = replySkip
			d.off.Store(prevOff)
			return f
		}
		if d.skipSeq != 0 {
			d.offs.add(d.skipSeq - 1)
			c.confirmSkip(d.skipSeq - 1)
		}
		d.skipSeq = 0
		return f
	}
	if blocking {
		return d.sendingBlocking(c.ring, blockCmd{quiet: noReply, limit: argsLimit(args)}, func() Future { return c.sendMode(ctx, forget, noReply, false, args) })
	}
	return c.sendMode(ctx, forget, noReply, false, args)
}

// sendingBlocking runs send, which sends a blocking command (or a batch with one) on
// the dedicated connection, under mu, and tracks it for the health check (blockTrack);
// c says how (quiet: the server will not answer it, CLIENT REPLY OFF or SKIP; lead: a
// batch with commands ahead of its blocking one, reads the link's read count before).
func (d *dedState) sendingBlocking(r *ring.Ring, c blockCmd, send func() Future) Future {
	d.blocks.sending.Store(true)
	f := send()
	if f.x == nil && f.r != nil {
		c.seq = f.seq
		d.blocks.add(r, c)
	}
	d.blocks.sending.Store(false)
	return f
}

// argsLimit is blockLimit for a command given as arguments (encoded once more: a
// blocking command is rare, and waits far longer than that takes).
func argsLimit(args []any) time.Duration {
	cmd, err := writer.AppendArgs(nil, args...)
	if err != nil {
		return -1 // not sent either
	}
	return blockLimit(cmd)
}

// blockTrack follows the blocking commands of a dedicated connection for its health
// check: those sent that may still run, in order, and whether one is being sent.
type blockTrack struct {
	mu      sync.Mutex
	cmds    []blockCmd // sent, oldest first, until over (prune)
	sending atomic.Bool
	// grace is how long after its timeout a blocking command's answer may still
	// come (the health interval, at least a second: a server before 6.0 finds
	// timeouts once a second or so); set before the connection is used.
	grace time.Duration
}

// blockCmd is a blocking command sent: seq; for one the server does not answer
// (quiet), until is the first command after it that is answered (a CLIENT REPLY ON,
// the user's or confirmSkip's; 0 until it is sent), whose reply says it is over. For
// a batch whose first command is not its first blocking one (lead), reads is the read
// count of the link, on when SendBatch was called: until that link read more (or
// another link took over), the commands ahead of the blocking one are due their
// replies. limit is how long the server may block on it before it answers it on
// its own (blockLimit; -1: no bound), counted from since, when it was first found
// with nothing ahead of it in flight (its timeout runs from then at the latest).
type blockCmd struct {
	seq, until uint64
	quiet      bool
	lead       bool
	on         *link
	reads      uint64
	limit      time.Duration
	since      time.Time
}

// add records c, a blocking command (or batch) just published on r.
func (b *blockTrack) add(r *ring.Ring, c blockCmd) {
	b.mu.Lock()
	b.prune(r)
	if c.limit >= 0 && !c.lead && (c.seq == 0 || r.Freed(c.seq-1)) {
		c.since = time.Now() // nothing ahead of it: it runs now
	}
	b.cmds = append(b.cmds, c)
	b.mu.Unlock()
}

// answeredBy records seq, a CLIENT REPLY ON just published, as the first command
// answered after the quiet ones sent before it (under dedState.mu, as they are); with
// seq 0, that none will come: they count as over once written.
func (b *blockTrack) answeredBy(seq uint64) {
	b.mu.Lock()
	for i := range b.cmds {
		if c := &b.cmds[i]; c.quiet && c.until == 0 {
			c.until, c.quiet = seq, seq != 0
		}
	}
	b.mu.Unlock()
}

// over reports whether c is over: answered, failed, or freed and its slot reused;
// a quiet one, once the command answered after it is (its slot is done as soon as
// it is written, while the server may block on it for long). Under mu.
func (c blockCmd) over(r *ring.Ring) bool {
	if c.quiet {
		return r.Err() != nil || (c.until != 0 && (r.Freed(c.until) || r.Done(c.until)))
	}
	return r.Freed(c.seq) || r.Done(c.seq)
}

// prune drops the commands over from the front; under mu. Replies come in order, so
// those behind wait their turn.
func (b *blockTrack) prune(r *ring.Ring) {
	i := 0
	for i < len(b.cmds) && b.cmds[i].over(r) {
		i++
	}
	if i > 0 {
		b.cmds = b.cmds[:copy(b.cmds, b.cmds[i:])]
	}
}

// state reports whether a blocking command may be running on the connection (one
// sent and not over, or one being sent while the ring has room: in a full ring its
// sender waits, and what is in flight is due an answer), and whether the oldest
// command in flight is one of them: nothing is then due an answer, since everything
// else waits behind it on the server. For a batch with commands ahead of its blocking
// one, that is once the link read anything since SendBatch was called (on and reads:
// the current link and its read count): those commands' replies come first. late
// reports that this oldest one is past its timeout and grace: its answer (or, for one
// the server does not answer, that of the command answered after it) is due. Any
// goroutine.
func (b *blockTrack) state(r *ring.Ring, on *link, reads uint64) (running, ahead, late bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(r)
	if len(b.cmds) > 0 {
		h := &b.cmds[0]
		before := h.seq == 0 || r.Freed(h.seq-1) // nothing ahead of it in flight
		ahead = before && (h.quiet || !r.Freed(h.seq)) && (!h.lead || on != h.on || reads != h.reads)
		if ahead && h.limit >= 0 {
			now := time.Now()
			if h.since.IsZero() {
				h.since = now
			}
			late = h.until != 0 || !h.quiet
			if late {
				limit := h.limit
				if h.quiet {
					limit = b.quietLimit()
				}
				late = limit >= 0 && now.Sub(h.since) > limit+b.grace
			}
		}
		return true, ahead, late
	}
	return b.sending.Load() && r.InFlight() < r.Size(), false, false
}

// quietLimit is the limit of the oldest blocking command, one the server does not
// answer, and of those after it that the same command's answer ends (until): the
// server runs them one after the other with nothing in between that answers, so the
// sum of their limits (-1: no bound). Under b.mu.
func (b *blockTrack) quietLimit() time.Duration {
	var sum time.Duration
	for _, c := range b.cmds {
		if !c.quiet || c.until != b.cmds[0].until {
			break
		}
		if sum = addLimit(sum, c.limit); sum < 0 {
			return -1
		}
	}
	return sum
}

// sendReplyMode sends CLIENT REPLY ON, OFF or SKIP and follows the mode (under d.mu).
func (c *PairedConn) sendReplyMode(ctx context.Context, forget bool, args []any) Future {
	d := c.ded
	mode := ""
	if len(args) == 3 {
		switch a := args[2].(type) {
		case string:
			mode = strings.ToUpper(a)
		case []byte:
			mode = strings.ToUpper(string(a))
		}
	}
	if (mode == "OFF" || mode == "SKIP") && d.replyErr != nil {
		// The server refuses CLIENT REPLY on this connection (an ACL without
		// client|reply, a renamed CLIENT; see newDedicated): it would answer OFF or
		// SKIP with an error where no reply is expected.
		return c.failed(forget, d.replyErr)
	}
	// The mode changes as the command goes into the ring: commands after it are
	// answered, or not, accordingly. The command is pinned (written whatever its
	// Future's ctx does), and the mode goes back if it could not be sent.
	prevMode, prevOff, prevSkip := d.reply, d.off.Load(), d.skipSeq
	// A SKIP whose command is this one is checked at the first reply after it:
	// this ON's OK, or for an OFF the next ON's (one check per reply).
	skipCheck := prevMode == replySkip && d.skipSeq != 0 && (mode == "ON" || mode == "OFF")
	if skipCheck {
		d.offs.add(d.skipSeq - 1) // before the ON is published: its reply checks it
	}
	var f Future
	switch mode {
	case "ON":
		d.setReply(replyOn)
		f = c.sendMode(ctx, forget, false, true, args) // answered OK whatever came before
		if f.x == nil && f.r != nil {
			d.blocks.answeredBy(f.seq)
		}
	case "OFF":
		d.setReply(replyOff)
		f = c.sendMode(ctx, forget, true, true, args)
		d.offAt(f)
		if f.x == nil && f.r != nil && prevMode == replyOn {
			d.offs.add(f.seq) // checked at the next ON's reply
		}
	case "SKIP":
		if d.reply != replyOff {
			d.setReply(replySkip)
		}
		f = c.sendMode(ctx, forget, true, true, args)
		d.offAt(f)
		if f.x == nil && f.r != nil && prevMode == replyOn {
			d.skipSeq = f.seq + 1 // checked once its command is known
		}
	default:
		// Anything else is a syntax error the server answers, or not, as any
		// command in the mode (and that changes nothing else).
		return c.sendInMode(ctx, forget, false, args)
	}
	switch {
	case f.x != nil:
		d.reply = prevMode
		d.off.Store(prevOff)
		d.skipSeq = prevSkip
		if skipCheck {
			d.offs.undo(d.skipSeq - 1)
		}
	case skipCheck:
		d.skipSeq = 0 // checked
	}
	return f
}
