package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Parallel GET and SET: g goroutines share one client and do b.N commands between
// them. Reported besides time and allocations per command: ops/s (commands per second
// of wall time) and cpu-ns/op (user+system CPU of the whole process per command: the
// client's cost, the server being another process), and srv-cpu-ns/op (the server's
// CPU time per command, from INFO cpu).

var (
	parSizes       = []int{16, 1024}
	parGoroutines  = []int{1, 64, 512}
	parKeys        = 64 // keys per size; goroutine w uses key w % parKeys
	warmOpsPerSlot = 2  // warm-up commands per goroutine, at least 2048 in all
)

func BenchmarkGet(b *testing.B) { benchParallel(b, false) }
func BenchmarkSet(b *testing.B) { benchParallel(b, true) }

func benchParallel(b *testing.B, isSet bool) {
	for _, size := range parSizes {
		for _, g := range parGoroutines {
			for _, name := range kvClients {
				b.Run(fmt.Sprintf("%s/g%d/client=%s", sizeName(size), g, name), func(b *testing.B) {
					runKV(b, name, size, g, isSet)
				})
			}
		}
	}
}

func runKV(b *testing.B, name string, size, g int, isSet bool) {
	runKVAt(b, kvRun{ep: plain(b), name: name, size: size, g: g, isSet: isSet,
		keys: parKeys, warm: max(warmOpsPerSlot*g, 2048)})
}

// kvRun is one parallel GET or SET benchmark: g goroutines share client name, opened
// for ep, and do b.N commands on values of size bytes; goroutine w uses key w % keys.
// warm commands are done first, untimed, after warmMid commands of the same kind on
// a value of warmMidSize bytes (see largeWarm). With view, GET takes the value the
// way viewer.getView does (the large-value benchmarks).
type kvRun struct {
	ep          endpoint
	name        string
	size, g     int
	isSet, view bool
	keys, warm  int
	warmMid     int
}

// warmMidSize is the value size of kvRun.warmMid's warm-up commands.
const warmMidSize = 256 << 10

func runKVAt(b *testing.B, r kvRun) {
	name, size := r.name, r.size
	ctx := benchCtx(b)
	k := openKVOrSkip(b, ctx, name, r.ep, r.g)
	get := k.get
	if r.view {
		v, ok := k.(viewer)
		if !ok {
			b.Fatalf("%s: no getView", name)
		}
		get = v.getView
	}
	val := value(size)
	sval := string(val)
	keys := make([]string, r.keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:%s:%d", sizeName(size), i)
		if err := k.set(ctx, keys[i], val, sval); err != nil {
			b.Fatalf("%s: SET %s: %v", name, keys[i], err)
		}
	}
	op := func(w int) func() error {
		key := keys[w%len(keys)]
		if r.isSet {
			return func() error { return k.set(ctx, key, val, sval) }
		}
		dst := make([]byte, 0, size+64)
		return func() error {
			var err error
			dst, err = get(ctx, key, dst) // a peer's getView ignores dst
			if err == nil && len(dst) != size {
				err = fmt.Errorf("GET %s: %d bytes, want %d", key, len(dst), size)
			}
			return err
		}
	}
	if r.warmMid > 0 {
		if err := warmWith(ctx, k, r, get); err != nil {
			b.Fatalf("%s: warm-up: %v", name, err)
		}
	}
	// Warm up: open every pooled connection, grow every buffer.
	if err := spread(r.g, r.warm, op, nil); err != nil {
		b.Fatalf("%s: warm-up: %v", name, err)
	}
	srv := newServerCPUAt(b, r.ep)
	b.ReportAllocs()
	runtime.GC()
	srv.begin()
	if err := spread(r.g, b.N, op, b); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	srv.report(b)
}

// warmWith does r.warmMid commands of r's kind (SET, or GET the way r does it) on a
// value of warmMidSize bytes, over r.g goroutines.
func warmWith(ctx context.Context, k kv, r kvRun, get func(context.Context, string, []byte) ([]byte, error)) error {
	val := value(warmMidSize)
	sval := string(val)
	const key = "bench:warm"
	if err := k.set(ctx, key, val, sval); err != nil {
		return err
	}
	return spread(r.g, r.warmMid, func(int) func() error {
		if r.isSet {
			return func() error { return k.set(ctx, key, val, sval) }
		}
		dst := make([]byte, 0, warmMidSize+64)
		return func() error {
			var err error
			dst, err = get(ctx, key, dst)
			if err == nil && len(dst) != warmMidSize {
				err = fmt.Errorf("GET %s: %d bytes, want %d", key, len(dst), warmMidSize)
			}
			return err
		}
	}, nil)
}

// spread runs n calls of op over g goroutines (each goroutine w calls its own op(w)
// as long as calls are left). With b non-nil, the timer and the CPU clock cover
// exactly the calls, and ops/s and cpu-ns/op are reported.
func spread(g, n int, op func(w int) func() error, b *testing.B) error {
	return spreadUnits(g, n, op, b, 1, "")
}

// spreadUnits is spread for calls that do per commands each: ops/s counts commands,
// and unit, if not empty, names the rate of calls (e.g. batches/s).
func spreadUnits(g, n int, op func(w int) func() error, b *testing.B, per int, unit string) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		firstE  error
		start   = make(chan struct{})
		limit   = int64(n)
	)
	for w := range g {
		fn := op(w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for next.Add(1) <= limit {
				if err := fn(); err != nil {
					errOnce.Do(func() { firstE = err })
					next.Store(limit) // stop the others
					return
				}
			}
		}()
	}
	if b != nil {
		b.ResetTimer()
	}
	cpu0 := cpuTime()
	close(start)
	wg.Wait()
	if b != nil {
		b.StopTimer()
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "ops/s")
		if unit != "" {
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
		}
	}
	return firstE
}
