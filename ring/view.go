package ring

import (
	"context"
	"sync/atomic"

	"github.com/respring/respring/parser"
)

// View waits until seq is done or ctx ends (a nil ctx waits until done). seq must come
// from Reserve on this ring; a seq not reserved yet gives ErrNotReserved.
//
// When seq is done, View calls fn with the stored reply, or with the zero Value and the
// slot's error (Fail, FailWritten, Close, a cancelled View), and returns nil. fn runs
// while View holds a read claim that stops the slot being reused under it: the value is
// valid only during fn (copy what you keep), and fn must not call Reserve on this ring.
// A nil fn just waits. Several goroutines may View the same seq, and a done seq can be
// viewed again and again until its slot is reused by the command Size() sends later.
// A result nobody had viewed when its slot was reused is parked (copied aside), and the
// first View after that still gets it; later Views, and Views of results dropped from
// the bounded parking area, return ErrExpired without calling fn.
//
// If ctx ends first, View returns ctx.Err(). If the command was published but not yet
// written, it is cancelled: completed with ctx.Err(), never written, and it takes no
// reply. A command already written is not un-sent: its reply is still read, in order, and
// stored for a later View. A command still being encoded is not cancelled.
func (r *Ring) View(ctx context.Context, seq uint64, fn func(v parser.Value, err error)) error {
	return r.view(ctx, seq, -1, fn, nil)
}

// Peek is View that does not count as reading the result: a result peeked at and not
// viewed is still parked when its slot is reused, and a large reply (CompleteOwned)
// is not let go of sooner for it. For a caller that looks at a reply before handing
// its Future on (the driver's script runner checks for NOSCRIPT).
func (r *Ring) Peek(ctx context.Context, seq uint64, fn func(v parser.Value, err error)) error {
	return r.view(ctx, seq, partPeek, fn, nil)
}

// partPeek is the part given to view by Peek.
const partPeek = -2

// Unsent is the error ViewCmd gives for a command that Close failed before it was
// written, or that was published after Close: the server never saw it, so a layer
// above may send it elsewhere (a cluster client, when the node it waited for left the
// map). Err is the close error, which View and ViewPart give as it is.
type Unsent struct{ Err error }

func (e *Unsent) Error() string { return e.Err.Error() }

// Unwrap returns the close error.
func (e *Unsent) Unwrap() error { return e.Err }

// viewCmdFunc is the callback of ViewCmd.
type viewCmdFunc = func(cmd []byte, v parser.Value, err error, memo *Memo)

// Memo keeps one value with a result for the layer above, shared by every viewer of
// the result (ViewCmd) until its slot is reused; a parked result takes it along. The
// driver keeps a routed command's redirect there, so that however many times and from
// however many goroutines its Future is read, the command is sent again once.
type Memo struct{ p atomic.Pointer[memoBox] }

type memoBox struct{ v any }

// Load returns the value kept, or nil.
func (m *Memo) Load() any {
	if b := m.p.Load(); b != nil {
		return b.v
	}
	return nil
}

// Keep stores v unless a value is kept already, and returns the value kept.
func (m *Memo) Keep(v any) any {
	if m.p.CompareAndSwap(nil, &memoBox{v: v}) {
		return v
	}
	return m.p.Load().v
}

// reset forgets the value (the result it went with is let go of).
func (m *Memo) reset() {
	if m.p.Load() != nil {
		m.p.Store(nil)
	}
}

// ViewCmd is ViewPart (View for part < 0) whose fn also gets the command buffer as it
// was written, when seq was marked with Keep (nil otherwise), valid during fn only. A
// multi-reply command's buffer holds all of its commands. For a command failed by Close
// before it was written (or published after Close), fn's err is an *Unsent holding
// the close error. memo is the result's Memo, for fn to use while it runs (the value
// it returns stays valid after).
func (r *Ring) ViewCmd(ctx context.Context, seq uint64, part int, fn func(cmd []byte, v parser.Value, err error, memo *Memo)) error {
	if fn == nil {
		fn = func([]byte, parser.Value, error, *Memo) {}
	}
	return r.view(ctx, seq, part, nil, fn)
}

