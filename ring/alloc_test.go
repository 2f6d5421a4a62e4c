//go:build !race

package ring

import (
	"context"
	"testing"

	"github.com/respring/respring/parser"
)

// The zero-allocation promise of the package doc, as a test. The race detector
// allocates, hence the build tag.

func TestAllocsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply parser.Value
	}{
		{"bulk", parser.NewBulkString("some value of a few bytes")},
		{"array", parser.NewArray(parser.NewBulkString("a"), parser.NewInteger(1),
			parser.NewArray(parser.NewBulkString("nested")))},
		{"error", parser.NewSimpleError("ERR nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(8)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			buf := make([]byte, 0, 4096)
			var n, total int
			fn := func(v parser.Value, err error) { total += v.Len() } // must not escape
			allocs := testing.AllocsPerRun(1000, func() {
				seq, cmd, err := r.Reserve(ctx)
				if err != nil {
					t.Fatal(err)
				}
				*cmd = append(*cmd, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"...)
				r.Publish(seq, false)
				buf, n = r.Collect(buf[:0])
				if n != 1 {
					t.Fatalf("Collect: %d", n)
				}
				if err := r.Complete(tc.reply); err != nil {
					t.Fatal(err)
				}
				if err := r.View(ctx, seq, fn); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("round trip: %v allocations, want 0", allocs)
			}
		})
	}
}

func TestAllocsForget(t *testing.T) {
	r := New(4)
	buf := make([]byte, 0, 4096)
	reply := parser.NewSimpleError("ERR counted")
	allocs := testing.AllocsPerRun(1000, func() {
		seq, cmd, _ := r.Reserve(nilCtx)
		*cmd = append(*cmd, "PING\r\n"...)
		r.Publish(seq, true)
		buf, _ = r.Collect(buf[:0])
		_ = r.Complete(reply)
	})
	if allocs != 0 {
		t.Fatalf("forgotten round trip: %v allocations, want 0", allocs)
	}
}

// TestAllocsWaiting: View and Reserve that actually wait (a loop goroutine answers)
// allocate nothing either.
func TestAllocsWaiting(t *testing.T) {
	r := New(1)
	wake, quit, done := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go func() { benchLoop(r, wake, quit, parser.NewBulkString("pong")); close(done) }()
	defer func() { close(quit); <-done }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var total int
	fn := func(v parser.Value, err error) { total += v.Len() }
	allocs := testing.AllocsPerRun(1000, func() {
		seq, cmd, err := r.Reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		*cmd = append(*cmd, "ping\n"...)
		if r.Publish(seq, false) {
			notify(wake)
		}
		if err := r.View(ctx, seq, fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("waiting round trip: %v allocations, want 0", allocs)
	}
}

// Futures dropped without a View park their replies when the slot is reused; once
// the parking entries are warm that costs no allocation either.
func TestAllocsParking(t *testing.T) {
	r := New(4)
	reply := parser.NewBulkString("0123456789abcdef")
	out := make([]byte, 0, 256)
	run := func() {
		for range 4 {
			seq, cmd, err := r.Reserve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			*cmd = append(*cmd, "GET k"...)
			r.Publish(seq, false)
		}
		out, _ = r.Collect(out[:0])
		for range 4 {
			if err := r.Complete(reply); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 5000 { // fill every parking entry once
		run()
	}
	if a := testing.AllocsPerRun(500, run); a != 0 {
		t.Fatalf("%v allocations per round with parking, want 0", a)
	}
	if r.Parked() == 0 {
		t.Fatal("nothing was parked")
	}
}
