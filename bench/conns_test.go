package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/respring/respring/driver"
)

// Many idle connections: n clients, each with one live connection that did one PING,
// as a service holding connections to many servers (or many tenants) would have.
// After two GCs the benchmark reports the growth of the process, per connection:
//
//	goroutines       goroutines started (total, not per connection)
//	goroutines/conn  the same, per connection
//	heap-B/conn      HeapAlloc growth per connection
//	stack-B/conn     StackInuse growth per connection (goroutine stacks)
//
// ns/op is the time to open all n connections (32 dials at a time). Run it with
// -benchtime 1x: one iteration opens n connections. rueidis at 10,000 is skipped unless
// BENCH_RUEIDIS_10K=1: at about 1.4 MB per idle client it needs some 14 GB.

var connCounts = []int{1000, 10000}

// The same over TLS (the benchmark server's TLS port, as the TLS benchmarks use it):
// 1,000 idle clients each, respring, rueidis and go-redis; TLSConns/n1000/client=NAME.
// heap-B/conn includes each client's crypto/tls state (the goal for respring:
// at most 48 KiB per connection).
var tlsConnClients = []string{"respring", "rueidis", "goredis"}

func BenchmarkTLSConns(b *testing.B) {
	for _, name := range tlsConnClients {
		b.Run(fmt.Sprintf("n1000/client=%s", name), func(b *testing.B) {
			ep := tlsEndpoint(b)
			ctx := benchCtx(b)
			b.ReportAllocs()
			for range b.N {
				measureConns(b, ctx, name, ep, 1000)
			}
		})
	}
}

const dialers = 32

func BenchmarkConns(b *testing.B) {
	for _, n := range connCounts {
		for _, name := range clients {
			b.Run(fmt.Sprintf("n%d/client=%s", n, name), func(b *testing.B) {
				addr := serverAddr(b)
				if name == "rueidis" && n > 1000 && !envBool("BENCH_RUEIDIS_10K") {
					b.Skip("rueidis at 10,000 clients needs ~14 GB (1.4 MB each); set BENCH_RUEIDIS_10K=1 to run it")
				}
				if n > 1000 && envBool("BENCH_SKIP_10K") {
					b.Skip("BENCH_SKIP_10K is set")
				}
				ctx := benchCtx(b)
				b.ReportAllocs()
				for range b.N {
					measureConns(b, ctx, name, endpoint{addr: addr}, n)
				}
			})
		}
	}
}

func measureConns(b *testing.B, ctx context.Context, name string, ep endpoint, n int) {
	b.StopTimer()
	g0, m0 := settle()
	b.StartTimer()
	closers := make([]func(), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				c, err := openIdle(ctx, name, ep)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
				closers[i] = c
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	defer func() {
		for _, c := range closers {
			if c != nil {
				c()
			}
		}
		b.StartTimer()
	}()
	if firstErr != nil {
		b.Fatalf("%s: %v", name, firstErr)
	}
	g1, m1 := settle()
	dg := g1 - g0
	b.ReportMetric(float64(dg), "goroutines")
	b.ReportMetric(float64(dg)/float64(n), "goroutines/conn")
	b.ReportMetric((float64(m1.HeapAlloc)-float64(m0.HeapAlloc))/float64(n), "heap-B/conn")
	b.ReportMetric((float64(m1.StackInuse)-float64(m0.StackInuse))/float64(n), "stack-B/conn")
	runtime.KeepAlive(closers)
}

// settle collects garbage twice and returns the goroutine count and memory stats.
func settle() (int, runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m
}

// openIdle opens one client of kind name with one live connection to ep that did one
// PING, and returns its close function.
func openIdle(ctx context.Context, name string, ep endpoint) (func(), error) {
	addr := ep.addr
	switch name {
	case "respring":
		c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr, TLS: ep.tlsConf()})
		if err != nil {
			return nil, err
		}
		if err := c.Send("PING").Err(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return func() { c.Close() }, nil
	case "rueidis":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, TLSConfig: ep.tlsConf()})
		if err != nil {
			return nil, err
		}
		if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
			c.Close()
			return nil, err
		}
		return c.Close, nil
	case "goredis":
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 1, TLSConfig: ep.tlsConf()})
		if err := c.Ping(ctx).Err(); err != nil {
			c.Close()
			return nil, err
		}
		return func() { c.Close() }, nil
	case "redigo":
		p := &redis.Pool{MaxIdle: 1, MaxActive: 1, Dial: ep.dialRedigo}
		conn, err := p.GetContext(ctx)
		if err != nil {
			return nil, err
		}
		_, err = conn.Do("PING")
		conn.Close() // back to the pool: idle, open
		if err != nil {
			p.Close()
			return nil, err
		}
		return func() { p.Close() }, nil
	}
	return nil, fmt.Errorf("unknown client %q", name)
}
