package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/respring/respring/driver"
)

// Pipelined from one goroutine: batches of pipeDepth GETs of a 16-byte value, each
// sent whole and then waited for, through each client's pipelining API. b.N counts
// commands (so ns/op is per command, and ops/s compares with redis-benchmark -P).

const pipeDepth = 1000

func BenchmarkPipeline(b *testing.B) {
	for _, name := range clients {
		b.Run(fmt.Sprintf("16B/depth%d/client=%s", pipeDepth, name), func(b *testing.B) {
			addr := serverAddr(b)
			ctx := benchCtx(b)
			const key = "bench:pipe"
			batch := openPipeliner(b, ctx, name, addr, key, value(16))
			for range 3 { // warm up
				if err := batch(ctx, pipeDepth); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
			}
			srv := newServerCPU(b, addr)
			b.ReportAllocs()
			srv.begin()
			b.ResetTimer()
			cpu0 := cpuTime()
			for done := 0; done < b.N; done += pipeDepth {
				if err := batch(ctx, min(pipeDepth, b.N-done)); err != nil {
					b.Fatalf("%s: %v", name, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			srv.report(b)
		})
	}
}

// openPipeliner sets key to val and returns a function that sends n GETs of key as
// one pipeline and waits for the replies.
func openPipeliner(b *testing.B, ctx context.Context, name, addr, key string, val []byte) func(ctx context.Context, n int) error {
	b.Helper()
	switch name {
	case "respring":
		c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Send("SET", key, val).Err(ctx); err != nil {
			b.Fatal(err)
		}
		// Send n times, then wait for the last reply only (replies come in order).
		return func(ctx context.Context, n int) error {
			var f driver.Future
			for range n {
				f = c.Send("GET", key)
			}
			return f.Err(ctx)
		}
	case "rueidis":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		if err := c.Do(ctx, c.B().Set().Key(key).Value(string(val)).Build()).Error(); err != nil {
			b.Fatal(err)
		}
		cmds := make(rueidis.Commands, 0, pipeDepth)
		return func(ctx context.Context, n int) error {
			cmds = cmds[:0]
			for range n {
				cmds = append(cmds, c.B().Get().Key(key).Build())
			}
			res := c.DoMulti(ctx, cmds...)
			return res[len(res)-1].Error()
		}
	case "goredis":
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 1})
		b.Cleanup(func() { c.Close() })
		if err := c.Set(ctx, key, val, 0).Err(); err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, n int) error {
			p := c.Pipeline()
			for range n {
				p.Get(ctx, key)
			}
			_, err := p.Exec(ctx)
			return err
		}
	case "redigo":
		pool := newRedigoPool(endpoint{addr: addr}, 1)
		b.Cleanup(func() { pool.Close() })
		if err := (redigoKV{pool}).set(ctx, key, val, ""); err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, n int) error {
			conn, err := pool.GetContext(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			for range n {
				if err := conn.Send("GET", key); err != nil {
					return err
				}
			}
			if err := conn.Flush(); err != nil {
				return err
			}
			for range n {
				if _, err := conn.Receive(); err != nil {
					return err
				}
			}
			return nil
		}
	}
	b.Fatalf("unknown client %q", name)
	return nil
}

// Round-trip latency from one goroutine: one GET of a 16-byte value at a time.
// p50-ns and p99-ns are percentiles of the b.N round trips, each timed alone.
func BenchmarkLatency(b *testing.B) {
	for _, name := range kvClients {
		b.Run("16B/client="+name, func(b *testing.B) {
			addr := serverAddr(b)
			ctx := benchCtx(b)
			k := openKVOrSkip(b, ctx, name, endpoint{addr: addr}, 1)
			val := value(16)
			const key = "bench:latency"
			if err := k.set(ctx, key, val, string(val)); err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, 64)
			var err error
			for range 2048 { // warm up
				if dst, err = k.get(ctx, key, dst); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range lat {
				t0 := time.Now()
				dst, err = k.get(ctx, key, dst)
				lat[i] = time.Since(t0)
				if err != nil || len(dst) != len(val) {
					b.Fatalf("%s: GET = %d bytes, %v", name, len(dst), err)
				}
			}
			b.StopTimer()
			p50, p99 := percentiles(lat)
			b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
		})
	}
}

// percentiles sorts lat and returns its 50th and 99th percentiles (nearest rank).
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.5) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	return rank(0.50), rank(0.99)
}
