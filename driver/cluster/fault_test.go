package cluster

import (
	"testing"
	"time"

	"github.com/respring/respring/internal/loadtest"
	"github.com/respring/respring/internal/redistest"
)

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
	l := loadtest.Start(t, c, 32)
	time.Sleep(500 * time.Millisecond)
	if _, first := l.Reset(); first != nil {
		t.Fatalf("errors before any fault: %v", first)
	}

	// 1. Reshard 300 slots from one master to another.
	ms := cl.Masters()
	fault := time.Now()
	if err := cl.Reshard(ms[0], ms[1], 300); err != nil {
		t.Fatal(err)
	}
	l.Settle(t, fault, "reshard of 300 slots")
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
	l.Settle(t, fault, "CLUSTER FAILOVER")

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
	rec := l.Settle(t, fault, "kill -9 of a master")
	t.Logf("kill -9: recovery %v, the replica promoted after %v (cluster-node-timeout %d ms)",
		rec.Round(time.Millisecond), promoted.Round(time.Millisecond), redistest.NodeTimeout)

	// 4. The killed node comes back, as a replica of its heir.
	fault = time.Now()
	victim.Restart()
	waitRole(t, victim, "slave")
	if err := cl.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	l.Settle(t, fault, "return of the killed node")

	l.Finish(t, func(key string) bool { return victimSlots[KeySlotString(key)] })
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

// A command sent while its master is down waits for it; once the map drops the dead
// master (its replica took over), the command, never written, goes to the new master
// and runs there once; a forgotten one (SendAndForget) too.
func TestUnsentFollowsFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	cl := redistest.StartCluster(t, 3, 1)
	c := connect(t, cl, Config{})
	ctx := testCtx(t, 60*time.Second)
	const key = "{unsent}n"
	if _, err := c.Do(ctx, "SET", key, "10"); err != nil {
		t.Fatal(err)
	}
	var victim *redistest.Server
	for _, m := range cl.Masters() {
		if slotsOf(t, m)[KeySlotString(key)] {
			victim = m
		}
	}
	heir := cl.ReplicaOf(victim)
	if victim == nil || heir == nil {
		t.Fatal("no master with a replica for the key")
	}
	c.mu.Lock()
	n := c.nodes[nodeKey{addr: victim.Addr}]
	c.mu.Unlock()
	if n == nil || n.conn.Load() == nil {
		t.Fatal("no connection to the key's master")
	}
	victim.Stop()
	for n.conn.Load().Connected() {
		if ctx.Err() != nil {
			t.Fatal("the connection to the stopped master stayed up")
		}
		time.Sleep(time.Millisecond)
	}
	f := c.Send("INCR", key) // queued on the dead master's connection
	c.SendAndForget("INCRBY", key, 5)
	waitRole(t, heir, "master")
	// The two go again separately, in either order.
	if v, err := f.Int(ctx); err != nil || (v != 11 && v != 16) {
		t.Fatalf("INCR = %d, %v; want 11 or 16 from the new master", v, err)
	}
	if st := c.Stats(); st.Resent == 0 {
		t.Fatalf("not resent: %+v", st)
	}
	for heir.MustDo("GET", key).Text() != "16" {
		if ctx.Err() != nil {
			t.Fatalf("%s = %q on the new master, want 16 (each run once)", key, heir.MustDo("GET", key).Text())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := c.ForgottenErrors(); got != 0 {
		t.Fatalf("ForgottenErrors %d, want 0: the forgotten INCRBY was sent again", got)
	}
}
