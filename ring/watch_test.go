package ring

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// waitBlocked waits until n Views are registered as waiters on seq's slot.
func waitBlocked(t *testing.T, r *Ring, seq uint64, n int32) {
	t.Helper()
	ctx := testCtx(t)
	for r.slot(seq).waiters.Load() != n {
		if ctx.Err() != nil {
			t.Fatalf("seq %d: %d waiters, want %d", seq, r.slot(seq).waiters.Load(), n)
		}
		runtime.Gosched()
	}
}

// waitWatch waits until the ring's watch is the one of done (a View installs it after
// it registered as a waiter).
func waitWatch(t *testing.T, r *Ring, done <-chan struct{}) {
	t.Helper()
	ctx := testCtx(t)
	for w := r.watch.Load(); w == nil || w.done != done; w = r.watch.Load() {
		if ctx.Err() != nil {
			t.Fatal("no watch for the shared context")
		}
		runtime.Gosched()
	}
}

// recv returns the next View outcome, failing the test if none comes in time (a View
// the watch failed to wake would otherwise hang the test).
func recv(t *testing.T, out <-chan viewResult) viewResult {
	t.Helper()
	select {
	case res := <-out:
		return res
	case <-time.After(5 * time.Second):
		t.Fatal("a View did not return within 5s")
		return viewResult{}
	}
}

type viewResult struct {
	seq uint64
	got string
	err error
}

// goView starts a View of seq with ctx and sends its outcome to out.
func goView(ctx context.Context, r *Ring, seq uint64, out chan<- viewResult) {
	go func() {
		got, slotErr, err := view(ctx, r, seq)
		if err == nil {
			err = slotErr
		}
		out <- viewResult{seq, got, err}
	}()
}

// TestWatchSharedCancel: Views sharing one context wait through the ring's watch; when
// the context ends every one of them returns its error, several viewers of one slot
// included, while Views of another context keep waiting and later get their replies.
// The replies of the cancelled (written) commands are still read, in order.
func TestWatchSharedCancel(t *testing.T) {
	checkGoroutines(t)
	r := New(64)
	const shared, perSlot, other = 16, 3, 4
	seqs := make([]uint64, shared+other)
	for i := range seqs {
		seqs[i] = mustSend(t, r, fmt.Sprint("c", i), false)
	}
	if got := collect(t, r); len(got) != len(seqs) {
		t.Fatalf("collected %d", len(got))
	}
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	octx, ocancel := context.WithCancel(context.Background())
	defer ocancel()
	out := make(chan viewResult, shared*perSlot+other)
	for _, seq := range seqs[:shared] {
		for range perSlot {
			goView(sctx, r, seq, out)
		}
		waitBlocked(t, r, seq, perSlot)
	}
	for _, seq := range seqs[shared:] {
		goView(octx, r, seq, out)
		waitBlocked(t, r, seq, 1)
	}
	waitWatch(t, r, sctx.Done())
	cancel()
	for range shared * perSlot {
		res := recv(t, out)
		if !errors.Is(res.err, context.Canceled) || res.seq >= seqs[shared] {
			t.Fatalf("after cancel: View(%d) = %q, %v", res.seq, res.got, res.err)
		}
	}
	for wctx := testCtx(t); r.watchWakes.Load() == 0; { // the AfterFunc runs on its own goroutine
		if wctx.Err() != nil {
			t.Fatal("the watch never woke the waiters")
		}
		runtime.Gosched()
	}
	for _, seq := range seqs[shared:] {
		waitBlocked(t, r, seq, 1) // still waiting (woken by the watch, waiting again)
	}
	for i := range seqs {
		complete(t, r, fmt.Sprint("r", i))
	}
	for range other {
		res := recv(t, out)
		if res.err != nil || res.got != fmt.Sprint("r", res.seq) {
			t.Fatalf("View(%d) of another context = %q, %v", res.seq, res.got, res.err)
		}
	}
	// The cancelled written commands kept their replies for a later View.
	wantReply(t, r, seqs[0], "r0")
}

// TestWatchCancelsUnwritten: a command published but not written is cancelled when
// the shared context of its waiting View ends, and is never collected.
func TestWatchCancelsUnwritten(t *testing.T) {
	checkGoroutines(t)
	const n = candSample + 1 // two sampled sequence numbers: the second installs the watch
	r := New(16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan viewResult, n)
	var seqs []uint64
	for i := range n {
		seq := mustSend(t, r, fmt.Sprint("c", i), false)
		seqs = append(seqs, seq)
		goView(ctx, r, seq, out)
		waitBlocked(t, r, seq, 1)
	}
	waitWatch(t, r, ctx.Done())
	cancel()
	for range seqs {
		if res := recv(t, out); !errors.Is(res.err, context.Canceled) {
			t.Fatalf("View(%d) = %q, %v", res.seq, res.got, res.err)
		}
	}
	if got := collect(t, r); len(got) != 0 {
		t.Fatalf("cancelled commands were collected: %q", got)
	}
	if r.InFlight() != 0 {
		t.Fatalf("InFlight = %d after cancelling everything", r.InFlight())
	}
}

