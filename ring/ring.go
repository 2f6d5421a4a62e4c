package ring

import (
	"context"
	"errors"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/respring/respring/parser"
)

// Errors returned by the ring. The driver maps them to its own (ErrClosed, ...).
var (
	// ErrExpired is returned by View for a sequence number whose slot was reused.
	ErrExpired = errors.New("ring: future expired: its slot was reused by a later command")
	// ErrUnsolicited is returned by Complete when no written command awaits a reply.
	ErrUnsolicited = errors.New("ring: unsolicited reply: no command awaits it")
	// ErrClosed is the close error used when Close is called with a nil error.
	ErrClosed = errors.New("ring: closed")
	// ErrNotReserved is returned by View for a sequence number Reserve has not returned.
	ErrNotReserved = errors.New("ring: sequence number not reserved yet")
	// ErrFailed is the error used when Fail or FailWritten is called with a nil error.
	ErrFailed = errors.New("ring: command failed")
)

const (
	// DefaultSize is the number of slots of New(0).
	DefaultSize = 1024
	// MaxSize is the largest ring New builds; larger sizes are cut to it.
	MaxSize = 1 << 30
	// cmdKeep is the capacity above which a slot's command buffer is dropped after use.
	cmdKeep = 64 << 10
)

// Slots are allocated lazily, a page of pageSize consecutive slots at a time, by the
// first Reserve that needs one (see page). A ring smaller than a page still gets a
// whole page; only its first Size() slots are used.
const (
	pageShift = 5
	pageSize  = 1 << pageShift
	pageMask  = pageSize - 1
)

// page is pageSize consecutive slots of the ring: slot i of the ring is slot i&pageMask
// of page i>>pageShift.
type page [pageSize]slot

// The per-slot state word: seq<<seqShift | readers<<phaseBits | phase.
// The sequence number is kept modulo 2^48 (seqMask); readers counts the View calls
// holding a read claim on a done slot.
const (
	phaseBits  = 3
	phaseMask  = 1<<phaseBits - 1
	readerBits = 13
	readerUnit = 1 << phaseBits
	readerMask = (1<<readerBits - 1) << phaseBits
	seqShift   = phaseBits + readerBits
	seqMask    = 1<<(64-seqShift) - 1
)

// Phases of a slot. See doc.go for the transitions and who makes them.
const (
	phaseIdle       = iota // never used since New (state word 0)
	phaseReserved          // taken by Reserve; the sender is encoding *cmd
	phaseReady             // published, waiting for Collect
	phaseWritten           // collected: handed to the connection, a reply is due
	phaseCompleting        // one completer owns the slot and is storing value/err
	phaseDone              // value or error stored; viewable until the slot is reused
	phaseParking           // done, and its next reserver is copying the unread result aside
)

func mkState(seq uint64, phase uint64) uint64 { return (seq&seqMask)<<seqShift | phase }
func stSeq(st uint64) uint64                  { return st >> seqShift }
func stPhase(st uint64) uint64                { return st & phaseMask }
func stReaders(st uint64) uint64              { return (st & readerMask) >> phaseBits }

// newer reports whether the 48-bit sequence a is later than b.
func newer(a, b uint64) bool {
	d := (a - b) & seqMask
	return d != 0 && d < 1<<(63-seqShift)
}

