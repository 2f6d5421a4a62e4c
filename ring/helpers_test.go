package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
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
