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

// multiSlot is the state of a multi-reply command beyond a plain slot's.
type multiSlot struct {
	replies uint32 // replies the command takes (set before Publish)
	parts   int32  // Futures that view it, by part index
	got     uint32 // replies gathered so far (loop-owned)
	// marks[i] is set by the first View of part i; nTaken counts them.
	marks  []atomic.Bool
	nTaken atomic.Int32
	// gather holds the replies (loop-owned until the slot is done).
	gather parser.Gather
}

// PublishMulti is Publish for a command buffer that holds several commands taking
// replies replies in all (at least 1), gathered in order into one Array result, which
// parts Futures view with ViewPart (part 0 to parts-1). It panics if seq is not
// reserved and unpublished, as Publish does.
func (r *Ring) PublishMulti(seq uint64, replies, parts int) (wake bool) {
	s := r.lookup(seq)
	if s == nil || stPhase(s.state.Load()) != phaseReserved || stSeq(s.state.Load()) != seq&seqMask {
		panic("ring: PublishMulti of a sequence number that is not reserved")
	}
	m := s.multi
	if m == nil {
		m = new(multiSlot)
		s.multi = m
	}
	m.replies = uint32(max(replies, 1))
	m.parts = int32(max(parts, 0))
	m.got = 0
	if cap(m.marks) < parts || cap(m.marks) > marksKeep {
		m.marks = make([]atomic.Bool, parts)
	} else {
		m.marks = m.marks[:parts]
		for i := range m.marks {
			m.marks[i].Store(false)
		}
	}
	m.nTaken.Store(0)
	s.multiOn = true
	return r.Publish(seq, false)
}

// gather adds reply v to the multi-reply slot s at the reply cursor and reports
// whether it was the last one. Loop side. The slot cannot be reused meanwhile (the
// reply cursor holds it), and a Close that completes it touches neither gather nor
// got.
func (r *Ring) gather(s *slot, v parser.Value) (last bool) {
	m := s.multi
	if m.got == 0 {
		m.gather.Rewind()
	}
	m.gather.Append(v)
	m.got++
	if m.got < m.replies {
		return false
	}
	m.got = 0
	return true
}

// markTaken records that a View of part part (or of the whole, part < 0) got the
// slot's result. Called under a read claim. It reports whether this was the first
// View of a plain (not multi-reply) result.
func (s *slot) markTaken(part int) (first bool) {
	m := s.multi
	if !s.multiOn || part < 0 || part >= len(m.marks) {
		return !s.taken.Swap(true)
	}
	if !m.marks[part].Swap(true) && m.nTaken.Add(1) >= m.parts {
		s.taken.Store(true)
	}
	return false
}
