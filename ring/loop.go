package ring

import (
	"slices"

	"github.com/respring/respring/parser"
)

// This file holds the writer/reader side: the methods only the connection's event loop
// calls, one goroutine at a time. They own writeCur, replyCur, expect and each slot's
// written flag.

// Collect clears the wake flag, then appends the commands of consecutive ready slots
// from the write cursor to dst and marks them written (a CAS from ready, so a racing
// cancel or Close either wins, and the command is skipped, or loses cleanly). It skips
// slots that were failed or cancelled and stops at the first slot still being encoded
// or not yet reserved. It returns dst and how many commands it appended. Once written,
// a command is never re-sent: its reply is due on this connection, and FailWritten
// fails it if the connection is lost.
func (r *Ring) Collect(dst []byte) ([]byte, int) {
	dst, _, n := r.collect(dst, nil, 0)
	return dst, n
}

// MaxVecRefs is the most commands one CollectVec references instead of copying; the
// vector it returns then has at most 2*MaxVecRefs+1 buffers, well within the kernel's
// limit on one writev (IOV_MAX, 1024 on Linux).
const MaxVecRefs = 32

// CollectVec is Collect for a writer that writes a vector of buffers: the command of
// a slot holding big bytes or more (big > 0) is not copied into dst but referenced in
// vec, and the parts of dst between such commands are referenced around it. vec comes
// back empty when no command was referenced: dst alone holds the batch. Otherwise
// vec, in order, is the whole batch; the writer must write it (or copy what it does
// not write at once) before it completes any reply of this ring, since a slot lets
// go of its buffer when its reply comes, and must not grow dst (which vec may alias)
// until then. At most MaxVecRefs commands are referenced per call; later large ones
// are copied.
func (r *Ring) CollectVec(dst []byte, vec [][]byte, big int) ([]byte, [][]byte, int) {
	if big <= 0 {
		big = int(^uint(0) >> 1)
	}
	return r.collect(dst, vec, big)
}

// collect is Collect and CollectVec; vec is only used when big > 0.
func (r *Ring) collect(dst []byte, vec [][]byte, big int) ([]byte, [][]byte, int) {
	r.wake.Store(false)
	r.collFrom = r.writeCur
	n := 0
	mark, refs := 0, 0 // dst[:mark] is referenced in vec already
	for {
		seq := r.writeCur
		s := r.lookup(seq)
		if s == nil {
			break // not reserved yet (nor any slot of its page)
		}
		st := s.state.Load()
		if stSeq(st) != seq&seqMask {
			break // not reserved yet (the slot still holds an older command)
		}
		switch stPhase(st) {
		case phaseReady:
			if !s.state.CompareAndSwap(st, mkState(seq, phaseWritten)) {
				continue // a cancel or Close took it: look again
			}
			switch {
			case big > 0 && s.size() >= big && refs < MaxVecRefs && !s.noReply:
				// By reference: the slot keeps its buffer until its reply (see
				// complete), which cannot come before the writer has written vec.
				// (A command taking no reply is done, and its slot reusable, as
				// soon as Collect returns: it is copied.) Attached strings are
				// referenced, the pieces of the buffer between them copied.
				if len(s.ext) > 0 {
					dst, vec, mark = appendCmd(dst, vec, mark, s, true)
					if s.lent.Load() != 0 { // handed back by Wrote
						r.lentOut[r.lentN] = seq
						r.lentN++
					}
				} else {
					vec, mark = refBatch(dst, vec, mark)
					vec = append(vec, s.cmd)
				}
				refs++
			default:
				if len(s.ext) == 0 { // the common case, without a call more
					dst, vec, mark = appendCopy(dst, vec, mark, s.cmd)
				} else {
					dst, vec, mark = appendCmd(dst, vec, mark, s, false)
					s.unlend(seq) // copied
				}
				if !s.keep {
					r.dropCmd(s)
				}
			}
			n++
			if s.noReply {
				// The server sends nothing for it: done once written, no reply due.
				s.written = false
				if s.state.CompareAndSwap(mkState(seq, phaseWritten), mkState(seq, phaseCompleting)) {
					s.val, s.err = parser.NewNull(), nil
					s.state.Store(mkState(seq, phaseDone))
					s.notify()
				}
				break
			}
			s.written = true
			r.expect++
		case phaseCompleting, phaseDone:
			// Failed, cancelled or closed before it was written: no reply will come.
			s.written = false
		default: // reserved: still being encoded
			return r.collected(dst, vec, mark, n)
		}
		r.writeCur++
	}
	return r.collected(dst, vec, mark, n)
}

