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
// A ring has at most one watch at a time. It is installed for a Done channel only when
// two Views are blocked with that channel at the same time: one View of every
// candSample sequence numbers that blocks with a select records its channel as the
// candidate for as long as it waits (if no other is recorded), and the next sampled
// View that blocks with the same channel installs the watch. A context used by one
// View at a time, such as a per-request context, therefore never gets one (and costs
// no allocation and no AfterFunc), even when a later context's channel reuses the
// address of an earlier one. A watch is replaced only when no View uses it.
//
// The watch's context.AfterFunc wakes the Views that joined it (each slot counts its
// waiters that did, in watchers) when the context ends; they check their context and
// return its error.
//
// Ordering: a View joins, adds itself to its slot's watchers and then checks
// ctx.Err(); the AfterFunc runs after the context's error is stored and loads each
// slot's watcher count. Both are sequentially consistent atomics, so either the View
// sees the error, or the wake-up sees the watcher and posts a token on its channel.
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

// candSample: only Views of every candSample-th sequence number look at the candidate,
// so that Views with a context each, which never get a watch, mostly touch no shared
// word but the watch pointer.
const candSample = 8

// joinWatch returns the ring's watch for done with a reference taken (the caller calls
// leave when it stops waiting), or nil: then the caller waits with a select. cur is the
// watch the caller loaded. held reports that the caller, a sampled View, recorded done
// as the candidate; it must clear it (releaseCand) when it stops waiting. Callers skip
// the call when cur is not for done and seq is not sampled: the usual case of a
// context of the View's own, which then writes nothing shared.
func (r *Ring) joinWatch(ctx context.Context, done <-chan struct{}, seq uint64, cur *watch) (w *watch, held bool) {
	if cur != nil && cur.done == done && cur.join() {
		return cur, false
	}
	if seq%candSample != 0 {
		return nil, false
	}
	id := chanID(done)
	switch c := r.watchCand.Load(); {
	case c == 0:
		return nil, r.watchCand.CompareAndSwap(0, id)
	case c != id:
		return nil, false
	}
	// Another View is blocked with done right now: the context is shared.
	return r.installWatch(ctx, done, cur), false
}

// releaseCand clears the candidate recorded by a View that was given held.
func (r *Ring) releaseCand(done <-chan struct{}) { r.watchCand.CompareAndSwap(chanID(done), 0) }

// join takes a reference unless the watch is retired.
func (w *watch) join() bool {
	for n := w.refs.Load(); n >= 0; n = w.refs.Load() {
		if w.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
	return false
}

// installWatch installs a watch for done in place of w (the current one, or nil) if no
// View uses w, and returns it with a reference taken; nil if it did not.
func (r *Ring) installWatch(ctx context.Context, done <-chan struct{}, w *watch) *watch {
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

// wakeWaiters posts a token on the channel of every slot with a View waiting through
// the watch. It runs when the watched context ends.
func (r *Ring) wakeWaiters() {
	r.watchWakes.Add(1)
	for i := range r.pages {
		p := r.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			if s := &p[j]; s.watchers.Load() != 0 {
				s.notify()
			}
		}
	}
}
