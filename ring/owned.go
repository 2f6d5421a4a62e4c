package ring

import (
	"unsafe"

	"github.com/respring/respring/parser"
)

// This file holds the two ways a large value avoids a copy: a reply kept as the
// driver read it (CompleteOwned), let go of early once read, and a string argument
// attached to its command (Attach) instead of copied into the command buffer.

// dropOwn lets go of the slot's large reply buffer (see slot.owned). The caller owns
// the slot.
func (r *Ring) dropOwn(s *slot) {
	if s.own != nil && r.release != nil {
		r.release(s.own)
	}
	s.owned, s.expired, s.own = false, false, nil
}

// bigKept is how many large replies (CompleteOwned) a ring keeps after they were
// read, for Views of them again: when one more is read, the oldest of them is let go
// (retire).
const bigKept = 4

// tookBig records that the large reply of seq was read for the first time, and lets
// go of the oldest such reply if more than bigKept are kept. Called by a viewer after
// its read claim ended.
func (r *Ring) tookBig(seq uint64) {
	r.bigMu.Lock()
	var old uint64
	full := r.bigN == bigKept
	if full {
		old = r.bigSeqs[r.bigHead]
		r.bigSeqs[r.bigHead] = seq
		r.bigHead = (r.bigHead + 1) % bigKept
	} else {
		r.bigSeqs[(r.bigHead+r.bigN)%bigKept] = seq
		r.bigN++
	}
	r.bigMu.Unlock()
	if full {
		r.retire(old)
	}
}

// retire lets go of the large reply of the 48-bit sequence seq, read earlier, if its
// slot still holds it: the slot is locked (phaseParking) from done with no reader, the
// reply dropped and marked expired, and its buffer given to release. While others
// read it, retire waits for them (a read is a copy, short). A slot reused since is
// left alone: claim let go of the reply then.
func (r *Ring) retire(seq uint64) {
	s := r.lookup(seq)
	if s == nil {
		return
	}
	done := mkState(seq, phaseDone)
	for spin := 0; ; spin++ {
		st := s.state.Load()
		if stSeq(st) != seq&seqMask {
			return // reused
		}
		if st == done && s.state.CompareAndSwap(done, mkState(seq, phaseParking)) {
			break
		}
		backoff(spin) // being read, or claim is parking it (then it is reused next)
	}
	buf := s.own
	s.val = parser.Value{}
	s.owned, s.own, s.expired = false, nil, true
	s.state.Store(done)
	if buf != nil && r.release != nil {
		r.release(buf)
	}
}

// extRef is a string attached to a command (see Attach): b, the string's bytes (never
// written to), go on the wire at offset at of the slot's command buffer.
type extRef struct {
	at int
	b  []byte
}

// appendWhole appends cmd to dst with the attached strings and lent bytes of ext in
// their places: the command as it goes on the wire.
func appendWhole(dst, cmd []byte, ext []extRef) []byte {
	at := 0
	for _, e := range ext {
		dst = append(dst, cmd[at:e.at]...)
		dst = append(dst, e.b...)
		at = e.at
	}
	return append(dst, cmd[at:]...)
}

// keptCmd is the command a kept command shows its viewers (ViewCmd, from its slot or
// its park entry): its buffer, or, with strings attached, the whole command put
// together (a copy: ViewCmd of such a command is a cluster redirect, a slow path).
func keptCmd(cmd []byte, ext []extRef) []byte {
	if len(ext) == 0 {
		return cmd
	}
	n := len(cmd)
	for _, e := range ext {
		n += len(e.b)
	}
	return appendWhole(make([]byte, 0, n), cmd, ext)
}

// size returns the encoded size of the slot's command, attached strings included.
func (s *slot) size() int {
	n := len(s.cmd)
	for _, e := range s.ext {
		n += len(e.b)
	}
	return n
}

// Attach adds str to seq's command, reserved and not yet published, without copying
// it: Collect writes str's bytes at offset at of the command buffer (at most its
// length when published; offsets in the order of the calls), as if the sender had
// appended them there. Strings are immutable, so the sender can return at once; the
// slot keeps str until the command is written (or, written by reference, until its
// reply; for a command marked with Keep, as long as it keeps the command, and ViewCmd
// shows the command with str in its place). Attach panics if seq is not reserved.
func (r *Ring) Attach(seq uint64, at int, str string) {
	s := r.lookup(seq)
	if s == nil || s.state.Load() != mkState(seq, phaseReserved) {
		panic("ring: Attach to a sequence number that is not reserved")
	}
	s.ext = append(s.ext, extRef{at: at, b: unsafe.Slice(unsafe.StringData(str), len(str))})
}