// appendCmd appends the slot's command to dst, the batch, with its attached strings
// at their offsets: copied, or with ref referenced in vec (after dst's part so far).
func appendCmd(dst []byte, vec [][]byte, mark int, s *slot, ref bool) ([]byte, [][]byte, int) {
	at := 0
	for _, e := range s.ext {
		dst, vec, mark = appendCopy(dst, vec, mark, s.cmd[at:e.at])
		if ref {
			vec, mark = refBatch(dst, vec, mark)
			vec = append(vec, e.b)
		} else {
			dst, vec, mark = appendCopy(dst, vec, mark, e.b)
		}
		at = e.at
	}
	return appendCopy(dst, vec, mark, s.cmd[at:])
}

// refBatch references in vec the part of dst not referenced yet (dst[mark:]).
func refBatch(dst []byte, vec [][]byte, mark int) ([][]byte, int) {
	if mark < len(dst) {
		vec = append(vec, dst[mark:len(dst):len(dst)])
	}
	return vec, len(dst)
}

// appendCopy appends b to dst, the batch, of which vec references dst[:mark] (see
// collect). When dst must grow while vec references its array, the rest of the array
// is referenced too and the batch goes on in a new one, instead of copying.
func appendCopy(dst []byte, vec [][]byte, mark int, b []byte) ([]byte, [][]byte, int) {
	if cap(dst)-len(dst) < len(b) {
		if mark > 0 {
			// The batch goes on in an array twice the size: the writer's buffer
			// is the array a batch ends in, so it soon holds a whole batch's
			// copied parts again (one that only fit the last part made every
			// batch of two large SETs allocate).
			vec, _ = refBatch(dst, vec, mark)
			dst = make([]byte, 0, max(len(b), 2*cap(dst)))
			return append(dst, b...), vec, 0
		}
		// Double, not append's 1.25x for large slices: a batch of large commands
		// would be copied over and over while it is gathered.
		dst = slices.Grow(dst, max(len(b), len(dst)))
	}
	return append(dst, b...), vec, mark
}

func (r *Ring) collected(dst []byte, vec [][]byte, mark, n int) ([]byte, [][]byte, int) {
	if r.skipNoReply() {
		r.free()
	}
	if len(vec) > 0 {
		vec, _ = refBatch(dst, vec, mark)
	}
	return dst, vec, n
}

// skipNoReply moves the reply cursor over leading slots that take no reply (failed,
// cancelled or closed before they were written), so that their capacity is freed even
// when no reply comes. It reports whether the cursor moved.
func (r *Ring) skipNoReply() bool {
	start := r.replyCur
	for r.replyCur < r.writeCur && !r.slot(r.replyCur).written {
		r.replyCur++
	}
	return r.replyCur != start
}

// free publishes the reply cursor as freed and wakes a Reserve waiting for space. A
// batch the writer holds (Hold) is not freed until Wrote.
func (r *Ring) free() {
	f := r.replyCur
	if r.holding && f > r.holdFrom {
		f = r.holdFrom // (Hold set it at replyCur or later: freed never goes back)
	}
	r.freed.Store(f)
	if r.spaceWaiters.Load() > 0 {
		notify(r.spaceSig)
	}
}

// Complete gives v, the next reply read from the connection, to the oldest written slot
// awaiting a reply: it deep-copies v into the slot's parser.Store (no allocation in
// steady state; v may alias the loop's read buffer), marks the slot done and wakes its
// viewers. A server error reply (v.IsError()) to a forgotten command is counted in
// ForgottenErrors, and a forgotten command's value is not stored. If the slot was
// already completed (cancelled after it was written, or closed), the reply is dropped:
// it still belonged to that slot.
//
// Complete returns ErrUnsolicited if no written slot awaits a reply; the reply belongs
// to nobody and the driver should drop the connection.
func (r *Ring) Complete(v parser.Value) error {
	_, err := r.complete(v, false, nil)
	return err
}

// CompleteOwned is Complete for a reply whose memory the caller hands over: the slot
// keeps v as it is instead of copying it, so v must alias nothing the caller will
// reuse (a large reply read into a buffer the caller then drops). buf, if not nil, is
// the buffer v lives in: the ring gives it to the release function (SetRelease) once
// it lets go of the reply, so the caller must not touch buf again when kept is true.
// Part of a multi-reply command, or the reply of a forgotten or closed command, v is
// copied or dropped like any reply and kept is false: buf is still the caller's.
//
// A reply kept this way is let go of earlier than others: once it was read and
// bigKept (4) later such replies were read too, its Views return ErrExpired.
func (r *Ring) CompleteOwned(v parser.Value, buf []byte) (kept bool, err error) {
	return r.complete(v, true, buf)
}

