//go:build !race

package driver

import (
	"context"
	"errors"
	"testing"
)

// warmWaits makes a caller wait, blocked, on every slot of c's ring: a slot makes its
// signal channel at the first wait on it that blocks (ring.slot.signal), once in its
// life. A warm-up whose replies all came before their callers looked (a loaded
// machine; TestAllocLargeSet failed once in 100 runs beside three busy loops, with 2
// allocations per run: the channel and its pointer) left that to the measured runs.
// The replies come a while apart here (DEBUG SLEEP, pipelined), so that each caller
// finds its reply not there yet; twice over each slot.
func warmWaits(t *testing.T, c *PairedConn) {
	t.Helper()
	ctx := context.Background()
	half := max(c.ring.Size()/2, 1)
	fs := make([]Future, 0, half)
	for range 4 {
		fs = fs[:0]
		for range half {
			fs = append(fs, c.Send("DEBUG", "SLEEP", "0.0002"))
		}
		for _, f := range fs {
			if err := f.Err(ctx); err != nil {
				t.Fatalf("DEBUG SLEEP: %v", err)
			}
		}
	}
}

// Steady state: Send("GET", k) + AppendBytes and Send("SET", k, v) + Err allocate
// nothing, counted over the whole process (event loops included), against a real
// server.
func TestAllocPairedGetSet(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	if a := allocsGetSet(t, c); a != 0 {
		t.Fatalf("%v allocations per SET+GET, want 0", a)
	}
}

// allocsGetSet returns the allocations of a SET+GET with Err and AppendBytes on c, in
// steady state.
func allocsGetSet(t *testing.T, c *PairedConn) float64 {
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
	warmWaits(t, c)
	for i := 0; i < 2000; i++ { // warm every slot's buffers
		run()
	}
	return testing.AllocsPerRun(2000, run)
}

// A reused Batch and dst: SendBatch of 10 GETs + AppendBytes, SendTx of two INCRs +
// Int, and a Script's EVALSHA hit allocate nothing in steady state.
func TestAllocBatchTxScript(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := context.Background()
	if err := c.Send("SET", "alloc:b", "0123456789abcdef").Err(ctx); err != nil {
		t.Fatal(err)
	}
	var b, tx Batch
	futs := make([]Future, 0, 16)
	dst := make([]byte, 0, 64)
	script := NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
	keys := []string{"alloc:s"}
	var err error
	run := func() {
		b.Reset()
		for i := 0; i < 10; i++ {
			b.Queue("GET", "alloc:b")
		}
		futs = c.SendBatch(futs[:0], &b)
		for _, f := range futs {
			if dst, err = f.AppendBytes(ctx, dst[:0]); err != nil || len(dst) != 16 {
				t.Fatalf("batch GET = %q, %v", dst, err)
			}
		}
		tx.Reset()
		tx.Queue("INCR", "alloc:x")
		tx.Queue("INCR", "alloc:x")
		futs = c.SendTx(futs[:0], &tx)
		a, err1 := futs[0].Int(ctx)
		z, err2 := futs[1].Int(ctx)
		if err1 != nil || err2 != nil || z != a+1 {
			t.Fatalf("tx: %d %d %v %v", a, z, err1, err2)
		}
		if _, err := script.Run(ctx, c, keys, 1).Int(ctx); err != nil {
			t.Fatal(err)
		}
	}
	warmWaits(t, c)
	for i := 0; i < 2000; i++ {
		run()
	}
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("%v allocations per batch+tx+script round, want 0", a)
	}
}

// nopRouter takes no reply.
type nopRouter struct{}

func (nopRouter) Reroutes([]byte) bool { return false }
func (nopRouter) Reroute(context.Context, Redirect) (Future, error) {
	return Future{}, errors.New("not reached")
}

// SendRouted's happy path (no redirect) allocates nothing either.
func TestAllocSendRouted(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := context.Background()
	rr := &nopRouter{}
	key, val := "alloc:key", []byte("0123456789abcdef")
	dst := make([]byte, 0, 64)
	var err error
	run := func() {
		if err = c.SendRouted(rr, "SET", key, val).Err(ctx); err != nil {
			t.Fatal(err)
		}
		if dst, err = c.SendRouted(rr, "GET", key).AppendBytes(ctx, dst[:0]); err != nil || string(dst) != string(val) {
			t.Fatalf("GET = %q, %v", dst, err)
		}
		// A name the first look cannot tell from a special one's (RPUSH, RESET).
		if err = c.SendRouted(rr, "RPUSH", "alloc:list", val).Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	warmWaits(t, c)
	for i := 0; i < 2000; i++ {
		run()
	}
	if a := testing.AllocsPerRun(2000, run); a != 0 {
		t.Fatalf("%v allocations per routed SET+GET+RPUSH, want 0", a)
	}
}

// Over TLS, one command at a time, SET+GET allocate nothing either: the loop appends
// the ciphertext to crypto/tls's own input buffer (direct input, see tls.go), so
// crypto/tls never reads a record from its transport, which would cost it an
// allocation per reply (readFromUntil's reader). With direct input off (the fallback
// for a crypto/tls whose fields are not found) that one per reply is all there is.
func TestAllocTLSGetSet(t *testing.T) {
	defer tlsForceTransport.Store(false)
	for _, direct := range []bool{true, false} {
		tlsForceTransport.Store(!direct) // for reconnects too
		c := tlsPaired(t)
		if directInput(t, c) != direct {
			t.Fatalf("direct input %v, want %v", !direct, direct)
		}
		want := 0.0
		if !direct {
			want = 2
		}
		if a := allocsGetSet(t, c); a > want {
			t.Errorf("direct input %v: %v allocations per SET+GET over TLS, want at most %v", direct, a, want)
		}
		c.Close()
		tlsForceTransport.Store(false)
	}
}

// A large []byte SET (lent: written from the caller's buffer) allocates nothing in
// steady state, even when each slot carried a command with a shorter key before:
// the slot's buffer for the command's headers is made with room to spare. (Made to
// the exact size, it was made again on every slot's next use with a longer key,
// 80 B per SET in the large-value benchmarks, whose warm-up uses another key.) Every
// run lands on a slot the warm-up used: a ring of 8, 8 runs.
func TestAllocLargeSet(t *testing.T) {
	s := startServer(t)
	const ring = 8
	c := pairedTo(t, s, Config{RingSize: ring})
	defer c.Close()
	ctx := context.Background()
	val := make([]byte, lendMin)
	set := func(key string) {
		if err := c.Send("SET", key, val).Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	warmWaits(t, c)
	for range 3 * ring {
		set("k")
	}
	if a := testing.AllocsPerRun(ring-1, func() { set("alloc:a-longer-key") }); a != 0 {
		t.Fatalf("%v allocations per large SET, want 0", a)
	}
}
