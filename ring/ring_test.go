package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

func TestNewSize(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{-1, 1024}, {0, 1024}, {1, 1}, {2, 2}, {3, 4}, {1000, 1024}, {1025, 2048},
	} {
		if got := New(c.in).Size(); got != c.want {
			t.Errorf("New(%d).Size() = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestOrder: concurrent senders, one loop; commands are collected in sequence order and
// every View gets its own reply (or ErrExpired once its slot was reused).
func TestOrder(t *testing.T) {
	for _, size := range []int{1, 2, 8, 1024} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			checkGoroutines(t)
			const senders, perSender, batch = 8, 200, 4
			r := New(size)
			l := startLoop(r, true)
			ctx := testCtx(t)
			payloadOf := make([]string, senders*perSender) // by seq
			var hits, expired atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, senders)
			for g := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var seqs [batch]uint64
					for i := 0; i < perSender; i += batch {
						for j := range batch {
							p := fmt.Sprintf("%d:%d", g, i+j)
							seq, err := send(ctx, r, l.wake, p, false)
							if err != nil {
								errc <- err
								return
							}
							payloadOf[seq] = p
							seqs[j] = seq
						}
						for j, seq := range seqs {
							got, slotErr, err := view(ctx, r, seq)
							want := fmt.Sprintf("%d:%d", g, i+j)
							switch {
							case errors.Is(err, ErrExpired):
								expired.Add(1)
							case err != nil || slotErr != nil:
								errc <- fmt.Errorf("View(%d): %v / %v", seq, err, slotErr)
								return
							case got != want:
								errc <- fmt.Errorf("View(%d) = %q, want %q", seq, got, want)
								return
							default:
								hits.Add(1)
							}
						}
					}
				}()
			}
			wg.Wait()
			l.stop(t)
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			if !equalStrings(l.order, payloadOf) {
				t.Fatalf("collected order differs from sequence order")
			}
			if hits.Load() == 0 {
				t.Fatalf("no View got its reply (%d expired)", expired.Load())
			}
			t.Logf("%d views got their reply, %d expired", hits.Load(), expired.Load())
		})
	}
}

func TestFullRing(t *testing.T) {
	checkGoroutines(t)
	r := New(4)
	for i := range 4 {
		mustSend(t, r, "c"+strconv.Itoa(i), false)
	}
	// Full: a Reserve that gives up holds no sequence number.
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, _, err := r.Reserve(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Reserve on a full ring: %v, want DeadlineExceeded", err)
		}
	}
	type res struct {
		seq uint64
		err error
	}
	got := make(chan res, 1)
	go func() {
		seq, cmd, err := r.Reserve(testCtx(t))
		if err == nil {
			*cmd = append(*cmd, "c4\n"...)
			r.Publish(seq, false)
		}
		got <- res{seq, err}
	}()
	// Collecting frees nothing: the commands are in flight until answered.
	if c := collect(t, r); !equalStrings(c, []string{"c0", "c1", "c2", "c3"}) {
		t.Fatalf("collected %q", c)
	}
	select {
	case x := <-got:
		t.Fatalf("Reserve returned %v before any reply", x)
	default:
	}
	complete(t, r, "r0")
	x := <-got
	if x.err != nil || x.seq != 4 {
		t.Fatalf("Reserve after a reply: seq %d, err %v; want 4", x.seq, x.err)
	}
	complete(t, r, "r1", "r2", "r3")
	if c := collect(t, r); !equalStrings(c, []string{"c4"}) {
		t.Fatalf("collected %q", c)
	}
	complete(t, r, "r4")
	wantReply(t, r, 4, "r4")
	wantReply(t, r, 3, "r3")
	// r0 was never viewed before its slot was reused: it was parked, and the first
	// View still gets it; a second View finds nothing.
	wantReply(t, r, 0, "r0")
	if _, _, err := view(nilCtx, r, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("second View(0) after reuse: %v, want ErrExpired", err)
	}
}