// TestWatchPerRequestContexts: Views with a context each (one View per context) wait
// with a select and install no watch, so they allocate nothing for it.
func TestWatchPerRequestContexts(t *testing.T) {
	checkGoroutines(t)
	const n = 2*candSample + 1
	r := New(32)
	out := make(chan viewResult, n)
	var cancels []context.CancelFunc
	var ctxOf0 context.Context
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range n {
		seq := mustSend(t, r, fmt.Sprint("c", i), false)
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		if i == 0 {
			ctxOf0 = ctx
		}
		goView(ctx, r, seq, out)
		waitBlocked(t, r, seq, 1)
		for seq == 0 && r.watchCand.Load() != chanID(ctx.Done()) {
			runtime.Gosched() // the first sampled View records its channel while it waits
		}
	}
	if w := r.watch.Load(); w != nil {
		t.Fatal("a watch was installed for contexts used by one View each")
	}
	if c := r.watchCand.Load(); c != chanID(ctxOf0.Done()) {
		t.Fatal("the candidate is not the channel of the first View, still waiting")
	}
	cancels[3]()
	if res := recv(t, out); res.seq != 3 || !errors.Is(res.err, context.Canceled) {
		t.Fatalf("View(%d) = %q, %v", res.seq, res.got, res.err)
	}
	collect(t, r)
	for i := range n {
		if i != 3 {
			complete(t, r, fmt.Sprint("r", i))
		}
	}
	for range n - 1 {
		if res := recv(t, out); res.err != nil || res.got != fmt.Sprint("r", res.seq) {
			t.Fatalf("View(%d) = %q, %v", res.seq, res.got, res.err)
		}
	}
}

// TestWatchReplaced: once no View uses the watch of one context, blocking Views of
// another context replace it, and the old one is stopped: ending its context later
// wakes nobody; Close stops the current one.
func TestWatchReplaced(t *testing.T) {
	checkGoroutines(t)
	r := New(64)
	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	bctx, bcancel := context.WithCancel(context.Background())
	defer bcancel()
	// A round's Views span 2*candSample+1 sequence numbers, so that wherever it starts
	// two of them are sampled, and the second finds the channel the first recorded.
	const n = 2*candSample + 1
	out := make(chan viewResult, n)
	round := func(ctx context.Context) {
		for range n {
			seq := mustSend(t, r, "x", false)
			goView(ctx, r, seq, out)
			waitBlocked(t, r, seq, 1)
		}
		waitWatch(t, r, ctx.Done())
		collect(t, r)
		for range n {
			complete(t, r, "rx")
		}
		for range n {
			if res := recv(t, out); res.err != nil {
				t.Fatal(res.err)
			}
		}
	}
	round(actx)
	wa := r.watch.Load()
	round(bctx)
	wb := r.watch.Load()
	if wa == wb || wa.refs.Load() != -1 {
		t.Fatal("the first watch was not retired")
	}
	if wa.stop() {
		t.Fatal("the replaced watch's AfterFunc was still registered")
	}
	r.Close(nil)
	if r.watch.Load() != nil {
		t.Fatal("Close left the watch installed")
	}
	if wb.stop() {
		t.Fatal("Close left the watch's AfterFunc registered")
	}
	acancel()
	bcancel()
	if n := r.watchWakes.Load(); n != 0 {
		t.Fatalf("a stopped watch woke the waiters %d times", n)
	}
}

// TestWatchClose: Close wakes Views waiting through a watch with the close error.
func TestWatchClose(t *testing.T) {
	checkGoroutines(t)
	const n = candSample + 1
	r := New(16)
	ctx := testCtx(t)
	out := make(chan viewResult, n)
	for i := range n {
		seq := mustSend(t, r, fmt.Sprint("c", i), false)
		goView(ctx, r, seq, out)
		waitBlocked(t, r, seq, 1)
	}
	waitWatch(t, r, ctx.Done())
	r.Close(nil)
	for range n {
		if res := recv(t, out); !errors.Is(res.err, ErrClosed) {
			t.Fatalf("View(%d) after Close = %q, %v", res.seq, res.got, res.err)
		}
	}
	if r.watch.Load() != nil {
		t.Fatal("Close left the watch installed")
	}
}

// TestWatchNotForSequentialViews: Views of one context, one at a time (a request that
// sends its commands one after the other), never install a watch, so ending the
// context (as every request does when it is done) wakes nobody; the candidate is
// released when each sampled View stops waiting. Contexts made one after the other,
// whose Done channels may reuse one address, behave the same.
func TestWatchNotForSequentialViews(t *testing.T) {
	checkGoroutines(t)
	r := New(8)
	out := make(chan viewResult, 1)
	one := func(ctx context.Context) {
		seq := mustSend(t, r, "x", false)
		goView(ctx, r, seq, out)
		waitBlocked(t, r, seq, 1)
		collect(t, r)
		complete(t, r, "rx")
		if res := recv(t, out); res.err != nil || res.got != "rx" {
			t.Fatalf("View(%d) = %q, %v", res.seq, res.got, res.err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	for range 4 * candSample {
		one(ctx)
	}
	cancel()
	for range 4 * candSample {
		ctx, cancel := context.WithCancel(context.Background())
		one(ctx)
		cancel()
	}
	if r.watch.Load() != nil {
		t.Fatal("a watch was installed for Views that never waited at the same time")
	}
	if c := r.watchCand.Load(); c != 0 {
		t.Fatal("the candidate was not released")
	}
	if n := r.watchWakes.Load(); n != 0 {
		t.Fatalf("ending a context woke the waiters %d times", n)
	}
}