// slot is one entry of the ring. The comments name who may touch each field and when;
// doc.go has the full rules.
type slot struct {
	// state is the slot's seq, read-claim count and phase. Every change of ownership
	// is a CAS on it.
	state atomic.Uint64
	// cmd is the command buffer: the sender appends between Reserve and Publish, the
	// loop reads it in Collect.
	cmd []byte
	// ext holds the strings attached to the command (Attach), in order: each one's
	// bytes go on the wire at its offset of cmd. Like cmd, written by the sender
	// between Reserve and Publish, read by Collect, let go of with cmd (dropCmd).
	ext []extRef
	// forget is set by Publish before the slot turns ready; read by the completer.
	forget bool
	// noReply is set by PublishNoReply: the server sends no reply for this command
	// (CLIENT REPLY OFF or SKIP); Collect completes it once written.
	noReply bool
	// keep is set by Keep: the command buffer stays with the slot after it was
	// written, for its viewers (ViewCmd), until the slot is reused; a large one is
	// let go as soon as a reply that is not an error arrives.
	keep bool
	// written is loop-owned: Collect sets it to whether the slot was written (a reply
	// is due) as it passes the slot; Complete and FailWritten read it.
	written bool
	// val and err are written by the completer while the phase is completing, read by
	// viewers while they hold a read claim, and cleared by the next reserver.
	val parser.Value
	err error
	// store holds the deep copy of the reply. The loop's Complete writes it while it
	// owns the slot (completing); a reserver parking an unread result swaps it with a
	// park entry's while it holds the slot locked (parking).
	store parser.Store
	// sig carries wake-up tokens to View waiters (capacity 1; tokens may be stale).
	// It is created by the first View that has to block on the slot (see signal) and
	// kept for the slot's later commands; nil until then.
	sig atomic.Pointer[chan struct{}]
	// waiters counts the View calls blocked (or about to block) on sig. The slot is
	// not reused while it is non-zero, so a token always reaches a waiter of the
	// command it was posted for.
	waiters atomic.Int32
	// watchers counts the waiters that wait through the ring's watch (see watch.go):
	// the slots the watch wakes when its context ends.
	watchers atomic.Int32
	// taken is set once the result was handed to a viewer (or nobody can want it: a
	// Fail, a cancel). claim parks a result that was not taken before reusing the slot.
	taken atomic.Bool
	// owned says val is a large reply kept as the loop handed it over (CompleteOwned),
	// not a copy in store; own is the buffer it lives in when that is to be given to
	// release once the reply is let go (nil: left to the garbage collector). A large
	// reply is let go when its slot is reused, or once it was read and bigKept later
	// large replies were read too (see retire); expired is then set, and its Views
	// return ErrExpired. Written by the completer, cleared by claim, changed by retire
	// while it holds the slot locked; viewers read them under a read claim.
	owned   bool
	expired bool
	own     []byte
	// lent is seq+1 (lentTag) while ext holds bytes the sender of seq lent (Lend)
	// and waits to get back (AwaitLent), else 0: set by the sender before Publish,
	// cleared (a CAS from the tag, so never another command's) by whoever hands them
	// back: the loop once written, or takeBack, or the completer of a command failed
	// before it was written, while it still owns the slot.
	lent atomic.Uint64
	// dropLater is loop-owned: the command's reply came while the writer held its
	// buffer (Hold), so dropCmd waits for Wrote.
	dropLater bool
	// unsent says Close failed the command before it was written (see Unsent): set
	// by Close, or by a Publish (or takeBack) after Close, while it owns the slot
	// (completing), read by viewers under a read claim, cleared by the next reserver.
	unsent bool
	// memo is the result's Memo (ViewCmd): set by viewers under a read claim, moved
	// to the park entry or reset by the next reserver.
	memo Memo

	// multi is the state of a multi-reply command (see multi.go), nil until the slot
	// first held one and kept for reuse (swapped into a park entry with the result it
	// holds). multiOn says the current command is one: set by PublishMulti, cleared by
	// claim. Kept out of line so that plain commands' slots stay small.
	multi   *multiSlot
	multiOn bool
	// pinned is set by Pin before Publish: a View's ctx does not cancel it. Atomic: a
	// viewer of an older command of the slot may look at it as the slot is reused.
	// (Last, beside the other bools: the slot stays 256 bytes, 4 cache lines.)
	pinned atomic.Bool
}

// closeState records the first Close error.
type closeState struct{ err error }

