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

// testTimeout bounds every wait in these tests: a hang fails the test instead of
// blocking the whole run.
const testTimeout = 20 * time.Second

// nilCtx is the nil context the API accepts as "no bound on the wait".
var nilCtx context.Context

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// fakeLoop plays the connection's event loop: woken by publishers, it collects the
// commands (newline-terminated payloads), records them and answers each with a bulk
// string equal to its payload, aliasing its own reused buffer.
type fakeLoop struct {
	r       *Ring
	wake    chan struct{}
	quit    chan struct{}
	stopped chan struct{}
	buf     []byte
	order   []string // payloads in the order they were collected (if record)
	record  bool
	err     error
	// lossEvery simulates a lost connection every so many batches (0: never).
	lossEvery int
	lost      int
}

func startLoop(r *Ring, record bool) *fakeLoop {
	l := &fakeLoop{r: r, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		stopped: make(chan struct{}), record: record}
	go l.run()
	return l
}

func (l *fakeLoop) run() {
	defer close(l.stopped)
	for batch := 1; ; batch++ {
		select {
		case <-l.wake:
		case <-l.quit:
			return
		}
		var n int
		l.buf, n = l.r.Collect(l.buf[:0])
		lines := bytes.Split(l.buf, []byte{'\n'})
		if len(lines)-1 != n {
			l.err = fmt.Errorf("collected %d commands, framing shows %d", n, len(lines)-1)
			return
		}
		if l.lossEvery > 0 && batch%l.lossEvery == 0 && n > 0 {
			// Answer half of them, then lose the connection.
			for _, c := range lines[:n/2] {
				if err := l.r.Complete(parser.NewBulk(c)); err != nil {
					l.err = err
					return
				}
			}
			l.lost += l.r.FailWritten(errLost)
			notify(l.wake) // "reconnect": collect what is left
			continue
		}
		for _, c := range lines[:n] {
			if l.record {
				l.order = append(l.order, string(c))
			}
			if err := l.r.Complete(parser.NewBulk(c)); err != nil {
				l.err = err
				return
			}
		}
		if p := l.r.Pending(); p != 0 {
			l.err = fmt.Errorf("Pending() = %d after answering everything", p)
			return
		}
	}
}

func (l *fakeLoop) stop(t testing.TB) {
	t.Helper()
	close(l.quit)
	select {
	case <-l.stopped:
	case <-time.After(testTimeout):
		t.Fatal("fake loop did not stop")
	}
	if l.err != nil {
		t.Fatal("fake loop:", l.err)
	}
}

var errLost = errors.New("test: connection lost")

// send reserves, encodes payload and publishes, waking the loop when asked to.
func send(ctx context.Context, r *Ring, wake chan struct{}, payload string, forget bool) (uint64, error) {
	seq, cmd, err := r.Reserve(ctx)
	if err != nil {
		return 0, err
	}
	*cmd = append(*cmd, payload...)
	*cmd = append(*cmd, '\n')
	if r.Publish(seq, forget) && wake != nil {
		notify(wake)
	}
	return seq, nil
}

// mustSend is send for single-goroutine tests.
func mustSend(t testing.TB, r *Ring, payload string, forget bool) uint64 {
	t.Helper()
	seq, err := send(testCtx(t), r, nil, payload, forget)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// view returns the text of seq's reply or its error.
func view(ctx context.Context, r *Ring, seq uint64) (string, error, error) {
	var got string
	var slotErr error
	err := r.View(ctx, seq, func(v parser.Value, err error) {
		got, slotErr = string(v.Bytes()), err
	})
	return got, slotErr, err
}

func wantReply(t testing.TB, r *Ring, seq uint64, want string) {
	t.Helper()
	got, slotErr, err := view(testCtx(t), r, seq)
	if err != nil || slotErr != nil || got != want {
		t.Fatalf("View(%d) = %q, slot err %v, err %v; want %q", seq, got, slotErr, err, want)
	}
}

func wantSlotErr(t testing.TB, r *Ring, seq uint64, want error) {
	t.Helper()
	got, slotErr, err := view(testCtx(t), r, seq)
	if err != nil || !errors.Is(slotErr, want) {
		t.Fatalf("View(%d) = %q, slot err %v, err %v; want slot err %v", seq, got, slotErr, err, want)
	}
}

// collect runs Collect and returns the payloads it appended.
func collect(t testing.TB, r *Ring) []string {
	t.Helper()
	buf, n := r.Collect(nil)
	var out []string
	for _, c := range bytes.Split(buf, []byte{'\n'}) {
		if len(c) > 0 {
			out = append(out, string(c))
		}
	}
	if len(out) != n {
		t.Fatalf("Collect returned n=%d for %q", n, buf)
	}
	return out
}

func complete(t testing.TB, r *Ring, replies ...string) {
	t.Helper()
	for _, s := range replies {
		if err := r.Complete(parser.NewBulkString(s)); err != nil {
			t.Fatalf("Complete(%q): %v", s, err)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkGoroutines fails if goroutines started by the test are still running.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("goroutine leak: %d before, %d after\n%s", before,
					runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond)
		}
	})
}

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

