package ring

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

// Memory follows use (issue 4): slots come in pages installed by the first Reserve of
// one of their slots, and a slot's signal channel is made by the first View that has
// to block on it.

// heapPerRing builds n default rings, runs use on each, and returns the live heap they
// hold, per ring.
func heapPerRing(n int, use func(r *Ring)) int64 {
	rings := make([]*Ring, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range rings {
		rings[i] = New(0)
		if use != nil {
			use(rings[i])
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(rings)
	return (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
}

func TestHeapPerRing(t *testing.T) {
	const rings = 1000
	reply := parser.NewBulkString("some value of a few bytes")
	buf := make([]byte, 0, 256)
	for _, tc := range []struct {
		name string
		use  func(r *Ring)
		max  int64
	}{
		{"unused", nil, 4 << 10},
		{"one round trip", func(r *Ring) {
			seq, cmd, err := r.Reserve(nilCtx)
			if err != nil {
				panic(err)
			}
			*cmd = append(*cmd, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"...)
			r.Publish(seq, false)
			buf, _ = r.Collect(buf[:0])
			if err := r.Complete(reply); err != nil {
				panic(err)
			}
			if err := r.View(nilCtx, seq, nil); err != nil {
				panic(err)
			}
		}, 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The least of three runs, so that a concurrent test's garbage does not
			// count against the ring.
			per := int64(1 << 62)
			for range 3 {
				per = min(per, heapPerRing(rings, tc.use))
			}
			t.Logf("%s default ring (%d slots): %d bytes of heap", tc.name, DefaultSize, per)
			if per >= tc.max {
				t.Fatalf("%s default ring holds %d bytes of heap, want < %d", tc.name, per, tc.max)
			}
		})
	}
}

// installed returns how many pages of r exist and how many of its slots have a signal
// channel.
func installed(r *Ring) (pages, sigs int) {
	for i := range r.pages {
		p := r.pages[i].Load()
		if p == nil {
			continue
		}
		pages++
		for j := range p {
			if p[j].sig.Load() != nil {
				sigs++
			}
		}
	}
	return pages, sigs
}

func TestLazyPages(t *testing.T) {
	r := New(4 * pageSize)
	if p, _ := installed(r); p != 0 {
		t.Fatalf("new ring: %d pages", p)
	}
	if err := r.View(nilCtx, 0, nil); err != ErrNotReserved {
		t.Fatalf("View of seq 0 on a new ring: %v", err)
	}
	if r.Done(0) || r.Unwritten() != 0 {
		t.Fatal("Done or Unwritten on a new ring")
	}
	if buf, n := r.Collect(nil); n != 0 || len(buf) != 0 {
		t.Fatalf("Collect on a new ring: %d", n)
	}
	seq := mustSend(t, r, "a", false)
	if p, _ := installed(r); p != 1 {
		t.Fatalf("after one Reserve: %d pages", p)
	}
	if err := r.View(nilCtx, pageSize, nil); err != ErrNotReserved {
		t.Fatalf("View of a seq on a missing page: %v", err)
	}
	if got := collect(t, r); len(got) != 1 || got[0] != "a" {
		t.Fatalf("Collect = %q", got)
	}
	complete(t, r, "A")
	wantReply(t, r, seq, "A")
	// Fill the first page and reach into the second.
	for i := 1; i <= pageSize; i++ {
		s := mustSend(t, r, "x", true)
		collect(t, r)
		complete(t, r, "X")
		if s != uint64(i) {
			t.Fatalf("seq %d, want %d", s, i)
		}
	}
	if p, sigs := installed(r); p != 2 || sigs != 0 {
		t.Fatalf("after %d round trips: %d pages, %d signal channels", pageSize+1, p, sigs)
	}
	r.Close(nil)
	if p, _ := installed(r); p != 2 {
		t.Fatalf("Close installed pages: %d", p)
	}
}

// TestLazySignal: only a View that blocks makes its slot's channel.
func TestLazySignal(t *testing.T) {
	checkGoroutines(t)
	r := New(8)
	seq := mustSend(t, r, "a", false)
	got := make(chan string, 1)
	go func() {
		v, slotErr, err := view(testCtx(t), r, seq)
		got <- v + "," + errString(slotErr) + "," + errString(err)
	}()
	ctx := testCtx(t)
	for r.slot(seq).waiters.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("viewer did not start waiting")
		}
		runtime.Gosched()
	}
	collect(t, r)
	complete(t, r, "A")
	if g := <-got; g != "A,," {
		t.Fatalf("waiting viewer got %q", g)
	}
	if _, sigs := installed(r); sigs != 1 {
		t.Fatalf("%d signal channels after one blocking View, want 1", sigs)
	}
	// The channel stays for the slot's later commands.
	for range 2 * r.Size() {
		s := mustSend(t, r, "b", false)
		collect(t, r)
		complete(t, r, "B")
		wantReply(t, r, s, "B")
	}
	if _, sigs := installed(r); sigs != 1 {
		t.Fatalf("%d signal channels after non-blocking Views, want 1", sigs)
	}
}

// TestSignalInstallRace: a View that creates its slot's channel while the loop
// completes the command must never miss the wake-up. Each round uses a fresh ring so
// the channel is created in the race every time.
func TestSignalInstallRace(t *testing.T) {
	checkGoroutines(t)
	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	waited := 0
	for i := range rounds {
		r := New(1)
		seq := mustSend(t, r, "a", false)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			got, slotErr, err := view(ctx, r, seq)
			if err == nil && (slotErr != nil || got != "A") {
				err = ErrFailed
			}
			done <- err
		}()
		if i%2 == 0 {
			runtime.Gosched()
		}
		collect(t, r)
		complete(t, r, "A")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: View: %v", i, err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("round %d: View missed its wake-up", i)
		}
		if _, sigs := installed(r); sigs != 0 {
			waited++
		}
	}
	t.Logf("%d of %d Views waited (made the channel)", waited, rounds)
}