// Ring matches pipelined commands with their replies on one connection. See the package
// documentation for the threading rules.
type Ring struct {
	// pages holds the slots, size/pageSize pages (one for a ring smaller than a page),
	// each nil until the first Reserve of one of its slots installs it. A page is
	// never removed: a nil page means none of its slots was ever reserved.
	pages []atomic.Pointer[page]
	mask  uint64
	size  uint64

	_    [64]byte
	tail atomic.Uint64 // next sequence number to reserve
	_    [56]byte
	// freed is the number of slots whose occupancy ended (done and passed by the reply
	// cursor). Only the loop advances it, in order.
	freed atomic.Uint64
	_     [56]byte
	wake  atomic.Bool // a writer wake-up is pending (set by Publish/Fail, cleared by Collect)
	_     [60]byte

	spaceWaiters atomic.Int32  // Reserve calls waiting for space
	spaceSig     chan struct{} // capacity 1: "freed advanced"

	closed  atomic.Pointer[closeState]
	closeCh chan struct{} // closed by the first Close

	forgottenErrs atomic.Uint64

	// release, if set (SetRelease), is given the large command and reply buffers the
	// ring lets go of, for reuse.
	release func([]byte)
	// rescue, if set, is asked about error replies to forgotten kept commands (see
	// SetRescue).
	rescue func(seq uint64, msg []byte) bool

	// The large replies read last (see retire), by sequence number: a FIFO of bigKept
	// entries, bigN of them used, the oldest at bigHead.
	bigMu   sync.Mutex
	bigSeqs [bigKept]uint64
	bigHead int
	bigN    int

	// The shared-context watch (see watch.go): the current one, the identity of the
	// Done channel a sampled View is blocked with (0: none), and how many times a
	// watch woke the ring's waiters.
	watch      atomic.Pointer[watch]
	watchCand  atomic.Uintptr
	watchWakes atomic.Uint64

	// Results of slots reused before anyone read them, by sequence number, so that a
	// Future waited on late still gets its own reply (see claim). Bounded: past
	// parkCap entries the oldest is dropped and its View returns ErrExpired.
	parkMu    sync.Mutex
	parkPages [][]parkEntry // parkCap entries by seq % parkCap, allocated a page at a time
	parkCap   int           // power of two
	parkedN   int           // entries in use

	// Loop-owned cursors (see doc.go). writeCur is the next seq Collect looks at;
	// replyCur the oldest seq the reply cursor has not passed; expect the number of
	// written slots in [replyCur, writeCur) that await a reply.
	writeCur uint64
	replyCur uint64
	expect   int

	// Loop-owned, for writers that keep referencing a batch (see lend.go): where the
	// last Collect started (collFrom), whether the writer holds that batch and from
	// which seq, and the lent commands the batch references.
	collFrom uint64
	holding  bool
	holdFrom uint64
	lentOut  [MaxVecRefs]uint64
	lentN    int
}

// New returns a ring of size slots, rounded up to a power of two. A size <= 0 means
// DefaultSize; sizes above MaxSize are cut to MaxSize.
func New(size int) *Ring {
	if size <= 0 {
		size = DefaultSize
	}
	if size > MaxSize {
		size = MaxSize
	}
	n := uint64(1) << bits.Len64(uint64(size)-1)
	return &Ring{
		pages:    make([]atomic.Pointer[page], max(n>>pageShift, 1)),
		mask:     n - 1,
		size:     n,
		spaceSig: make(chan struct{}, 1),
		closeCh:  make(chan struct{}),
		parkCap:  int(max(4*n, 4096)), // both powers of two
	}
}

// SetRelease makes the ring hand the command buffers larger than its keep bound
// (64 KiB) to fn when it lets go of them (after the command's reply, or when the slot
// is reused), instead of dropping them: fn may keep them for later commands (a
// pool). The reply buffers given to CompleteOwned go to fn too. Call it before the
// ring is used.
func (r *Ring) SetRelease(fn func([]byte)) { r.release = fn }

// SetRescue makes the ring ask fn, on the loop, about an error reply (msg, its text)
// to a forgotten command that is kept (Publish with forget after Keep), and, with a
// nil msg, about such a command that Close failed before it was written (on Close's
// goroutine, or a Publish's after Close): when fn returns true, the result is kept as
// if the command had not been forgotten, with its command (ViewCmd; an *Unsent error
// for one never written), for a viewer fn arranged for (one that sends it again
// elsewhere: a cluster redirect); it is not counted in ForgottenErrors. fn runs while
// the ring completes the slot: it must be quick, must not keep msg and must not
// send. Call it before the ring is used.
func (r *Ring) SetRescue(fn func(seq uint64, msg []byte) bool) { r.rescue = fn }

// dropCmd lets go of the slot's command buffer if it is larger than cmdKeep, and of
// the strings attached to it. The caller owns the slot (or, on the loop, the slot's
// written command).
func (r *Ring) dropCmd(s *slot) {
	if len(s.ext) > 0 {
		clear(s.ext)
		s.ext = s.ext[:0]
	}
	if cap(s.cmd) > cmdKeep {
		if r.release != nil {
			r.release(s.cmd)
		}
		s.cmd = nil
	}
}

// Size returns the number of slots: the most commands that can be in flight.
func (r *Ring) Size() int { return int(r.size) }