// ViewPart is View for part part of a multi-reply command (see PublishMulti): fn gets
// the whole gathered result, and the ring records that this part was viewed. A result
// whose slot is reused before each part was viewed once stays parked until each was;
// a part viewed again after that gets ErrExpired, as a plain View does.
func (r *Ring) ViewPart(ctx context.Context, seq uint64, part int, fn func(v parser.Value, err error)) error {
	return r.view(ctx, seq, part, fn, nil)
}

// view is View, ViewPart and ViewCmd (fnc non-nil); part < 0 views the result as a
// whole.
func (r *Ring) view(ctx context.Context, seq uint64, part int, fn func(v parser.Value, err error), fnc viewCmdFunc) error {
	s := r.lookup(seq)
	if s == nil {
		// No slot of the page was ever reserved: neither was seq, and it cannot have
		// expired either (that takes a later command in the same slot).
		return ErrNotReserved
	}
	want := seq & seqMask
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	for spin := 0; ; {
		st := s.state.Load()
		if ss := stSeq(st); ss != want {
			if newer(ss, want) {
				if r.unpark(want, part, fn, fnc) {
					return nil
				}
				return ErrExpired
			}
			return ErrNotReserved
		}
		if stPhase(st) == phaseDone {
			if stReaders(st) == readerMask>>phaseBits || !s.state.CompareAndSwap(st, st+readerUnit) {
				backoff(spin) // too many readers, or the state moved: look again
				spin++
				continue
			}
			expired, big := s.read(part, fn, fnc)
			switch {
			case expired:
				return ErrExpired
			case big:
				r.tookBig(want)
			}
			return nil
		}
		if stPhase(st) == phaseParking {
			// Done, and Reserve is copying the unread result aside to reuse the slot:
			// look again shortly, to find the copy (see claim). Never wait on the
			// channel here: a waiter must be a viewer of the slot's current command.
			backoff(spin)
			spin++
			continue
		}
		// Not done: get the slot's signal channel (created on the first wait), register
		// as a waiter, then look again before blocking. The channel is in place before
		// the second look, so a completer that stores done after that look finds it and
		// posts a token (see slot.notify). A waiter that saw the slot not done after
		// registering holds off its reuse (claim waits for waiters == 0), so no later
		// command's viewer can take the token meant for it.
		sig := s.signal()
		s.waiters.Add(1)
		if s.state.Load() != st {
			s.waiters.Add(-1)
			continue
		}
		if r.block(ctx, done, s, sig, want) {
			s.waiters.Add(-1)
			return r.cancel(ctx, s, seq)
		}
		// Tokens can be stale (an older command of this slot). Pass a token on to the
		// other viewers only when this seq is done, so that waiters never hand a stale
		// token back and forth.
		if st := s.state.Load(); stSeq(st) == want && stPhase(st) == phaseDone {
			notify(sig)
		}
		s.waiters.Add(-1)
	}
}

