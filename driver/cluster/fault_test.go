package cluster

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

// load runs goroutines that each INCR their own counter and SET then GET their own
// value (which proves that no reply reached another command), until stop. It
// records per counter what was acknowledged and what may or may not have run, and
// when errors happened.
type load struct {
	c     *Client
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
	stop     chan struct{}
	wg       sync.WaitGroup
}

const opTimeout = 2 * time.Second

func startLoad(t *testing.T, c *Client, g int) *load {
	l := &load{c: c, g: g, acked: make([]atomic.Int64, g*perG), maybe: make([]atomic.Int64, g*perG), stop: make(chan struct{})}
	for i := 0; i < g; i++ {
		l.wg.Add(1)
		go l.run(i)
	}
	return l
}

// perG is the number of counters each goroutine cycles through: 2048 keys for 32
// goroutines, so that a reshard of a few hundred slots moves dozens of them.
const perG = 64

func counterKey(i int) string { return "ctr:" + strconv.Itoa(i) }

func (l *load) run(i int) {
	defer l.wg.Done()
	vkey := "val:" + strconv.Itoa(i)
	for n := 0; ; n++ {
		ci := i*perG + n%perG
		key := counterKey(ci)
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
		want := strconv.Itoa(n)
		if err := l.c.Send("SET", vkey, want).Err(ctx); err == nil {
			got, err := l.c.Send("GET", vkey).String(ctx)
			if err == nil && got != want {
				l.mu.Lock()
				l.mixed++
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

func (l *load) note(err error, deadline time.Time) {
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

// errorsSince returns the time of the last error, and the first error seen, and
// resets them.
func (l *load) reset() (last time.Time, first error) {
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
func (l *load) settle(t *testing.T, fault time.Time, what string) time.Duration {
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
			_, first := l.reset()
			t.Fatalf("%s: errors go on 30 s after the fault (first: %v)", what, first)
		}
	}
	last, first := l.reset()
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
func (l *load) finish(t *testing.T, lossy func(key string) bool) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	ctx := testCtx(t, 20*time.Second)
	lost := 0
	for i := 0; i < l.g*perG; i++ {
		final, err := l.c.Send("GET", counterKey(i)).Int(ctx)
		if errors.Is(err, driver.ErrNil) {
			final, err = 0, nil
		}
		if err != nil {
			t.Fatalf("GET %s: %v", counterKey(i), err)
		}
		a, m := l.acked[i].Load(), l.maybe[i].Load()
		if final < a && lossy != nil && lossy(counterKey(i)) {
			lost += int(a - final)
			continue
		}
		if final < a || final > a+m {
			t.Errorf("%s = %d: acknowledged %d, maybe %d", counterKey(i), final, a, m)
		}
	}
	if lost > 0 {
		t.Logf("acknowledged writes lost by the server in the kill -9 failover: %d", lost)
	}
	if l.mixed > 0 {
		t.Errorf("%d GETs returned another command's value", l.mixed)
	}
	if l.late > 0 {
		t.Errorf("%d calls returned more than 1 s after their context's deadline", l.late)
	}
	t.Logf("%d rounds, %d errors in all", l.ops.Load(), l.errs.Load())
}

// Under a 32-goroutine load: a live reshard of hundreds of slots (ASK, then MOVED),
// a CLUSTER FAILOVER on a replica, a kill -9 of a master (promotion of its replica)
// and the return of that node as a replica. Counters stay within what was
// acknowledged and what may have run, no reply goes to another command, no call
// outlives its context, and the errors stop after each fault.
func TestFaultsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	cl := redistest.StartCluster(t, 3, 1)
	c := connect(t, cl, Config{})
	l := startLoad(t, c, 32)
	time.Sleep(500 * time.Millisecond)
	if _, first := l.reset(); first != nil {
		t.Fatalf("errors before any fault: %v", first)
	}

	// 1. Reshard 300 slots from one master to another.
	ms := cl.Masters()
	fault := time.Now()
	if err := cl.Reshard(ms[0], ms[1], 300); err != nil {
		t.Fatal(err)
	}
	l.settle(t, fault, "reshard of 300 slots")
	// MOVED is certain (dozens of the counters' slots moved); ASK needs a key used
	// while its slot is half-way, which TestAskAndMoved makes deterministic.
	if st := c.Stats(); st.Moved == 0 {
		t.Errorf("the reshard made no MOVED: %+v", st)
	} else {
		t.Logf("during the reshard: %+v", st)
	}

	// 2. A graceful failover: a replica takes over its master.
	m := cl.Masters()[2]
	r := cl.ReplicaOf(m)
	if r == nil {
		t.Fatal("no replica")
	}
	fault = time.Now()
	r.MustDo("CLUSTER", "FAILOVER")
	waitRole(t, r, "master")
	if err := cl.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	l.settle(t, fault, "CLUSTER FAILOVER")

	// 3. kill -9 of a master: its replica is promoted after cluster-node-timeout.
	victim := cl.Masters()[0]
	heir := cl.ReplicaOf(victim)
	if heir == nil {
		t.Fatal("no replica of the victim")
	}
	victimSlots := slotsOf(t, victim)
	fault = time.Now()
	victim.Stop()
	waitRole(t, heir, "master")
	promoted := time.Since(fault)
	// Recovered with the dead node still down: through the promotion alone.
	rec := l.settle(t, fault, "kill -9 of a master")
	t.Logf("kill -9: recovery %v, the replica promoted after %v (cluster-node-timeout %d ms)",
		rec.Round(time.Millisecond), promoted.Round(time.Millisecond), redistest.NodeTimeout)

	// 4. The killed node comes back, as a replica of its heir.
	fault = time.Now()
	victim.Restart()
	waitRole(t, victim, "slave")
	if err := cl.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	l.settle(t, fault, "return of the killed node")

	l.finish(t, func(key string) bool { return victimSlots[KeySlotString(key)] })
}

// waitRole waits up to 20 s for s to report role.
func waitRole(t *testing.T, s *redistest.Server, role string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.Role() != role {
		if time.Now().After(deadline) {
			t.Fatalf("%s is not %s after 20 s", s.Addr, role)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slotsOf returns the slots master s serves.
func slotsOf(t *testing.T, s *redistest.Server) map[int]bool {
	t.Helper()
	id := s.NodeID()
	out := map[int]bool{}
	for _, e := range s.MustDo("CLUSTER", "SLOTS").Elems() {
		f := e.Elems()
		if len(f) < 3 || len(f[2].Elems()) < 3 || f[2].Elems()[2].Text() != id {
			continue
		}
		for slot := int(f[0].Int()); slot <= int(f[1].Int()); slot++ {
			out[slot] = true
		}
	}
	return out
}
