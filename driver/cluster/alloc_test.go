//go:build !race

package cluster

import (
	"context"
	"testing"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

// The happy path (no redirect) allocates nothing: Send("GET", k) + AppendBytes and
// Send("SET", k, v) + Err, counted over the whole process, keys on every node.
func TestAllocClusterGetSet(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{})
	ctx := context.Background()
	keys := []string{"alloc:a", "alloc:b", "alloc:c", "alloc:{tagged}:long-key-name-past-32-bytes"}
	val := []byte("0123456789abcdef")
	dst := make([]byte, 0, 64)
	i := 0
	run := func() {
		k := keys[i%len(keys)]
		i++
		if err := c.Send("SET", k, val).Err(ctx); err != nil {
			t.Fatal(err)
		}
		var err error
		if dst, err = c.Send("GET", k).AppendBytes(ctx, dst[:0]); err != nil || string(dst) != string(val) {
			t.Fatalf("GET = %q, %v", dst, err)
		}
		c.SendAndForget("SET", k, val) // routed, its redirects followed: nothing more
	}
	warmed := map[*driver.PairedConn]bool{}
	for _, k := range keys {
		conn, err := c.route(KeySlotString(k), false)
		if err != nil {
			t.Fatal(err)
		}
		if !warmed[conn] {
			warmWaits(t, conn, ringSize)
			warmed[conn] = true
		}
	}
	for j := 0; j < 3000; j++ {
		run()
	}
	if a := testing.AllocsPerRun(2000, run); a != 0 {
		t.Fatalf("%v allocations per SET+GET+forgotten SET, want 0", a)
	}
}

// ringSize is the ring of a node's PairedConn under Config{} (driver.Config's default
// RingSize).
const ringSize = 1024

// warmWaits makes a caller wait, blocked, on every slot of conn's ring of size n (as
// driver's alloc tests do): a slot makes its signal channel at the first wait on it
// that blocks, and on a loaded machine a warm-up whose replies all came before their
// callers looked leaves that allocation to the measured runs. The replies come a
// while apart (DEBUG SLEEP, pipelined); twice over each slot.
func warmWaits(t *testing.T, conn *driver.PairedConn, n int) {
	t.Helper()
	ctx := context.Background()
	fs := make([]driver.Future, 0, n/2)
	for range 4 {
		fs = fs[:0]
		for range n / 2 {
			fs = append(fs, conn.Send("DEBUG", "SLEEP", "0.0002"))
		}
		for _, f := range fs {
			if err := f.Err(ctx); err != nil {
				t.Fatalf("DEBUG SLEEP: %v", err)
			}
		}
	}
}