func TestCancelBeforeWrite(t *testing.T) {
	r := New(8)
	s0 := mustSend(t, r, "c0", false)
	s1 := mustSend(t, r, "c1", false)
	s2 := mustSend(t, r, "c2", false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := r.View(ctx, s1, func(parser.Value, error) { called = true }); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("View with a cancelled ctx: %v (fn called %v)", err, called)
	}
	if c := collect(t, r); !equalStrings(c, []string{"c0", "c2"}) {
		t.Fatalf("collected %q, want c0 c2 (c1 was cancelled)", c)
	}
	if r.Pending() != 2 {
		t.Fatalf("Pending = %d", r.Pending())
	}
	complete(t, r, "r0", "r2")
	if err := r.Complete(parser.NewBulkString("extra")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("extra reply: %v", err)
	}
	wantReply(t, r, s0, "r0")
	wantReply(t, r, s2, "r2")
	wantSlotErr(t, r, s1, context.Canceled)
}

// TestCancelHeadFreesSpace: a cancelled command at the head frees its slot on the next
// Collect, with no reply.
func TestCancelHeadFreesSpace(t *testing.T) {
	r := New(1)
	s0 := mustSend(t, r, "c0", false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.View(ctx, s0, nil); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if c := collect(t, r); len(c) != 0 {
		t.Fatalf("collected %q", c)
	}
	s1 := mustSend(t, r, "c1", false) // would block if the slot were not freed
	collect(t, r)
	complete(t, r, "r1")
	wantReply(t, r, s1, "r1")
}

func TestCancelAfterWrite(t *testing.T) {
	r := New(8)
	s0 := mustSend(t, r, "c0", false)
	s1 := mustSend(t, r, "c1", false)
	collect(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := r.View(ctx, s0, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("View: %v", err)
	}
	complete(t, r, "r0", "r1")
	wantReply(t, r, s1, "r1")
	wantReply(t, r, s0, "r0") // the reply was read in order and kept for a later View
}

func TestFail(t *testing.T) {
	r := New(8)
	errEnc := errors.New("test: cannot encode")
	s0 := mustSend(t, r, "c0", false)
	s1, _, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	s2 := mustSend(t, r, "c2", false)
	// The writer stops at s1, still being encoded.
	if c := collect(t, r); !equalStrings(c, []string{"c0"}) {
		t.Fatalf("collected %q", c)
	}
	if !r.Fail(s1, errEnc) {
		t.Fatal("Fail after Collect stopped at the slot: wake = false")
	}
	if r.Unwritten() != 1 {
		t.Fatalf("Unwritten = %d", r.Unwritten())
	}
	if c := collect(t, r); !equalStrings(c, []string{"c2"}) {
		t.Fatalf("collected %q", c)
	}
	complete(t, r, "r0", "r2")
	wantReply(t, r, s0, "r0")
	wantSlotErr(t, r, s1, errEnc)
	wantReply(t, r, s2, "r2")
	if r.ForgottenErrors() != 0 {
		t.Fatal("Fail counted as a forgotten error")
	}
}

func TestFailWritten(t *testing.T) {
	r := New(8)
	s0 := mustSend(t, r, "c0", false)
	s1 := mustSend(t, r, "c1", false)
	collect(t, r)
	s2 := mustSend(t, r, "c2", false)
	s3 := mustSend(t, r, "c3", false)
	complete(t, r, "r0")
	if n := r.FailWritten(errLost); n != 1 {
		t.Fatalf("FailWritten = %d, want 1", n)
	}
	if r.Pending() != 0 || r.Unwritten() != 2 {
		t.Fatalf("Pending %d, Unwritten %d", r.Pending(), r.Unwritten())
	}
	if err := r.Complete(parser.NewBulkString("late")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("reply after FailWritten: %v", err)
	}
	wantReply(t, r, s0, "r0")
	wantSlotErr(t, r, s1, errLost)
	// "Next connection": the unwritten ones are collected, the failed one never again.
	if c := collect(t, r); !equalStrings(c, []string{"c2", "c3"}) {
		t.Fatalf("collected %q", c)
	}
	complete(t, r, "r2", "r3")
	wantReply(t, r, s2, "r2")
	wantReply(t, r, s3, "r3")
	if n := r.FailWritten(nil); n != 0 {
		t.Fatalf("FailWritten with nothing written = %d", n)
	}
}

func TestUnsolicited(t *testing.T) {
	r := New(4)
	if err := r.Complete(parser.NewSimpleString("OK")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("Complete on an empty ring: %v", err)
	}
	mustSend(t, r, "c0", false) // published, not written
	if err := r.Complete(parser.NewSimpleString("OK")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("Complete with nothing written: %v", err)
	}
}

func TestClose(t *testing.T) {
	checkGoroutines(t)
	r := New(4)
	errBye := errors.New("test: bye")
	s0 := mustSend(t, r, "c0", false)
	collect(t, r)                     // s0 written
	s1 := mustSend(t, r, "c1", true)  // s1 ready, forgotten
	s2, cmd, _ := r.Reserve(nilCtx)   // s2 being encoded
	s3 := mustSend(t, r, "c3", false) // s3 ready; ring full

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // a Reserve waiting for space
		defer wg.Done()
		_, _, err := r.Reserve(nilCtx)
		errs <- err
	}()
	go func() { // a View waiting for a written command
		defer wg.Done()
		_, slotErr, err := view(nilCtx, r, s0)
		errs <- errors.Join(err, slotErr)
	}()
	go func() { // a View waiting for an unwritten one
		defer wg.Done()
		_, slotErr, err := view(nilCtx, r, s3)
		errs <- errors.Join(err, slotErr)
	}()
	r.Close(errBye)
	r.Close(errors.New("test: second close")) // the first error wins
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, errBye) {
			t.Fatalf("waiter got %v, want %v", err, errBye)
		}
	}
	if !errors.Is(r.Err(), errBye) {
		t.Fatalf("Err() = %v", r.Err())
	}
	if _, _, err := r.Reserve(nilCtx); !errors.Is(err, errBye) {
		t.Fatalf("Reserve after Close: %v", err)
	}
	*cmd = append(*cmd, "c2\n"...)
	if r.Publish(s2, true) {
		t.Fatal("Publish after Close asked for a wake-up")
	}
	wantSlotErr(t, r, s1, errBye)
	wantSlotErr(t, r, s2, errBye)
	if got := r.ForgottenErrors(); got != 2 {
		t.Fatalf("ForgottenErrors = %d, want 2 (s1 closed, s2 published after Close)", got)
	}
	if c := collect(t, r); len(c) != 0 {
		t.Fatalf("collected %q after Close", c)
	}
	// The reply to the written s0 still arrives: read and dropped, the error stays.
	complete(t, r, "r0")
	wantSlotErr(t, r, s0, errBye)
	if err := r.Complete(parser.NewBulkString("x")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("second reply after Close: %v", err)
	}
}

