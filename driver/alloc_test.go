//go:build !race

package driver

import (
	"context"
	"testing"
)

// Steady state: Send("GET", k) + AppendBytes and Send("SET", k, v) + Err allocate
// nothing, counted over the whole process (event loops included), against a real
// server.
func TestAllocPairedGetSet(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := context.Background()
	key, val := "alloc:key", []byte("0123456789abcdef")
	dst := make([]byte, 0, 64)
	var err error
	run := func() {
		if err = c.Send("SET", key, val).Err(ctx); err != nil {
			t.Fatal(err)
		}
		if dst, err = c.Send("GET", key).AppendBytes(ctx, dst[:0]); err != nil || string(dst) != string(val) {
			t.Fatalf("GET = %q, %v", dst, err)
		}
	}
	for i := 0; i < 2000; i++ { // warm every slot's buffers
		run()
	}
	if a := testing.AllocsPerRun(2000, run); a != 0 {
		t.Fatalf("%v allocations per SET+GET, want 0", a)
	}
}