// TestParkUnread: results nobody had read when their slots were reused are parked and
// reach their own late viewers, within the parking bound.
func TestParkUnread(t *testing.T) {
	r := New(2)
	var seqs []uint64
	for i := range 20 {
		seqs = append(seqs, mustSend(t, r, "c"+strconv.Itoa(i), false))
		collect(t, r)
		complete(t, r, "r"+strconv.Itoa(i))
	}
	if r.Parked() != 18 {
		t.Fatalf("%d parked, want 18", r.Parked())
	}
	for i := len(seqs) - 1; i >= 0; i-- { // any order
		wantReply(t, r, seqs[i], "r"+strconv.Itoa(i))
	}
	if r.Parked() != 0 {
		t.Fatalf("%d parked after reading all", r.Parked())
	}
	// Forgotten and failed commands are never parked.
	for range 4 {
		mustSend(t, r, "f", true)
		collect(t, r)
		complete(t, r, "x")
		seq, cmd, _ := r.Reserve(nilCtx)
		*cmd = append(*cmd, "bad"...)
		r.Fail(seq, errLost)
	}
	if r.Parked() != 0 {
		t.Fatalf("%d parked forgotten/failed results", r.Parked())
	}
	// The bound: a result is dropped once parkCap later sequence numbers were parked,
	// and its View gives ErrExpired.
	r = New(1)
	r.parkCap = 4
	seqs = seqs[:0]
	for i := range 6 {
		seqs = append(seqs, mustSend(t, r, "c", false))
		collect(t, r)
		complete(t, r, "r"+strconv.Itoa(i))
	}
	if _, _, err := view(nilCtx, r, seqs[0]); !errors.Is(err, ErrExpired) {
		t.Fatalf("evicted result: %v, want ErrExpired", err)
	}
	for i := 2; i < 6; i++ {
		wantReply(t, r, seqs[i], "r"+strconv.Itoa(i))
	}
}

func TestStale(t *testing.T) {
	r := New(4)
	old := mustSend(t, r, "a", false)
	collect(t, r)
	complete(t, r, "A")
	wantReply(t, r, old, "A")
	wantReply(t, r, old, "A") // again: a done slot can be viewed repeatedly
	if !r.Done(old) {
		t.Fatal("Done(old) = false")
	}
	var seqs []uint64
	for i := range 4 {
		seqs = append(seqs, mustSend(t, r, "b"+strconv.Itoa(i), false))
	}
	called := false
	if err := r.View(nilCtx, old, func(parser.Value, error) { called = true }); !errors.Is(err, ErrExpired) || called {
		t.Fatalf("View(old) = %v, fn called %v; want ErrExpired, not called", err, called)
	}
	if r.Done(old) {
		t.Fatal("Done(old) = true after reuse")
	}
	collect(t, r)
	complete(t, r, "B0", "B1", "B2", "B3")
	if err := r.View(nilCtx, old, func(parser.Value, error) { called = true }); !errors.Is(err, ErrExpired) || called {
		t.Fatalf("View(old) after the new command is done = %v; want ErrExpired", err)
	}
	for i, seq := range seqs {
		wantReply(t, r, seq, "B"+strconv.Itoa(i))
	}
}

