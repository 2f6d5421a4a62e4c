package ring

import (
	"context"
	"strconv"
	"testing"

	"github.com/respring/respring/parser"
)

// benchLoop answers every collected command with reply, as the event loop would.
func benchLoop(r *Ring, wake, quit chan struct{}, reply parser.Value) {
	buf := make([]byte, 0, 64<<10)
	for {
		select {
		case <-wake:
		case <-quit:
			return
		}
		var n int
		buf, n = r.Collect(buf[:0])
		for range n {
			if err := r.Complete(reply); err != nil {
				panic(err)
			}
		}
	}
}

// BenchmarkRoundTrip: parallel senders doing Reserve+Publish+View against one loop
// goroutine doing Collect+Complete, the shape of implicit pipelining on one connection.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) {
			r := New(size)
			wake, quit := make(chan struct{}, 1), make(chan struct{})
			done := make(chan struct{})
			go func() { benchLoop(r, wake, quit, parser.NewBulkString("0123456789abcdef")); close(done) }()
			cmdBytes := []byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
			b.ReportAllocs()
			b.SetParallelism(64) // many goroutines per P, as with many concurrent callers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var got int
				fn := func(v parser.Value, err error) { got += len(v.Bytes()) }
				for pb.Next() {
					seq, cmd, err := r.Reserve(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					*cmd = append(*cmd, cmdBytes...)
					if r.Publish(seq, false) {
						notify(wake)
					}
					if err := r.View(ctx, seq, fn); err != nil && err != ErrExpired {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			close(quit)
			<-done
		})
	}
}

// BenchmarkSerial: one goroutine plays sender and loop; the uncontended cost of a slot.
func BenchmarkSerial(b *testing.B) {
	r := New(1024)
	buf := make([]byte, 0, 4096)
	reply := parser.NewBulkString("0123456789abcdef")
	var got int
	fn := func(v parser.Value, err error) { got += len(v.Bytes()) }
	b.ReportAllocs()
	for b.Loop() {
		seq, cmd, _ := r.Reserve(nilCtx)
		*cmd = append(*cmd, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"...)
		r.Publish(seq, false)
		buf, _ = r.Collect(buf[:0])
		_ = r.Complete(reply)
		_ = r.View(nilCtx, seq, fn)
	}
}
