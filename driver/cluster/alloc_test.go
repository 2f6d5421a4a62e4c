//go:build !race

package cluster

import (
	"context"
	"testing"

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
	for j := 0; j < 3000; j++ {
		run()
	}
	if a := testing.AllocsPerRun(2000, run); a != 0 {
		t.Fatalf("%v allocations per SET+GET+forgotten SET, want 0", a)
	}
}
