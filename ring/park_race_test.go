package ring

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

// TestParkLockViewers: viewers of an old command that arrive while Reserve parks its
// unread result must not take the wake-up meant for the viewers of the new command.
// (They once could: they waited on the park lock, one of them swallowed the new
// command's completion token, and its viewers, then the next Reserve, waited forever.)
func TestParkLockViewers(t *testing.T) {
	checkGoroutines(t)
	big := parser.NewBulkString(strings.Repeat("x", 4<<20)) // a slow Clone: a long park
	r := New(1)
	s := r.slot(mustSend(t, r, "w", false)) // the only slot
	collect(t, r)
	complete(t, r, "W")
	for round := range 5 {
		x := mustSend(t, r, "x", false)
		collect(t, r)
		if err := r.Complete(big); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []string
		fail := func(e string) { mu.Lock(); errs = append(errs, e); mu.Unlock() }
		got := make(chan bool, 2)
		for range 2 { // late viewers of x that arrive while Reserve parks it
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					st := s.state.Load()
					if stSeq(st) != x&seqMask || stPhase(st) != phaseDone {
						break
					}
					runtime.Gosched()
				}
				err := r.View(ctx, x, func(v parser.Value, err error) {
					if v.Len() != big.Len() {
						fail("View(x): wrong value")
					}
				})
				if err != nil && err != ErrExpired {
					fail("View(x): " + err.Error())
				}
				got <- err == nil
			}()
		}
		y, err := send(ctx, r, nil, "y", false)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, slotErr, err := view(ctx, r, y); err != nil || slotErr != nil || got != "Y" {
				fail("View(y): " + got + " " + errString(slotErr) + " " + errString(err))
			}
		}()
		// Let the viewer of y block (along with any viewer of x still waiting) first.
		for s.waiters.Load() == 0 && ctx.Err() == nil {
			runtime.Gosched()
		}
		time.Sleep(time.Millisecond)
		collect(t, r)
		complete(t, r, "Y")
		wg.Wait()
		cancel()
		if a, b := <-got, <-got; a == b {
			fail("the parked result went to both or neither of its late viewers")
		}
		for _, e := range errs {
			t.Errorf("round %d: %s", round, e)
		}
		if t.Failed() {
			return
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
