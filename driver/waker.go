package driver

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// waker wakes one event loop without allocating. gnet's Conn.Wake allocates a closure
// per call; instead, one end of a socketpair is enrolled in the loop, links that have
// output push themselves on a lock-free list, and the first of a batch writes one byte
// to the other end. The loop then flushes every listed link.
type waker struct {
	wfd int // our end of the socketpair (non-blocking)
	// mu keeps close from closing wfd under a write to it (a sender, the output
	// poller or a health check waking a link as the engine stops): a write after
	// the close could hit a file that reused the number. Only the wake write takes
	// it (once per wake of the loop). closed is set under it.
	mu     sync.RWMutex
	closed bool
	head   atomic.Pointer[link] // links waiting to be flushed (Treiber stack, popped whole)
	armed  atomic.Bool          // a byte is on its way
	loop   gnet.EventLoop       // set with up, on the loop, before enroll returns
	up     bool                 // the loop opened the read end (see enroll)
	// out gathers the output batch of whichever of the loop's links is writing: the
	// loop writes one link at a time, so one buffer per loop serves all of them (see
	// link.write). Loop-owned.
	out []byte
	// vec is out's companion when a batch references large commands instead of
	// copying them (see link.write); cleared after each write. Loop-owned.
	vec [][]byte
	// iov is writeVec's scratch space for the loop's direct writes. Loop-owned.
	iov []iovec
	// small counts the writes in a row that used under a quarter of a large out.
	small int
}

// outKeep is the capacity up to which a loop's output buffer is always kept. A larger
// one (batches of large commands) is kept while it is used, and dropped after
// outIdleWrites writes in a row that needed under a quarter of it: regrowing it for
// every batch of 1 MiB SETs cost more than the SETs (bench/RESULTS.md).
const (
	outKeep       = 4 << 20
	outIdleWrites = 64
)

var wakeByte = []byte{1}

// newWaker makes a socketpair (wakePair) and enrolls its read end.
func newWaker(cli *gnet.Client) (*waker, error) {
	nc, wfd, err := wakePair()
	if err != nil {
		return nil, err
	}
	w := &waker{wfd: wfd}
	// gnet dups the fd and closes nc; the loop sets up (OnOpen) and loop.
	if err := enroll(cli, nc, w, func() bool { return w.up }); err != nil {
		closeFD(wfd)
		return nil, err
	}
	return w, nil
}

// schedule asks the loop to flush l. Any goroutine may call it.
func (w *waker) schedule(l *link) {
	if !l.queued.CompareAndSwap(false, true) {
		return // already listed
	}
	for {
		old := w.head.Load()
		l.next = old
		if w.head.CompareAndSwap(old, l) {
			break
		}
	}
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		// EAGAIN means the pair is full of wake bytes: the loop wakes anyway.
		w.mu.RLock()
		if !w.closed {
			_, _ = rawWrite(w.wfd, wakeByte)
		}
		w.mu.RUnlock()
	}
}

// run flushes the listed links; it runs on the waker's loop.
func (w *waker) run(c gnet.Conn) gnet.Action {
	_, _ = c.Discard(c.InboundBuffered())
	w.armed.Store(false)
	l := w.head.Swap(nil)
	for l != nil {
		next := l.next
		l.next = nil
		l.queued.Store(false)
		l.flush()
		l = next
	}
	return gnet.None
}

// close closes our end of the socketpair, once; no wake writes to it after that.
func (w *waker) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		closeFD(w.wfd)
	}
}

// trimOut drops a large output buffer that has gone unused (loop side, after a write).
func (w *waker) trimOut() {
	if cap(w.out) <= outKeep {
		return
	}
	if len(w.out) >= cap(w.out)/4 {
		w.small = 0
		return
	}
	if w.small++; w.small >= outIdleWrites {
		w.out, w.small = nil, 0
	}
}
