package ring

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/respring/respring/parser"
)

// Senders publish while the loop collects and answers, and Close comes in the
// middle, many times over: a command ViewCmd calls Unsent was never collected, and
// every command collected is never called Unsent (it may have run).
func TestPublishCloseRace(t *testing.T) {
	ctx := testCtx(t)
	for round := range 200 {
		r := New(16)
		var mu sync.Mutex
		written := map[uint64]bool{}
		stop := make(chan struct{})
		loopDone := make(chan struct{})
		go func() { // the loop: collect, note what it wrote, answer it
			defer close(loopDone)
			var buf []byte
			for {
				var n int
				buf, n = r.Collect(buf[:0])
				mu.Lock()
				for _, c := range strings.Split(string(buf), ";") {
					if seq, err := strconv.ParseUint(c, 10, 64); err == nil {
						written[seq] = true
					}
				}
				mu.Unlock()
				for range n {
					if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
						t.Error(err)
						return
					}
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		type outcome struct {
			seq    uint64
			unsent bool
			err    error
		}
		var omu sync.Mutex
		var outcomes []outcome
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					seq, cmd, err := r.Reserve(ctx)
					if err != nil {
						return // closed
					}
					*cmd = strconv.AppendUint(*cmd, seq, 10)
					*cmd = append(*cmd, ';')
					r.Keep(seq)
					if g == 0 && i == 20 {
						r.Close(nil) // while the others publish
					}
					r.Publish(seq, false)
					o := outcome{seq: seq}
					err = r.ViewCmd(ctx, seq, -1, func(_ []byte, _ parser.Value, e error, _ *Memo) {
						var un *Unsent
						o.unsent, o.err = errors.As(e, &un), e
					})
					if err != nil && !errors.Is(err, ErrExpired) {
						t.Errorf("ViewCmd(%d): %v", seq, err)
					}
					omu.Lock()
					outcomes = append(outcomes, o)
					omu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(stop)
		<-loopDone
		unsent := 0
		for _, o := range outcomes {
			switch {
			case o.unsent && written[o.seq]:
				t.Fatalf("round %d: seq %d was collected, and ViewCmd calls it unsent", round, o.seq)
			case !o.unsent && !written[o.seq] && o.err != nil:
				t.Fatalf("round %d: seq %d was never collected, and failed with %v, not Unsent", round, o.seq, o.err)
			case o.unsent:
				unsent++
			}
		}
		if round == 199 && testing.Verbose() {
			t.Logf("last round: %d commands, %d unsent", len(outcomes), unsent)
		}
	}
}