func TestCloseNil(t *testing.T) {
	r := New(2)
	r.Close(nil)
	if _, _, err := r.Reserve(nilCtx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reserve after Close(nil): %v", err)
	}
}

func TestForgottenErrors(t *testing.T) {
	r := New(8)
	for i := range 4 {
		mustSend(t, r, "f"+strconv.Itoa(i), true)
	}
	collect(t, r)
	if err := r.Complete(parser.NewSimpleError("ERR one")); err != nil {
		t.Fatal(err)
	}
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if got := r.ForgottenErrors(); got != 1 {
		t.Fatalf("after an error reply: %d", got)
	}
	r.FailWritten(errLost) // two forgotten commands lost
	if got := r.ForgottenErrors(); got != 3 {
		t.Fatalf("after FailWritten: %d", got)
	}
	mustSend(t, r, "f4", true)
	mustSend(t, r, "f5", false)
	collect(t, r)
	if err := r.Complete(parser.NewBulkError("ERR two")); err != nil {
		t.Fatal(err)
	}
	if err := r.Complete(parser.NewSimpleError("ERR not forgotten")); err != nil {
		t.Fatal(err)
	}
	if got := r.ForgottenErrors(); got != 4 {
		t.Fatalf("after a bulk error: %d", got)
	}
	mustSend(t, r, "f6", true)
	r.Close(nil)
	if got := r.ForgottenErrors(); got != 5 {
		t.Fatalf("after Close: %d", got)
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