// slot returns seq's slot, whose page must exist: seq was reserved (claim installed
// the page before the slot left its previous state), or is a later use of a slot
// that was.
func (r *Ring) slot(seq uint64) *slot {
	i := seq & r.mask
	return &r.pages[i>>pageShift].Load()[i&pageMask]
}

// lookup returns seq's slot, or nil if its page does not exist yet; then no seq of the
// page was ever reserved (claimed), seq included.
func (r *Ring) lookup(seq uint64) *slot {
	i := seq & r.mask
	if p := r.pages[i>>pageShift].Load(); p != nil {
		return &p[i&pageMask]
	}
	return nil
}

// installPage returns the slot of seq, which the caller has just reserved, after
// installing its page, missing because this is the first use of the page. Racing
// reservers of the same page each allocate one; the CAS keeps the first and the
// others drop theirs.
func (r *Ring) installPage(seq uint64) *slot {
	i := seq & r.mask
	pp := &r.pages[i>>pageShift]
	p := new(page)
	if !pp.CompareAndSwap(nil, p) {
		p = pp.Load()
	}
	return &p[i&pageMask]
}

// Err returns the error given to the first Close (ErrClosed for Close(nil)), or nil
// while the ring is open.
func (r *Ring) Err() error {
	if cs := r.closed.Load(); cs != nil {
		return cs.err
	}
	return nil
}

// ForgottenErrors returns how many forgotten commands (Publish with forget) got an
// error reply or were failed by FailWritten, Close or a Publish after Close.
func (r *Ring) ForgottenErrors() uint64 { return r.forgottenErrs.Load() }

// Reserve takes the next slot in command order. It waits while Size() commands are in
// flight (reserved and not yet freed), until ctx ends (a nil ctx waits until there is
// space or the ring is closed). After Close it returns the close error. A caller that
// gives up while waiting never holds a sequence number.
//
// It returns the slot's sequence number and its command buffer, with length 0 and the
// capacity kept from earlier use. The caller appends one encoded command to *cmd and then
// calls Publish (or Fail) with seq; it must not touch *cmd after that.
func (r *Ring) Reserve(ctx context.Context) (seq uint64, cmd *[]byte, err error) {
	if cs := r.closed.Load(); cs != nil {
		return 0, nil, cs.err
	}
	if seq, ok := r.tryReserve(); ok {
		return seq, r.claim(seq), nil
	}
	return r.reserveSlow(ctx)
}

// tryReserve takes a sequence number if there is space, retrying on CAS contention.
func (r *Ring) tryReserve() (uint64, bool) {
	for {
		f := r.freed.Load() // before tail: then f <= t
		t := r.tail.Load()
		if t-f >= r.size {
			return 0, false
		}
		if r.tail.CompareAndSwap(t, t+1) {
			return t, true
		}
	}
}

func (r *Ring) reserveSlow(ctx context.Context) (uint64, *[]byte, error) {
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	r.spaceWaiters.Add(1)
	defer r.spaceWaiters.Add(-1)
	for {
		// Checked after registering as a waiter: a loop that frees space after this
		// check sees spaceWaiters > 0 and posts a token.
		if cs := r.closed.Load(); cs != nil {
			return 0, nil, cs.err
		}
		if seq, ok := r.tryReserve(); ok {
			// Pass the token on if there is still room for another waiter.
			if r.spaceWaiters.Load() > 1 && r.tail.Load()-r.freed.Load() < r.size {
				notify(r.spaceSig)
			}
			return seq, r.claim(seq), nil
		}
		select {
		case <-r.spaceSig:
		case <-r.closeCh:
		case <-done:
			return 0, nil, ctx.Err()
		}
	}
}

