package ring

import (
	"sync/atomic"

	"github.com/respring/respring/parser"
)

// This file holds multi-reply commands: one slot whose command buffer holds several
// commands written back to back (a batch, or MULTI ... EXEC), which takes several
// replies. The loop gathers them into one Array in the slot's store, and the slot is
// done when the last one arrived. Since the whole group is one slot, it is written in
// one piece (no other command can land inside it) and cancelled as a whole or not at
// all, and a group of any length fits a ring of any size.
//
// Each of the group's Futures views one part of the result (ViewPart). The result of
// a plain command is parked if nobody viewed it when its slot is reused; a group's is
// parked unless every part was viewed, and stays parked until each part was (see
// unpark).

// marksKeep is the number of part marks above which a slot's marks are not kept for
// its next command.
const marksKeep = 4096

// PublishMulti is Publish for a command buffer that holds several commands taking
// replies replies in all (at least 1), gathered in order into one Array result, which
// parts Futures view with ViewPart (part 0 to parts-1). It panics if seq is not
// reserved and unpublished, as Publish does.
func (r *Ring) PublishMulti(seq uint64, replies, parts int) (wake bool) {
	s := r.lookup(seq)
	if s == nil || stPhase(s.state.Load()) != phaseReserved || stSeq(s.state.Load()) != seq&seqMask {
		panic("ring: PublishMulti of a sequence number that is not reserved")
	}
	s.replies = uint32(max(replies, 1))
	s.parts = int32(max(parts, 0))
	if cap(s.marks) < parts || cap(s.marks) > marksKeep {
		s.marks = make([]atomic.Bool, parts)
	} else {
		s.marks = s.marks[:parts]
		for i := range s.marks {
			s.marks[i].Store(false)
		}
	}
	s.nTaken.Store(0)
	return r.Publish(seq, false)
}

// gather adds reply v to the multi-reply slot s at the reply cursor and reports
// whether it was the last one. Loop side. The slot cannot be reused meanwhile (the
// reply cursor holds it), and a Close that completes it touches neither store nor got.
func (r *Ring) gather(s *slot, v parser.Value) (last bool) {
	if s.got == 0 {
		s.store.Rewind()
	}
	s.store.Append(v)
	s.got++
	if s.got < s.replies {
		return false
	}
	s.got = 0
	return true
}

// markTaken records that a View of part part (or of the whole, part < 0) got the
// slot's result. Called under a read claim.
func (s *slot) markTaken(part int) {
	if s.parts == 0 || part < 0 || part >= len(s.marks) {
		s.taken.Store(true)
		return
	}
	if !s.marks[part].Swap(true) && s.nTaken.Add(1) >= s.parts {
		s.taken.Store(true)
	}
}
