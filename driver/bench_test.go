package driver

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkParallelGet: GET of a 16-byte value from many goroutines on one PairedConn,
// with the client's CPU per operation. ctx=none waits with context.Background();
// ctx=shared with one context with a deadline shared by all goroutines (a server's
// base context, say); ctx=own with a context with a deadline per command.
func BenchmarkParallelGet(b *testing.B) {
	for _, g := range []int{1, 64, 512} {
		for _, mode := range []string{"none", "shared", "own"} {
			b.Run("g"+strconv.Itoa(g)+"/ctx="+mode, func(b *testing.B) { parallelGet(b, g, mode) })
		}
	}
}

func parallelGet(b *testing.B, g int, mode string) {
	c := benchConn(b)
	ctx := context.Background()
	if mode == "shared" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Hour)
		defer cancel()
	}
	b.ReportAllocs()
	b.SetParallelism((g + 1) / 2) // GOMAXPROCS is 2
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, 64)
		var err error
		for pb.Next() {
			octx, cancel := ctx, context.CancelFunc(nil)
			if mode == "own" {
				octx, cancel = context.WithTimeout(ctx, time.Hour)
			}
			dst, err = c.Send("GET", "bench:k").AppendBytes(octx, dst[:0])
			if cancel != nil {
				cancel()
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// benchConn connects to the test server and stores the 16-byte value bench:k.
func benchConn(b *testing.B) *PairedConn {
	c, err := PairedConnect(context.Background(), Config{Addr: startServerB(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Send("SET", "bench:k", []byte("0123456789abcdef")).Err(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkPipelined: one goroutine sends 1,000 GETs, then waits for the last.
func BenchmarkPipelined(b *testing.B) {
	c := benchConn(b)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		var last Future
		for range 1000 {
			last = c.Send("GET", "bench:k")
		}
		if err := last.Err(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "cmds/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*1000), "cpu-ns/cmd")
}

// BenchmarkPipelinedForget: as BenchmarkPipelined, with SendAndForget for all but the
// last command (what to write when the replies are not read).
func BenchmarkPipelinedForget(b *testing.B) {
	c := benchConn(b)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		for range 999 {
			c.SendAndForget("GET", "bench:k")
		}
		if err := c.Send("GET", "bench:k").Err(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "cmds/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*1000), "cpu-ns/cmd")
}

// BenchmarkPipelinedLargeSet: one goroutine sends 32 SETs of a size-byte []byte value,
// then waits for them all: how lending large []byte arguments (Send waits until the
// socket took each) compares with copying them when the caller pipelines.
func BenchmarkPipelinedLargeSet(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			c := benchConn(b)
			ctx := context.Background()
			val := make([]byte, size)
			var futs [32]Future
			b.SetBytes(int64(len(futs) * size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range futs {
					futs[i] = c.Send("SET", "bench:big", val)
				}
				for _, f := range futs {
					if err := f.Err(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// benchRouter takes no reply: the routed happy path.
type benchRouter struct{}

func (benchRouter) Reroutes([]byte) bool { return false }
func (benchRouter) Reroute(context.Context, Redirect) (Future, error) {
	return Future{}, ErrNoReroute
}

// BenchmarkRoutedGet: BenchmarkParallelGet's GET through SendRouted, as the cluster
// client sends it (no redirect), with a context per goroutine.
func BenchmarkRoutedGet(b *testing.B) {
	for _, g := range []int{1, 64, 512} {
		b.Run("g"+strconv.Itoa(g), func(b *testing.B) {
			c := benchConn(b)
			var rr benchRouter
			b.ReportAllocs()
			b.SetParallelism((g + 1) / 2)
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				dst := make([]byte, 0, 64)
				var err error
				for pb.Next() {
					if dst, err = c.SendRouted(rr, "GET", "bench:k").AppendBytes(ctx, dst[:0]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