// claim moves the slot of a freshly reserved seq to phaseReserved. The previous occupant
// (seq-size) is done and freed, but a viewer may still hold a read claim on it, a
// viewer woken by its completion may not have run yet, or a Close may still be storing
// its error: wait for them. (A viewer arriving after the waiters check sees the old
// command done, or this one reserved: it never blocks on the old command.)
//
// If the previous occupant's result was never read (a Future not waited on yet), it
// is parked first: the slot is locked in phaseParking while a copy is made, and
// viewers of the old command find the copy with unpark once they see the new seq.
// Viewers do not block on that lock (they spin, as claim does on completing): a viewer
// that blocked on it would stay a waiter on the slot after its reuse, and could take
// the wake-up token posted for the new command's viewers.
func (r *Ring) claim(seq uint64) *[]byte {
	s := r.lookup(seq)
	if s == nil {
		s = r.installPage(seq)
	}
	for spin := 0; ; spin++ {
		st := s.state.Load()
		if stReaders(st) != 0 || stPhase(st) == phaseCompleting || stPhase(st) == phaseParking ||
			s.waiters.Load() != 0 {
			// (phaseParking: retire is letting go of a large reply.)
			backoff(spin)
			continue
		}
		if stPhase(st) == phaseDone && !s.forget && !s.taken.Load() {
			if !s.state.CompareAndSwap(st, st&^phaseMask|phaseParking) {
				continue
			}
			r.park(stSeq(st), s)
			s.state.Store(mkState(seq, phaseReserved))
			break
		}
		if s.state.CompareAndSwap(st, mkState(seq, phaseReserved)) {
			break
		}
		backoff(spin)
	}
	s.val = parser.Value{}
	s.err = nil
	s.unsent = false
	s.memo.reset()
	r.dropOwn(s)
	s.taken.Store(false)
	s.forget = false
	s.noReply = false
	if s.pinned.Load() { // a plain load on the hot path; the store only after a Pin
		s.pinned.Store(false)
	}
	s.keep = false
	s.multiOn = false
	r.dropCmd(s)
	s.cmd = s.cmd[:0]
	return &s.cmd
}

// Publish marks seq's command (already appended to *cmd) ready to be written. forget
// says nobody will wait for the reply: its value is not stored, and an error reply or a
// failure is counted in ForgottenErrors.
//
// It reports whether the caller must wake the writer: true for the first publisher
// since the writer last started collecting, false when a wake-up is already pending.
// After Close the slot is completed with the close error and Publish returns false.
// Publish panics if seq is not reserved and unpublished (a bug in the caller).
func (r *Ring) Publish(seq uint64, forget bool) (wake bool) {
	s := r.lookup(seq)
	if s == nil {
		panic("ring: Publish of a sequence number that is not reserved")
	}
	s.forget = forget
	if !s.state.CompareAndSwap(mkState(seq, phaseReserved), mkState(seq, phaseReady)) {
		panic("ring: Publish of a sequence number that is not reserved")
	}
	if cs := r.closed.Load(); cs != nil {
		// Close may have swept past this slot before it was ready; whoever wins the
		// CAS completes it.
		if s.state.CompareAndSwap(mkState(seq, phaseReady), mkState(seq, phaseCompleting)) {
			s.unlend(seq) // never written
			s.unsent = true
			r.finish(s, mkState(seq, phaseDone), cs.err, true)
		}
		return false
	}
	return r.needWake()
}

// Unread marks seq, reserved and not yet published, as a command whose result nobody
// will view (a health check's PING): it is not parked when its slot is reused. Done
// and Freed still tell whether it was answered. Unread panics if seq is not reserved.
func (r *Ring) Unread(seq uint64) {
	s := r.lookup(seq)
	if s == nil || s.state.Load() != mkState(seq, phaseReserved) {
		panic("ring: Unread of a sequence number that is not reserved")
	}
	s.taken.Store(true)
}

// Pin marks seq, reserved and not yet published, as a command that is written once
// published whatever its viewers' contexts do (a View whose ctx ends returns ctx's
// error and leaves it be): one that changes how the server answers the commands after
// it, such as CLIENT REPLY. Close still fails it if it is not written by then. Pin
// panics if seq is not reserved.
func (r *Ring) Pin(seq uint64) {
	s := r.lookup(seq)
	if s == nil || s.state.Load() != mkState(seq, phaseReserved) {
		panic("ring: Pin of a sequence number that is not reserved")
	}
	s.pinned.Store(true)
}

// PublishNoReply is Publish for a command the server will not answer (sent while
// CLIENT REPLY is OFF, or the one a SKIP applies to): it takes no reply, and is done,
// with a null value, as soon as Collect has written it.
func (r *Ring) PublishNoReply(seq uint64) (wake bool) {
	if s := r.lookup(seq); s != nil {
		s.noReply = true
	}
	return r.Publish(seq, false)
}

// Keep marks seq, reserved and not yet published, as a command whose encoded form its
// viewers may need after the reply (to send it again elsewhere: a cluster redirect):
// ViewCmd then shows it, attached strings (Attach) in their places. A kept command
// must not have bytes lent to it (Lend): they go back to the sender once written.
// Keep panics if seq is not reserved.
func (r *Ring) Keep(seq uint64) {
	s := r.lookup(seq)
	if s == nil || s.state.Load() != mkState(seq, phaseReserved) || s.lent.Load() != 0 {
		panic("ring: Keep of a sequence number that is not reserved, or has bytes lent")
	}
	s.keep = true
}

