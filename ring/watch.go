package ring

import (
	"context"
	"sync/atomic"
	"unsafe"
)

// A watch lets the Views that share one context wait on their slot's channel alone,
// instead of a select on the slot's channel and ctx.Done(). Many goroutines waiting
// with the same context (a server's base context, a worker pool's deadline) would
// otherwise all queue on that one Done channel, whose lock every wait and every wake
// then takes twice: with 512 goroutines on 2 cores that lock was the largest single
// cost of a wait (bench/RESULTS.md).
//
// A ring has at most one watch at a time. It is installed for a Done channel when two
// consecutive Views that had to block came with it (so a context used by one View
// at a time, such as a per-request context, keeps the plain select and costs no
// allocation), and replaced only when no View uses it. Its context.AfterFunc wakes
// every blocked View of the ring when the context ends; each View then checks its own
// context, so a View of another context that is woken this way just waits again.
//
// Ordering: a View registers as a waiter of its slot (waiters.Add) and then checks
// ctx.Err(); the AfterFunc runs after the context's error is stored and loads each
// slot's waiter count. Both are sequentially consistent atomics, so either the View
// sees the error, or the wake-up sees the waiter and posts a token on its channel.
type watch struct {
	done <-chan struct{}
	// refs counts the Views using the watch; -1 once retired (it takes no new users).
	refs atomic.Int64
	// stop is context.AfterFunc's stop function; set before the watch is published.
	stop func() bool
}

// chanID is the identity of a Done channel, for comparing channels seen by different
// Views; it is never turned back into a pointer.
func chanID(c <-chan struct{}) uintptr { return uintptr(*(*unsafe.Pointer)(unsafe.Pointer(&c))) }

// joinWatch returns the ring's watch for done with a reference taken, installing one if
// done was also the channel of the previous View that looked for a watch; nil means the
// caller waits with a select. The caller calls leave when it stops waiting.
func (r *Ring) joinWatch(ctx context.Context, done <-chan struct{}) *watch {
	w := r.watch.Load()
	if w != nil && w.done == done {
		for n := w.refs.Load(); n >= 0; n = w.refs.Load() {
			if w.refs.CompareAndSwap(n, n+1) {
				return w
			}
		}
	}
	id := chanID(done)
	if r.watchCand.Load() != id {
		r.watchCand.Store(id)
		return nil
	}
	if r.closed.Load() != nil {
		return nil
	}
	// Retire the current watch if nobody uses it; otherwise keep it and select.
	if w != nil {
		if !w.refs.CompareAndSwap(0, -1) {
			return nil
		}
	}
	nw := &watch{done: done}
	nw.refs.Store(1)
	nw.stop = context.AfterFunc(ctx, r.wakeWaiters)
	if !r.watch.CompareAndSwap(w, nw) {
		// Another View replaced w first (w is retired either way: stop it too, which
		// is harmless if the winner already did).
		nw.stop()
		if w != nil {
			w.stop()
		}
		return nil
	}
	if w != nil {
		w.stop()
	}
	if r.closed.Load() != nil {
		// Close may have looked for a watch before this one was installed: drop it
		// here, so a closed ring leaves no AfterFunc on a long-lived context. This
		// View still uses nw for its own wait, which Close ends.
		r.dropWatch()
	}
	return nw
}

// leave drops a reference taken by joinWatch.
func (w *watch) leave() { w.refs.Add(-1) }

// dropWatch removes the ring's watch and stops its AfterFunc (Close).
func (r *Ring) dropWatch() {
	if w := r.watch.Swap(nil); w != nil {
		w.stop()
	}
}

// wakeWaiters posts a token on the channel of every slot with a blocked View. It runs
// when a watched context ends; Views of other contexts woken by it wait again.
func (r *Ring) wakeWaiters() {
	r.watchWakes.Add(1)
	for i := range r.pages {
		p := r.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			if s := &p[j]; s.waiters.Load() != 0 {
				s.notify()
			}
		}
	}
}