// TestFullRingThenReuse: a default ring that had Size() commands in flight at once (all
// its pages installed) keeps working: replies go to their callers, expired slots
// report ErrExpired, and steady use allocates no further pages.
func TestFullRingThenReuse(t *testing.T) {
	checkGoroutines(t)
	r := New(0)
	size := r.Size()
	seqs := make([]uint64, size)
	for i := range seqs {
		seqs[i] = mustSend(t, r, "c"+strconv.Itoa(i), false)
	}
	if n := r.InFlight(); n != size {
		t.Fatalf("InFlight = %d, want %d", n, size)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := r.Reserve(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Reserve on a full ring: %v", err)
	}
	if p, _ := installed(r); p != size/pageSize {
		t.Fatalf("full ring: %d pages, want %d", p, size/pageSize)
	}
	if n := r.Unwritten(); n != size {
		t.Fatalf("Unwritten = %d", n)
	}
	got := collect(t, r)
	if len(got) != size {
		t.Fatalf("collected %d, want %d", len(got), size)
	}
	for i := range got {
		complete(t, r, "r"+strconv.Itoa(i))
	}
	for i, seq := range seqs {
		wantReply(t, r, seq, "r"+strconv.Itoa(i))
	}
	// Two more laps through every slot, with a loop goroutine and waiting viewers.
	l := startLoop(r, false)
	for i := range 2 * size {
		seq, err := send(testCtx(t), r, l.wake, "n"+strconv.Itoa(i), false)
		if err != nil {
			t.Fatal(err)
		}
		wantReply(t, r, seq, "n"+strconv.Itoa(i))
		if err := r.View(nilCtx, seq-uint64(size), nil); err != ErrExpired {
			t.Fatalf("View of a reused slot: %v", err)
		}
	}
	l.stop(t)
	if p, _ := installed(r); p != size/pageSize {
		t.Fatalf("after reuse: %d pages, want %d", p, size/pageSize)
	}
	r.Close(nil)
	if _, _, err := r.Reserve(nilCtx); err != ErrClosed {
		t.Fatalf("Reserve after Close: %v", err)
	}
}