// complete is Complete (owned false) and CompleteOwned; it reports whether the slot
// kept v as it is.
func (r *Ring) complete(v parser.Value, owned bool, buf []byte) (kept bool, _ error) {
	if r.skipNoReply() {
		r.free()
	}
	if r.replyCur == r.writeCur {
		return false, ErrUnsolicited
	}
	seq := r.replyCur
	s := r.slot(seq)
	multi := s.multiOn && s.multi.replies > 1
	if multi && !r.gather(s, v) {
		return false, nil // more replies to come for this slot
	}
	if s.state.CompareAndSwap(mkState(seq, phaseWritten), mkState(seq, phaseCompleting)) {
		switch {
		case multi:
			s.val = s.multi.gather.Appended()
		case s.forget:
			if v.IsError() {
				if s.keep && r.rescue != nil && r.rescue(seq, v.Bytes()) {
					s.forget = false // a viewer comes (see SetRescue)
					s.val = s.store.Copy(v)
					break
				}
				r.forgottenErrs.Add(1)
			}
			s.val = parser.Value{}
		case owned:
			s.val = v
			s.owned, s.own, kept = true, buf, true
		default:
			s.val = s.store.Copy(v)
		}
		if !s.keep || (!multi && !v.IsError()) {
			// Nobody will send it again: let a large one go now, or once the writer
			// no longer holds it (a reply before the command was written whole).
			// A kept one is kept no more: its viewers (ViewCmd, the park) see no
			// command, not one the loop may be letting go of under them.
			s.keep = false
			if r.holding && seq >= r.holdFrom {
				s.dropLater = true
			} else {
				r.dropCmd(s)
			}
		}
		s.err = nil
		s.state.Store(mkState(seq, phaseDone))
		s.notify()
	}
	// else: Close completed it (or is completing it); the reply is read and dropped.
	s.written = false
	r.expect--
	r.replyCur++
	r.skipNoReply()
	r.free()
	return kept, nil
}

// NextReply returns the seq of the command the next reply read goes to: the oldest
// written command awaiting one (past those that take none), or, if none awaits, the
// seq of the next command written. Loop only, as Complete.
func (r *Ring) NextReply() uint64 {
	if r.skipNoReply() {
		r.free()
	}
	return r.replyCur
}

// Written returns the seq the next Collect starts from: every command before it was
// written, or skipped as failed or cancelled. Loop only, as Collect.
func (r *Ring) Written() uint64 { return r.writeCur }

// InFlight returns how many commands are reserved and not yet freed (their reply, or
// failure, has not been passed by the reply cursor). Unlike Pending and Unwritten it
// may be called from any goroutine.
func (r *Ring) InFlight() int {
	f := r.freed.Load()
	return int(r.tail.Load() - f)
}

// Freed reports whether seq's command is over and its slot free: answered or failed,
// and passed by the reply cursor (a later Reserve may have reused the slot). Unlike
// Done it says so for a result not parked after its slot was reused. Any goroutine.
func (r *Ring) Freed(seq uint64) bool { return seq < r.freed.Load() }

// Pending returns how many written commands await a reply on this connection,
// including commands whose caller stopped waiting (their replies are still read).
func (r *Ring) Pending() int { return r.expect }

// Unwritten returns how many published commands wait for Collect.
func (r *Ring) Unwritten() int {
	n := 0
	for seq, end := r.writeCur, r.tail.Load(); seq != end; seq++ {
		// A seq below tail may still lack its page: its reserver has not claimed it.
		if s := r.lookup(seq); s != nil && s.state.Load() == mkState(seq, phaseReady) {
			n++
		}
	}
	return n
}

// FailWritten completes every written, unanswered command with err (ErrFailed if nil)
// because the connection was lost; such a command is never re-sent. It returns how
// many it failed. Published but unwritten commands stay: the next Collect, on the next
// connection, starts from them. The wake flag is left as is, so the driver must call
// Collect once the new connection is up.
func (r *Ring) FailWritten(err error) int {
	if err == nil {
		err = ErrFailed
	}
	n := 0
	for ; r.replyCur < r.writeCur; r.replyCur++ {
		seq := r.replyCur
		s := r.slot(seq)
		if !s.written {
			continue
		}
		s.written = false
		if s.multi != nil {
			s.multi.got = 0
		}
		if s.state.CompareAndSwap(mkState(seq, phaseWritten), mkState(seq, phaseCompleting)) {
			r.finish(s, mkState(seq, phaseDone), err, true)
			n++
		}
	}
	r.expect = 0
	r.free()
	return n
}

// Settled reports whether every command reserved so far is done (answered, failed or
// cancelled), though the loop may not have freed the last ones yet. Any goroutine may
// call it; with commands being reserved concurrently the answer is only a snapshot.
func (r *Ring) Settled() bool { return r.SettledExcept() }

// SettledExcept is Settled for every command but those of seqs (the driver's own,
// whose replies nobody waits for).
func (r *Ring) SettledExcept(seqs ...uint64) bool {
	for seq, end := r.freed.Load(), r.tail.Load(); seq != end; seq++ {
		if slices.Contains(seqs, seq) {
			continue
		}
		s := r.lookup(seq)
		if s == nil {
			return false // reserved, its page not installed yet
		}
		st := s.state.Load()
		if stSeq(st) != seq&seqMask {
			return false // reserved, not claimed yet
		}
		if ph := stPhase(st); ph != phaseDone && ph != phaseParking {
			return false
		}
	}
	return true
}