// TestReadClaim: a slot is not reused while a View holds it.
func TestReadClaim(t *testing.T) {
	checkGoroutines(t)
	r := New(1)
	seq := mustSend(t, r, "a", false)
	collect(t, r)
	complete(t, r, "A")
	reserved := make(chan uint64, 1)
	err := r.View(nilCtx, seq, func(v parser.Value, err error) {
		go func() {
			next, _, _ := r.Reserve(testCtx(t))
			reserved <- next
		}()
		select {
		case <-reserved:
			t.Error("slot reused during View")
		case <-time.After(20 * time.Millisecond):
		}
		if string(v.Bytes()) != "A" || err != nil {
			t.Errorf("View got %v, %v", v, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if next := <-reserved; next != seq+1 {
		t.Fatalf("Reserve after the View: %d", next)
	}
	if _, _, err := view(nilCtx, r, seq); !errors.Is(err, ErrExpired) {
		t.Fatalf("View after reuse: %v", err)
	}
}

func TestManyViewers(t *testing.T) {
	checkGoroutines(t)
	r := New(8)
	seq := mustSend(t, r, "a", false)
	const viewers = 16
	var wg sync.WaitGroup
	var waiting sync.WaitGroup
	results := make(chan string, viewers)
	waiting.Add(viewers)
	for range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waiting.Done()
			got, slotErr, err := view(testCtx(t), r, seq)
			if err != nil || slotErr != nil {
				got = fmt.Sprint(err, slotErr)
			}
			results <- got
		}()
	}
	waiting.Wait()
	collect(t, r)
	complete(t, r, "A")
	wg.Wait()
	close(results)
	for got := range results {
		if got != "A" {
			t.Fatalf("viewer got %q", got)
		}
	}
}

func TestWakeFlag(t *testing.T) {
	r := New(8)
	s0, c0, _ := r.Reserve(nilCtx)
	s1, c1, _ := r.Reserve(nilCtx)
	*c0, *c1 = append(*c0, "a\n"...), append(*c1, "b\n"...)
	if !r.Publish(s0, false) {
		t.Fatal("first Publish: wake = false")
	}
	if r.Publish(s1, false) {
		t.Fatal("second Publish before Collect: wake = true")
	}
	collect(t, r)
	if !mustWake(t, r) {
		t.Fatal("Publish after Collect: wake = false")
	}
}

func mustWake(t *testing.T, r *Ring) bool {
	seq, cmd, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*cmd = append(*cmd, "x\n"...)
	return r.Publish(seq, false)
}

func TestValueIsCopied(t *testing.T) {
	r := New(2)
	seq := mustSend(t, r, "a", false)
	collect(t, r)
	buf := []byte("hello")
	v := parser.NewArray(parser.NewBulk(buf), parser.NewInteger(7))
	if err := r.Complete(v); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX") // the loop reuses its read buffer
	err := r.View(nilCtx, seq, func(got parser.Value, err error) {
		if !parser.Equal(got, parser.NewArray(parser.NewBulkString("hello"), parser.NewInteger(7))) {
			t.Errorf("stored value %v aliases the loop's buffer", got)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBigCommandDropped(t *testing.T) {
	r := New(1)
	seq, cmd, _ := r.Reserve(nilCtx)
	*cmd = append(*cmd, bytes.Repeat([]byte{'x'}, cmdKeep+1)...)
	*cmd = append(*cmd, '\n')
	r.Publish(seq, true)
	buf, n := r.Collect(nil)
	if n != 1 || len(buf) != cmdKeep+2 {
		t.Fatalf("Collect: n=%d len=%d", n, len(buf))
	}
	complete(t, r, "OK")
	_, cmd, _ = r.Reserve(nilCtx)
	if cap(*cmd) > cmdKeep {
		t.Fatalf("oversized buffer kept: cap %d", cap(*cmd))
	}
}

func TestMisusePanics(t *testing.T) {
	r := New(2)
	seq := mustSend(t, r, "a", false)
	for name, f := range map[string]func(){
		"Publish twice":      func() { r.Publish(seq, false) },
		"Fail published":     func() { r.Fail(seq, nil) },
		"Publish unreserved": func() { r.Publish(seq+1, false) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestWaitersHoldReuse: viewers already waiting when a command completes all get its
// reply, even on a ring of one slot with a Reserve waiting to reuse it.
func TestWaitersHoldReuse(t *testing.T) {
	checkGoroutines(t)
	r := New(1)
	seq := mustSend(t, r, "a", false)
	const viewers = 4
	results := make(chan string, viewers)
	for range viewers {
		go func() {
			got, slotErr, err := view(testCtx(t), r, seq)
			results <- fmt.Sprint(got, slotErr, err)
		}()
	}
	ctx := testCtx(t)
	for r.slot(0).waiters.Load() != viewers {
		if ctx.Err() != nil {
			t.Fatal("viewers did not start waiting")
		}
		runtime.Gosched()
	}
	next := make(chan uint64, 1)
	go func() {
		s, _, _ := r.Reserve(ctx)
		next <- s
	}()
	collect(t, r)
	complete(t, r, "A")
	for range viewers {
		if got := <-results; got != "A<nil> <nil>" {
			t.Fatalf("waiting viewer got %q, want the reply", got)
		}
	}
	if s := <-next; s != seq+1 {
		t.Fatalf("Reserve = %d", s)
	}
}

func TestViewNotReserved(t *testing.T) {
	r := New(4)
	if err := r.View(nilCtx, 2, nil); !errors.Is(err, ErrNotReserved) {
		t.Fatalf("View of an unreserved seq: %v", err)
	}
	if r.Done(2) {
		t.Fatal("Done of an unreserved seq")
	}
}

// An Unread command's result is not parked when its slot is reused; another's is.
func TestUnreadNotParked(t *testing.T) {
	r := New(4)
	for _, unread := range []bool{true, false} {
		seq, buf, err := r.Reserve(nilCtx)
		if err != nil {
			t.Fatal(err)
		}
		*buf = append(*buf, "PING;"...)
		if unread {
			r.Unread(seq)
		}
		r.Publish(seq, false)
		r.Collect(nil)
		if err := r.Complete(parser.NewSimpleString("PONG")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ { // reuse its slot
			mustSend(t, r, "x;", true)
			r.Collect(nil)
			if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
				t.Fatal(err)
			}
		}
		want := 0
		if !unread {
			want = 1
		}
		if got := r.Parked(); got != want {
			t.Fatalf("unread=%v: %d parked, want %d", unread, got, want)
		}
	}
}

// A pinned command is not cancelled by its viewer's ctx: it is written, and answered.
func TestPinNotCancelled(t *testing.T) {
	r := New(4)
	for _, pin := range []bool{false, true} {
		seq, buf, err := r.Reserve(nilCtx)
		if err != nil {
			t.Fatal(err)
		}
		*buf = append(*buf, "CLIENT REPLY ON;"...)
		if pin {
			r.Pin(seq)
		}
		r.Publish(seq, false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.View(ctx, seq, func(parser.Value, error) {}); !errors.Is(err, context.Canceled) {
			t.Fatalf("pin=%v: View with a done ctx: %v", pin, err)
		}
		out, _ := r.Collect(nil)
		if wrote := string(out) == "CLIENT REPLY ON;"; wrote != pin {
			t.Fatalf("pin=%v: Collect wrote %q", pin, out)
		}
		if pin {
			if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
				t.Fatal(err)
			}
		}
	}
}
