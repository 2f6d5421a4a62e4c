package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

// TestStress: senders (some forgetting, some failing), viewers with random timeouts,
// extra viewers, a loop that loses its connection now and then, and a Close in the
// middle. No View may ever see another command's reply, and nothing may hang or leak.
func TestStress(t *testing.T) {
	for _, size := range []int{1, 4, 64} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			checkGoroutines(t)
			stress(t, size)
		})
	}
}

func stress(t *testing.T, size int) {
	const senders, perSender = 8, 1500
	r := New(size)
	l := &fakeLoop{r: r, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		stopped: make(chan struct{}), lossEvery: 37}
	go l.run()
	ctx := testCtx(t)
	// payloads[seq] is set before seq is published (forgotten commands excepted), for
	// the stale viewer.
	payloads := make([]atomic.Pointer[string], senders*perSender)
	var sent, ok, cancelled, expired, failed atomic.Int64
	errc := make(chan error, 4*senders)
	var wg sync.WaitGroup
	check := func(seq uint64, want string, vctx context.Context) {
		got, slotErr, err := view(vctx, r, seq)
		switch {
		case errors.Is(err, ErrExpired):
			expired.Add(1)
		case err != nil:
			if vctx.Err() == nil {
				errc <- fmt.Errorf("View(%d): %v", seq, err)
			}
			cancelled.Add(1)
		case slotErr != nil:
			if !errors.Is(slotErr, errLost) && !errors.Is(slotErr, ErrClosed) &&
				!errors.Is(slotErr, context.DeadlineExceeded) && !errors.Is(slotErr, errEncode) {
				errc <- fmt.Errorf("View(%d): slot error %v", seq, slotErr)
			}
			failed.Add(1)
		case got != want:
			errc <- fmt.Errorf("View(%d) = %q, want %q: reply to the wrong caller", seq, got, want)
		default:
			ok.Add(1)
		}
	}
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(size)))
			for i := range perSender {
				p := fmt.Sprintf("%d:%d", g, i)
				seq, cmd, err := r.Reserve(ctx)
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						errc <- fmt.Errorf("Reserve: %v", err)
					}
					return
				}
				if sent.Add(1) == senders*perSender/2 {
					// Close in the middle, while everything runs (this goroutine
					// still holds a reservation).
					wg.Add(1)
					go func() {
						defer wg.Done()
						r.Close(nil)
					}()
				}
				if rng.IntN(50) == 0 {
					if r.Fail(seq, errEncode) {
						notify(l.wake)
					}
					check(seq, p, ctx)
					continue
				}
				*cmd = append(append(*cmd, p...), '\n')
				forget := rng.IntN(8) == 0
				if !forget {
					payloads[seq].Store(&p)
				}
				if r.Publish(seq, forget) {
					notify(l.wake)
				}
				if forget {
					continue
				}
				if rng.IntN(4) == 0 { // a second viewer of the same command
					wg.Add(1)
					go func() {
						defer wg.Done()
						check(seq, p, ctx)
					}()
				}
				vctx, cancel := ctx, context.CancelFunc(func() {})
				if rng.IntN(3) == 0 {
					vctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(50))*time.Microsecond)
				}
				check(seq, p, vctx)
				cancel()
			}
		}()
	}
	// A stale viewer: views recent commands, racing their slots' reuse.
	stop := make(chan struct{})
	staleDone := make(chan struct{})
	go func() {
		defer close(staleDone)
		rng := rand.New(rand.NewPCG(7, uint64(size)))
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.Gosched() // leave the processor to the senders and the loop
			tail := r.tail.Load()
			back := uint64(rng.IntN(2*size + 1))
			if back >= tail {
				continue
			}
			seq := tail - 1 - back
			if p := payloads[seq].Load(); p != nil {
				vctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(100))*time.Microsecond)
				check(seq, *p, vctx)
				cancel()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-staleDone
	l.stop(t)
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if ok.Load() == 0 {
		t.Error("no View got its reply")
	}
	t.Logf("sent %d: %d replies, %d failed, %d cancelled, %d expired, %d lost by the loop, %d forgotten errors",
		sent.Load(), ok.Load(), failed.Load(), cancelled.Load(), expired.Load(), l.lost, r.ForgottenErrors())
}

var errEncode = errors.New("test: encode failed")

// TestCloseRacesLoop: Close from another goroutine while the loop collects and completes
// the same slots. Per slot exactly one of them completes it; every written command's
// reply is accepted exactly once; every View sees its reply or the close error.
func TestCloseRacesLoop(t *testing.T) {
	checkGoroutines(t)
	errBye := errors.New("test: bye")
	for round := range 300 {
		r := New(4)
		var seqs []uint64
		for i := range 4 {
			seqs = append(seqs, mustSend(t, r, strconv.Itoa(i), i == 3))
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			if round%2 == 0 {
				runtime.Gosched()
			}
			r.Close(errBye)
		}()
		// Each reply names the command it answers: Collect skips a command Close took
		// first, so the written ones are not always the first n.
		buf, n := r.Collect(nil)
		for i, c := range bytes.SplitN(buf, []byte{'\n'}, n+1)[:n] {
			if err := r.Complete(parser.NewBulkString("r" + string(c))); err != nil {
				t.Fatalf("round %d: reply %d of %d written: %v", round, i, n, err)
			}
		}
		if err := r.Complete(parser.NewBulkString("extra")); !errors.Is(err, ErrUnsolicited) {
			t.Fatalf("round %d: extra reply: %v", round, err)
		}
		<-closed
		// Seq i's payload is i: it has reply "ri" or the close error.
		for i, seq := range seqs[:3] {
			got, slotErr, err := view(testCtx(t), r, seq)
			if err != nil || (slotErr == nil) == (got == "") ||
				(slotErr == nil && got != "r"+strconv.Itoa(i)) || (slotErr != nil && !errors.Is(slotErr, errBye)) {
				t.Fatalf("round %d: View(%d) = %q, %v, %v", round, seq, got, slotErr, err)
			}
		}
		if _, _, err := r.Reserve(nilCtx); !errors.Is(err, errBye) {
			t.Fatalf("round %d: Reserve after Close: %v", round, err)
		}
	}
}