// Fail completes a reserved, unpublished seq with err (ErrFailed if nil) without writing
// anything, for example when the command could not be encoded. It never takes a reply.
// Like Publish it reports whether the caller must wake the writer: the writer may be
// stopped at this slot with later commands ready behind it.
// Fail panics if seq is not reserved and unpublished.
func (r *Ring) Fail(seq uint64, err error) (wake bool) {
	if err == nil {
		err = ErrFailed
	}
	s := r.lookup(seq)
	if s == nil || !s.state.CompareAndSwap(mkState(seq, phaseReserved), mkState(seq, phaseCompleting)) {
		panic("ring: Fail of a sequence number that is not reserved")
	}
	s.taken.Store(true) // the sender reports err itself: nobody views a failed slot
	s.unlend(seq)
	r.finish(s, mkState(seq, phaseDone), err, false)
	if r.closed.Load() != nil {
		return false
	}
	return r.needWake()
}

// needWake sets the wake flag and reports whether this call set it.
func (r *Ring) needWake() bool {
	return !r.wake.Load() && r.wake.CompareAndSwap(false, true)
}

// finish stores err into a slot the caller owns (phase completing), publishes done and
// wakes its viewers. countForgotten counts the failure of a forgotten command, unless
// it is a kept one Close failed before it was written and the rescue takes it (see
// SetRescue).
func (r *Ring) finish(s *slot, done uint64, err error, countForgotten bool) {
	if countForgotten && s.forget {
		if s.unsent && s.keep && r.rescue != nil && r.rescue(stSeq(done), nil) {
			s.forget = false // a viewer comes, and finds it Unsent
		} else {
			r.forgottenErrs.Add(1)
		}
	}
	s.val = parser.Value{}
	s.err = err
	s.state.Store(done)
	s.notify()
}

// signal returns the slot's signal channel, creating it if no View blocked on the slot
// before. Racing viewers each make one; the CAS keeps the first.
func (s *slot) signal() chan struct{} {
	if c := s.sig.Load(); c != nil {
		return *c
	}
	c := make(chan struct{}, 1)
	if s.sig.CompareAndSwap(nil, &c) {
		return c
	}
	return *s.sig.Load()
}

// notify posts a token on the slot's signal channel, if it has one. The caller has
// just stored the slot's state; no wake-up is lost when there is no channel yet.
// Every operation involved is a sequentially consistent atomic, and:
//
//   - a viewer installs (or loads) the channel, then adds itself to waiters, then
//     re-loads the state, and blocks only if it is unchanged;
//   - a completer stores the state, then loads the channel pointer here.
//
// In the single order of these atomics, if this load comes before the viewer's
// install, then the completer's state store comes before the viewer's re-load, which
// sees the new state: the viewer does not block. Otherwise this load finds the channel
// and posts a token (or finds one there already), which stays in the buffer until a
// viewer takes it and looks again. (The waiters count plays no part in this; it holds
// off reuse of the slot, see claim.)
func (s *slot) notify() {
	if c := s.sig.Load(); c != nil {
		notify(*c)
	}
}

// parkEntry holds the result of a reused slot that nobody had read, in memory it
// reuses (store), so parking allocates nothing once warm.
type parkEntry struct {
	seq   uint64 // 48-bit sequence number
	used  bool
	val   parser.Value // aliases store
	err   error
	store parser.Store
	// keep says cmd holds the command (a kept slot's, see Keep), for ViewCmd, with
	// ext its attached strings.
	keep bool
	cmd  []byte
	ext  []extRef
	// multi holds a multi-reply result (val aliases its gathered replies) and which of
	// its parts were viewed: it stays parked until each part was viewed once.
	multi *multiSlot
	// memo is the slot's Memo, moved here with the result.
	memo Memo
}

// parkPage is how many entries are allocated together.
const parkPage = 64

// parkPageSize is the number of entries per page (parkCap is a power of two).
func (r *Ring) parkPageSize() int { return min(parkPage, r.parkCap) }

