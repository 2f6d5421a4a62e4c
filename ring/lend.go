package ring

import (
	"context"
)

// This file holds what lets a writer write a large command from where it is for
// longer than one Collect: bytes lent by the sender (Lend, AwaitLent), and output the
// writer keeps referencing after it returned to its loop (Hold, Wrote).

// Lend is Attach for bytes the sender owns and may change once it has them back: b goes
// on the wire at offset at of the command buffer, from where it is, and the sender
// waits with AwaitLent (after Publish) until the ring no longer needs it. The ring
// hands b back once the command was written, or failed or cancelled before it was, or
// dropped with a lost connection. Lend panics if seq is not reserved.
func (r *Ring) Lend(seq uint64, at int, b []byte) {
	s := r.lookup(seq)
	if s == nil || s.state.Load() != mkState(seq, phaseReserved) || s.keep {
		panic("ring: Lend to a sequence number that is not reserved")
	}
	s.ext = append(s.ext, extRef{at: at, b: b})
	s.lent.Store(lentTag(seq))
}

// lentTag is the value of slot.lent while the sender of seq waits for its bytes.
func lentTag(seq uint64) uint64 { return seq&seqMask + 1 }

// unlend hands the bytes lent to seq, if any, back to its sender (see AwaitLent).
func (s *slot) unlend(seq uint64) { s.unlendTag(lentTag(seq)) }

// unlendTag is unlend for the lentTag tag.
func (s *slot) unlendTag(tag uint64) {
	if s.lent.Load() == tag && s.lent.CompareAndSwap(tag, 0) {
		s.notify()
	}
}

// AwaitLent waits, after Publish, until the bytes lent to seq (Lend) are back: written,
// or the command failed or cancelled before it was written, or dropped with a lost
// connection. When ctx ends, or down (which may be nil) reports that no connection
// is there to write the command, a command not yet written takes the bytes back: they
// are copied into its own buffer, and AwaitLent returns at once; the command stays
// queued. It reports whether the caller must wake the writer, as Publish does (the
// writer may have stopped at the command while its bytes were being copied). A
// command already written keeps them until the writer is done with them: AwaitLent
// waits for that, whatever ctx says (the writer lets go of them when the connection is
// lost).
func (r *Ring) AwaitLent(ctx context.Context, seq uint64, down func() bool) (wake bool) {
	s := r.slot(seq) // not reusable while lent: the loop hands the bytes back first
	tag := lentTag(seq)
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for spin := 0; s.lent.Load() == tag; spin++ {
		if spin < 16 {
			backoff(spin)
			continue
		}
		// As View does: the channel is in place, and this waiter registered, before
		// the looks that decide to block (see slot.notify).
		sig := s.signal()
		s.waiters.Add(1)
		if s.lent.Load() == tag && ((down != nil && down()) || isDone(done)) {
			if r.takeBack(s, seq) {
				wake = true
			}
			done = nil // written (or taken back): wait for the writer alone
		}
		if s.lent.Load() == tag {
			select {
			case <-sig:
			case <-done:
			}
		}
		s.waiters.Add(-1)
	}
	return wake && r.needWake()
}

// isDone reports whether done is closed.
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// takeBack copies the bytes lent to seq into its own command buffer, if the command
// is still waiting to be written: the slot goes back to reserved (Collect stops at
// it) while the copy is made, then is published again. It reports whether it did.
func (r *Ring) takeBack(s *slot, seq uint64) bool {
	if !s.state.CompareAndSwap(mkState(seq, phaseReady), mkState(seq, phaseReserved)) {
		return false // written, or done
	}
	cmd := appendWhole(make([]byte, 0, s.size()), s.cmd, s.ext)
	r.dropCmd(s)
	s.cmd = cmd
	s.unlend(seq)
	s.state.Store(mkState(seq, phaseReady))
	if cs := r.closed.Load(); cs != nil {
		// Close may have swept past the slot while it was reserved (see Publish).
		if s.state.CompareAndSwap(mkState(seq, phaseReady), mkState(seq, phaseCompleting)) {
			s.unsent = true // never written, as in Publish
			r.finish(s, mkState(seq, phaseDone), cs.err, true)
		}
	}
	return true
}

// WakeLent wakes the senders waiting in AwaitLent for commands not written yet, so
// that they look at their down function again: the writer calls it once its
// connection is gone.
func (r *Ring) WakeLent() {
	for seq, end := r.writeCur, r.tail.Load(); seq != end; seq++ {
		if s := r.lookup(seq); s != nil && s.lent.Load() == lentTag(seq) {
			s.notify()
		}
	}
}

// Hold tells the ring that the writer keeps referencing what the last CollectVec gave
// it after returning to its loop (the socket did not take it all): until Wrote, no
// slot of that batch is reused and no command buffer of it let go of, even if a reply
// to it arrives (a server may answer a command it has not read whole).
func (r *Ring) Hold() {
	// Slots before replyCur (taking no reply, skipped by collect) are freed already
	// and were not referenced.
	r.holding, r.holdFrom = true, max(r.collFrom, r.replyCur)
}

// Wrote tells the ring that the writer is done with what CollectVec gave it: written,
// or dropped with the connection. The bytes lent to its commands go back to their
// senders, and what Hold held off happens now. A writer that references commands
// (CollectVec's vec was not empty) calls it after every such write.
func (r *Ring) Wrote() {
	for _, seq := range r.lentOut[:r.lentN] {
		r.slot(seq).unlend(seq)
	}
	r.lentN = 0
	if !r.holding {
		return
	}
	r.holding = false
	for seq := r.holdFrom; seq < r.replyCur; seq++ {
		if s := r.slot(seq); s.dropLater {
			s.dropLater = false
			r.dropCmd(s)
		}
	}
	r.free()
}