// block waits, as a registered waiter of s (the slot of the 48-bit sequence want), for
// a token on its channel sig, or for ctx to end. It reports whether ctx ended before
// the command was done; then the caller stops waiting. A nil done (no context, or one
// that never ends) waits with a plain receive; a context shared by other Views waits
// through the ring's watch (see watch.go); any other with a select.
func (r *Ring) block(ctx context.Context, done <-chan struct{}, s *slot, sig chan struct{}, want uint64) (ended bool) {
	if done == nil {
		<-sig
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	if cur := r.watch.Load(); (cur != nil && cur.done == done) || want%candSample == 0 {
		w, held := r.joinWatch(ctx, done, want, cur)
		if w != nil {
			return r.blockWatched(ctx, w, s, sig, want)
		}
		if held {
			defer r.releaseCand(done)
		}
	}
	select {
	case <-sig:
		return false
	case <-done:
		return true
	}
}

// blockWatched is block for a View that joined watch w.
func (r *Ring) blockWatched(ctx context.Context, w *watch, s *slot, sig chan struct{}, want uint64) (ended bool) {
	defer w.leave()
	s.watchers.Add(1)
	defer s.watchers.Add(-1)
	if ctx.Err() != nil { // checked after joining: see the ordering in watch.go
		return true
	}
	<-sig
	if ctx.Err() == nil {
		return false
	}
	if st := s.state.Load(); stSeq(st) == want && stPhase(st) == phaseDone {
		return false // the result is there: take it
	}
	// The token may be the watch's, posted once for all watchers of this slot: pass
	// it on.
	notify(sig)
	return true
}

// read calls fn on the slot's result, then releases the read claim the caller took,
// also if fn panics (a claim never released would stop the slot being reused). It
// reports whether the result was let go already (retire: fn is not called), and
// whether this was the first read of a large reply kept as it was read (the caller
// then tells tookBig).
func (s *slot) read(part int, fn func(v parser.Value, err error), fnc viewCmdFunc) (expired, big bool) {
	defer s.state.Add(^uint64(readerUnit - 1))
	if s.expired {
		return true, false
	}
	if part != partPeek {
		big = s.markTaken(part) && s.owned
	}
	switch {
	case fnc != nil:
		err := s.err
		if s.unsent && err != nil {
			err = &Unsent{Err: err}
		}
		var cmd []byte
		if s.keep {
			cmd = keptCmd(s.cmd, s.ext)
		}
		fnc(cmd, s.val, err, &s.memo)
	case fn != nil:
		fn(s.val, s.err)
	}
	return false, big
}

// cancel handles a View whose ctx ended: it cancels the command if it was published and
// not yet written, and returns ctx.Err().
func (r *Ring) cancel(ctx context.Context, s *slot, seq uint64) error {
	err := ctx.Err()
	if s.pinned.Load() && stSeq(s.state.Load()) == seq&seqMask {
		return err // written whatever happens (Pin)
	}
	if s.state.CompareAndSwap(mkState(seq, phaseReady), mkState(seq, phaseCompleting)) {
		s.taken.Store(true) // its viewer got ctx.Err(): nothing to park
		s.unlend(seq)
		r.finish(s, mkState(seq, phaseDone), err, false)
	}
	return err
}

// Done reports without waiting whether seq is done. For a seq whose slot was reused it
// reports whether its result is parked.
func (r *Ring) Done(seq uint64) bool {
	if s := r.lookup(seq); s != nil {
		if st := s.state.Load(); stSeq(st) == seq&seqMask {
			ph := stPhase(st)
			return ph == phaseDone || ph == phaseParking
		}
	}
	return r.isParked(seq & seqMask)
}

// Close fails every command not yet done, written or not, with err (ErrClosed if nil),
// makes later Reserve calls return err, and wakes every waiter: Reserve calls return
// err, Views of published commands get err. A command still being encoded is failed by
// its Publish. Any goroutine may call Close, also while the loop runs; it is idempotent
// and the first err wins. Replies to written commands that arrive after Close are still
// read by Complete and dropped.
func (r *Ring) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	if r.closed.CompareAndSwap(nil, &closeState{err: err}) {
		close(r.closeCh)
	}
	err = r.closed.Load().err
	r.dropWatch()
	// Every call sweeps, so that when any Close returns, all that was published before
	// it is done. Per slot, the CAS decides between Close, the loop and a cancel. A
	// missing page has nothing to fail; if a reserver installs it after this look,
	// its Publish comes after the close mark above and fails the command itself.
	for i := range r.pages {
		p := r.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			r.closeSlot(&p[j], err)
		}
	}
}

// closeSlot fails the slot's command with err if it is published or written and not
// yet done.
func (r *Ring) closeSlot(s *slot, err error) {
	for {
		st := s.state.Load()
		if ph := stPhase(st); ph != phaseReady && ph != phaseWritten {
			return
		}
		if s.state.CompareAndSwap(st, st&^phaseMask|phaseCompleting) {
			if stPhase(st) == phaseReady {
				// Never written: its lent bytes go back (a written one's are the
				// loop's to hand back, see Wrote), and ViewCmd says so (Unsent).
				s.unlendTag(stSeq(st) + 1)
				s.unsent = true
			}
			r.finish(s, st&^phaseMask|phaseDone, err, true)
			return
		}
	}
}