// park keeps the unread result of the 48-bit sequence seq, held by slot s, which the
// caller has locked (phaseParking) to reuse it. Its entry is the one of seq % parkCap:
// a result parked parkCap sequence numbers later takes it over, so a parked result
// waits for at least parkCap later commands (ErrExpired after that).
//
// Nothing is copied: the entry and the slot swap their stores, so the value, which
// aliases the slot's store (Complete copied it there), moves with its memory, and the
// slot gets the entry's old store to reuse for its next reply.
func (r *Ring) park(seq uint64, s *slot) {
	r.parkMu.Lock()
	defer r.parkMu.Unlock()
	ps := r.parkPageSize()
	if r.parkPages == nil {
		r.parkPages = make([][]parkEntry, r.parkCap/ps)
	}
	i := int(seq) & (r.parkCap - 1)
	page := &r.parkPages[i/ps]
	if *page == nil {
		*page = make([]parkEntry, ps)
	}
	e := &(*page)[i%ps]
	if !e.used {
		r.parkedN++
	}
	e.seq, e.used, e.err, e.val = seq, true, s.err, s.val
	e.store, s.store = s.store, e.store
	e.memo.p.Store(s.memo.p.Load())
	s.memo.reset()
	// A large reply kept as it was read (owned) moves with its value; its buffer is
	// left to the garbage collector.
	s.owned, s.own = false, nil
	e.keep = s.keep
	if s.keep {
		// The command and its attached strings move; the slot reuses the entry's
		// old buffers.
		e.cmd, s.cmd = s.cmd, e.cmd
		e.ext, s.ext = s.ext, e.ext
	} else if len(e.ext) > 0 {
		clear(e.ext) // an older result's strings, taken over: let them go
		e.ext = e.ext[:0]
	}
	if s.multiOn {
		e.multi, s.multi = s.multi, e.multi
	} else if e.multi != nil {
		e.multi.parts = 0 // a plain result: the entry's marks do not apply
	}
}

// unpark calls fn with the parked result of the 48-bit sequence seq, if there is one,
// and frees its entry. For a multi-reply result (see PublishMulti) part says which
// part is viewed: each part can be viewed once, and the entry is freed when every part
// was (part < 0 takes them all). fn runs under the park lock: it must be short.
func (r *Ring) unpark(seq uint64, part int, fn func(v parser.Value, err error), fnc viewCmdFunc) bool {
	r.parkMu.Lock()
	defer r.parkMu.Unlock()
	e := r.parkedEntry(seq)
	if e == nil {
		return false
	}
	last := true
	if m := e.multi; m != nil && m.parts > 0 && part >= 0 && part < len(m.marks) {
		if m.marks[part].Swap(true) {
			return false // this part was viewed already
		}
		last = m.nTaken.Add(1) >= m.parts
	}
	switch {
	case fnc != nil && e.keep:
		fnc(keptCmd(e.cmd, e.ext), e.val, e.err, &e.memo)
	case fnc != nil:
		fnc(nil, e.val, e.err, &e.memo)
	case fn != nil:
		fn(e.val, e.err)
	}
	if last && part != partPeek {
		e.used, e.val, e.err = false, parser.Value{}, nil
		e.memo.reset()
		if e.keep && cap(e.cmd) > cmdKeep {
			e.cmd = nil
		}
		clear(e.ext) // let the strings go
		e.ext = e.ext[:0]
		r.parkedN--
	}
	return true
}

// parkedEntry returns the entry holding seq's parked result, or nil (under parkMu).
func (r *Ring) parkedEntry(seq uint64) *parkEntry {
	if r.parkPages == nil {
		return nil
	}
	ps := r.parkPageSize()
	i := int(seq) & (r.parkCap - 1)
	page := r.parkPages[i/ps]
	if page == nil {
		return nil
	}
	if e := &page[i%ps]; e.used && e.seq == seq {
		return e
	}
	return nil
}

// isParked reports whether the 48-bit sequence seq has a parked result.
func (r *Ring) isParked(seq uint64) bool {
	r.parkMu.Lock()
	defer r.parkMu.Unlock()
	return r.parkedEntry(seq) != nil
}

// Parked returns how many results of reused slots wait for a late View.
func (r *Ring) Parked() int {
	r.parkMu.Lock()
	defer r.parkMu.Unlock()
	return r.parkedN
}

// notify posts a token on a capacity-1 channel without blocking.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// backoff spins a little, then yields the processor.
func backoff(spin int) {
	if spin >= 16 {
		runtime.Gosched()
	}
}
