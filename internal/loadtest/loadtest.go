// Package loadtest is a fault-test load for the driver's layers (driver/cluster,
// driver/sentinel): goroutines that INCR counters and SET then GET their own value,
// recording what was acknowledged, what may have run, and when errors happened.
package loadtest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/driver"
)

// Sender is what the load sends through: a cluster.Client, a driver.PairedConn.
type Sender interface {
	Send(args ...any) driver.Future
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// Load runs goroutines that each INCR their own counter and SET then GET their own
// value (which proves that no reply reached another command), until stop. It
// records per counter what was acknowledged and what may or may not have run, and
// when errors happened.
type Load struct {
	c     Sender
	g     int
	acked []atomic.Int64
	maybe []atomic.Int64
	ops   atomic.Int64
	errs  atomic.Int64

	mu       sync.Mutex
	lastErr  time.Time
	firstErr error
	lastE    error
	late     int // calls that returned well after their context's deadline
	mixed    int // a GET that returned another command's value
	stale    int // a GET that returned an older value of its own (a SET the server lost)
	stop     chan struct{}
	wg       sync.WaitGroup
}

const opTimeout = 2 * time.Second

// Start starts g goroutines of load on c.
func Start(t *testing.T, c Sender, g int) *Load {
	l := &Load{c: c, g: g, acked: make([]atomic.Int64, g*perG), maybe: make([]atomic.Int64, g*perG), stop: make(chan struct{})}
	for i := 0; i < g; i++ {
		l.wg.Add(1)
		go l.run(i)
	}
	return l
}

// perG is the number of counters each goroutine cycles through: 2048 keys for 32
// goroutines, so that a reshard of a few hundred slots moves dozens of them.
const perG = 64

// CounterKey is the key of counter i.
func CounterKey(i int) string { return "ctr:" + strconv.Itoa(i) }

func (l *Load) run(i int) {
	defer l.wg.Done()
	vkey := "val:" + strconv.Itoa(i)
	for n := 0; ; n++ {
		ci := i*perG + n%perG
		key := CounterKey(ci)
		select {
		case <-l.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		deadline, _ := ctx.Deadline()
		_, err := l.c.Send("INCR", key).Int(ctx)
		switch {
		case err == nil:
			l.acked[ci].Add(1)
		case errors.Is(err, driver.ErrConnLost) || errors.Is(err, context.DeadlineExceeded):
			l.maybe[ci].Add(1) // written, or maybe written: it may have run
		}
		l.note(err, deadline)
		prefix := "g" + strconv.Itoa(i) + ":"
		want := prefix + strconv.Itoa(n)
		if err := l.c.Send("SET", vkey, want).Err(ctx); err == nil {
			got, err := l.c.Send("GET", vkey).String(ctx)
			if err == nil && got != want {
				// An older value of this goroutine's own is a SET the server lost
				// (a kill -9 failover); anything else is a reply paired with the
				// wrong command.
				old, perr := strconv.Atoi(strings.TrimPrefix(got, prefix))
				l.mu.Lock()
				if strings.HasPrefix(got, prefix) && perr == nil && old < n {
					l.stale++
				} else {
					l.mixed++
				}
				l.mu.Unlock()
			}
			l.note(err, deadline)
		} else {
			l.note(err, deadline)
		}
		cancel()
		l.ops.Add(1)
	}
}

func (l *Load) note(err error, deadline time.Time) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(deadline.Add(time.Second)) {
		l.late++
	}
	if err != nil {
		l.errs.Add(1)
		l.lastErr, l.lastE = now, err
		if l.firstErr == nil {
			l.firstErr = err
		}
	}
}

// Reset returns the time of the last error, and the first error seen, and
// resets them.
// Reset returns the time of the last error and the errors seen, and forgets them.
func (l *Load) Reset() (last time.Time, first error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last, first = l.lastErr, l.firstErr
	if l.lastE != nil {
		l.lastE = errors.New(first.Error() + "; last: " + l.lastE.Error())
		first = l.lastE
	}
	l.lastErr, l.firstErr, l.lastE = time.Time{}, nil, nil
	return
}

// settle waits until the load ran quiet (no error) for a while after a fault at
// start, and returns the time to recovery: from the fault to the last error.
// Settle waits until the load ran quiet for a second after a fault, and returns
// the time from the fault to the last error.
func (l *Load) Settle(t *testing.T, fault time.Time, what string) time.Duration {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ops := l.ops.Load()
		time.Sleep(time.Second)
		l.mu.Lock()
		quiet := l.lastErr.IsZero() || time.Since(l.lastErr) > time.Second
		l.mu.Unlock()
		if quiet && l.ops.Load() > ops {
			break
		}
		if time.Now().After(deadline) {
			_, first := l.Reset()
			t.Fatalf("%s: errors go on 30 s after the fault (first: %v)", what, first)
		}
	}
	last, first := l.Reset()
	rec := time.Duration(0)
	if !last.IsZero() {
		rec = last.Sub(fault)
	}
	t.Logf("%s: recovered in %v (errors until then; first: %v)", what, rec.Round(time.Millisecond), first)
	return rec
}

// finish stops the load and checks every counter: acknowledged <= final <=
// acknowledged + maybe. lossy names counters whose writes the server may have lost
// (a kill -9 before replication): for them a final below acknowledged is reported,
// not failed.
// Finish stops the load and checks the counters (see Load).
func (l *Load) Finish(t *testing.T, lossy func(key string) bool) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	ctx := testCtx(t, 20*time.Second)
	lost := 0
	for i := 0; i < l.g*perG; i++ {
		final, err := l.c.Send("GET", CounterKey(i)).Int(ctx)
		if errors.Is(err, driver.ErrNil) {
			final, err = 0, nil
		}
		if err != nil {
			t.Fatalf("GET %s: %v", CounterKey(i), err)
		}
		a, m := l.acked[i].Load(), l.maybe[i].Load()
		if final < a && lossy != nil && lossy(CounterKey(i)) {
			lost += int(a - final)
			continue
		}
		if final < a || final > a+m {
			t.Errorf("%s = %d: acknowledged %d, maybe %d", CounterKey(i), final, a, m)
		}
	}
	if lost > 0 {
		t.Logf("acknowledged writes lost by the server in the kill -9 failover: %d", lost)
	}
	if l.stale > 0 {
		t.Logf("GETs that found an older value of their own (a SET lost by the server): %d", l.stale)
	}
	if l.mixed > 0 {
		t.Errorf("%d GETs returned another command's value", l.mixed)
	}
	if l.late > 0 {
		t.Errorf("%d calls returned more than 1 s after their context's deadline", l.late)
	}
	t.Logf("%d rounds, %d errors in all", l.ops.Load(), l.errs.Load())
}

// Lost returns, while the load runs, how many acknowledged increments the counters
// are missing now: each counter is read after its acknowledged count was taken, so
// a value below that count is a write the server lost.
func (l *Load) Lost(t *testing.T) int64 {
	t.Helper()
	c := testCtx(t, 20*time.Second)
	var lost int64
	for i := 0; i < l.g*perG; i++ {
		a := l.acked[i].Load()
		v, err := l.c.Send("GET", CounterKey(i)).Int(c)
		if errors.Is(err, driver.ErrNil) {
			v, err = 0, nil
		}
		if err != nil {
			t.Fatalf("GET %s: %v", CounterKey(i), err)
		}
		if v < a {
			lost += a - v
		}
	}
	return lost
}
