package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkGet/16B/g512/client=respring-2   100  1000 ns/op  900 cpu-ns/op  1000000 ops/s  0 B/op  0 allocs/op
BenchmarkGet/16B/g512/client=respring-2   100  1200 ns/op  900 cpu-ns/op  800000 ops/s  0 B/op  0 allocs/op
BenchmarkGet/16B/g512/client=respring-2   100  1100 ns/op  900 cpu-ns/op  900000 ops/s  0 B/op  0 allocs/op
BenchmarkGet/16B/g512/client=rueidis-2    100  3000 ns/op  3000 cpu-ns/op 300000 ops/s  16 B/op  1 allocs/op
BenchmarkRedisBenchmark/get16B/c1-P128/client=redis-benchmark 1000000 500 ns/op 2000000 ops/s
BenchmarkPipeline/16B/depth1000/client=respring-2 1000 600 ns/op 1700000 ops/s
PASS
`

const pubsubSample = `BenchmarkPubsub/16B/client=respring-2   100  450 ns/op  2000000 msgs/s
BenchmarkPubsub/16B/client=goredis-2    100  800 ns/op  1200000 msgs/s
BenchmarkPubsub/16B/client=raw-2        100  400 ns/op  2500000 msgs/s
`

func TestParseAndTargets(t *testing.T) {
	r := newResults()
	if err := r.read(strings.NewReader(sample)); err != nil {
		t.Fatal(err)
	}
	if got := r.median("Get/16B/g512", "respring", "ops/s"); got != 900000 {
		t.Errorf("median ops/s = %v, want 900000", got)
	}
	if got := r.median("Get/16B/g512", "respring", "ns/op"); got != 1100 {
		t.Errorf("median ns/op = %v, want 1100", got)
	}
	var sb strings.Builder
	r.writeRatios(&sb)
	r.writeTargets(&sb)
	out := sb.String()
	for _, want := range []string{
		"| Get/16B/g512 | ops/s | 900k | 300k (3.00x) |",
		"| Get/16B/g512 | cpu-ns/op | 900 | 3000 (3.33x) |",
		"ops/s >= 3x rueidis | 3.00x (900k vs 300k ops/s) | met |",
		"0.85x (1.70M vs 2.00M ops/s) | met |",
		"pubsub receive: msgs/s >= 2x go-redis | missing | not measured |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPubsubCeiling(t *testing.T) {
	r := newResults()
	if err := r.read(strings.NewReader(pubsubSample)); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	r.writeRatios(&sb)
	r.writeTargets(&sb)
	want := "| pubsub receive: msgs/s >= 2x go-redis | 1.67x (2.00M vs 1.20M msgs/s); ceiling (raw socket reader) 2.50M msgs/s, respring 80% of it | not met |"
	if !strings.Contains(sb.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, sb.String())
	}
}

const batchSample = `BenchmarkBatch/16B/n10/g64/client=respring-2  100  5000 ns/op  200000 batches/s  2000000 ops/s  104 B/op  0 allocs/op
BenchmarkBatch/16B/n10/g64/client=rueidis-2   100  8000 ns/op  125000 batches/s  1250000 ops/s  768 B/op  13 allocs/op
BenchmarkTx/incr2/g1/client=respring-2        100  50000 ns/op  40000 ops/s  20000 tx/s  0 B/op  1 allocs/op
BenchmarkTx/incr2/g1/client=rueidis-2         100  40000 ns/op  50000 ops/s  25000 tx/s  352 B/op  6 allocs/op
BenchmarkGet/16B/g64/client=goredis-auto-2    100  4000 ns/op  250000 ops/s  240 B/op  4 allocs/op
BenchmarkGet/16B/g64/client=respring-2        100  1000 ns/op  1000000 ops/s  0 B/op  0 allocs/op
`

func TestBatchTargets(t *testing.T) {
	r := newResults()
	if err := r.read(strings.NewReader(batchSample)); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	r.writeRatios(&sb)
	r.writeTargets(&sb)
	out := sb.String()
	for _, want := range []string{
		"| respring | rueidis | goredis | goredis-auto | redigo |",
		"| Get/16B/g64 | ops/s | 1.00M | - | - | 250k (4.00x) | - |",
		"| Batch/16B/n10/g64 | allocs/op | 0 | 13 | - | - | - |",
		"| batch of 10 GETs, 64 goroutines: ops/s >= 2x rueidis | 1.60x (2.00M vs 1.25M ops/s) | not met |",
		"| batch of 10 GETs, 64 goroutines: 0 allocs/op | 0 allocs/op | met |",
		"| batch of 100 GETs, 512 goroutines: ops/s >= 2x rueidis | missing | not measured |",
		"| transaction of 2 INCRs, 1 goroutine: ops/s >= 2x rueidis | 0.80x (40.0k vs 50.0k ops/s) | not met |",
		"| transaction of 2 INCRs, 1 goroutine: 0 allocs/op | 1 allocs/op | not met |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSplitName(t *testing.T) {
	b, c, ok := splitName("BenchmarkConns/n1000/client=go-redis-2")
	if !ok || b != "Conns/n1000" || c != "go-redis" {
		t.Errorf("splitName = %q %q %v", b, c, ok)
	}
	b, c, ok = splitName("BenchmarkBatch/16B/n10/g64/client=goredis-auto")
	if !ok || b != "Batch/16B/n10/g64" || c != "goredis-auto" {
		t.Errorf("splitName = %q %q %v", b, c, ok)
	}
}

const tlsLargeSample = `BenchmarkGet/16B/g512/client=respring-2             100  1000 ns/op  1000000 ops/s  0 B/op  0 allocs/op
BenchmarkSet/16B/g512/client=respring-2             100  1000 ns/op  1000000 ops/s  0 B/op  0 allocs/op
BenchmarkTLSGet/16B/g512/client=respring-2          100  1250 ns/op  800000 ops/s   0 B/op  0 allocs/op
BenchmarkTLSGet/16B/g512/client=rueidis-2           100  4000 ns/op  250000 ops/s   80 B/op  2 allocs/op
BenchmarkTLSGet/16B/g512/client=goredis-auto-2      100  5000 ns/op  200000 ops/s   240 B/op  4 allocs/op
BenchmarkTLSSet/16B/g512/client=respring-2          100  2000 ns/op  500000 ops/s   8 B/op  1 allocs/op
BenchmarkTLSSet/16B/g512/client=rueidis-2           100  4000 ns/op  250000 ops/s   80 B/op  2 allocs/op
BenchmarkLargeGet/16MiB/g1/client=respring-2        10  10000000 ns/op  1677.72 MB/s  100 ops/s  20000000 B/op  5 allocs/op
BenchmarkLargeGet/16MiB/g1/client=rueidis-2         10  12500000 ns/op  1342.18 MB/s  80 ops/s  16800000 B/op  3 allocs/op
BenchmarkLargeGet/16MiB/g1/client=goredis-2         10  20000000 ns/op  838.86 MB/s  50 ops/s  16800000 B/op  4 allocs/op
BenchmarkLargeSet/1MiB/g8/client=respring-2         10  1000000 ns/op  1000 ops/s  0 B/op  0 allocs/op
BenchmarkLargeSet/1MiB/g8/client=rueidis-2          10  2000000 ns/op  500 ops/s  0 B/op  0 allocs/op
BenchmarkLargeSet/1MiB/g8/client=goredis-2          10  1500000 ns/op  667 ops/s  100 B/op  1 allocs/op
`

func TestTLSAndLargeTargets(t *testing.T) {
	r := newResults()
	if err := r.read(strings.NewReader(tlsLargeSample)); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	r.writeRatios(&sb)
	r.writeTargets(&sb)
	out := sb.String()
	for _, want := range []string{
		"| TLSGet/16B/g512 | ops/s | 800k | 250k (3.20x) | - | 200k (4.00x) | - |",
		"| LargeGet/16MiB/g1 | B/op | 20.0M | 16.8M (0.84x) | 16.8M (0.84x) | - | - |",
		"| LargeGet/16MiB/g1 | ops/s | 100 | 80 (1.25x) | 50 (2.00x) | - | - |",
		"| parallel GET 16 B over TLS, 512 goroutines: ops/s >= 2.5x rueidis over TLS | 3.20x (800k vs 250k ops/s) | met |",
		"| parallel GET 16 B over TLS, 512 goroutines: ops/s >= 0.75x respring over plain TCP | 0.80x (800k vs 1.00M ops/s) | met |",
		"| parallel GET 16 B over TLS, 512 goroutines: 0 allocs/op | 0 allocs/op | met |",
		"| parallel SET 16 B over TLS, 512 goroutines: ops/s >= 2.5x rueidis over TLS | 2.00x (500k vs 250k ops/s) | not met |",
		"| parallel SET 16 B over TLS, 512 goroutines: ops/s >= 0.75x respring over plain TCP | 0.50x (500k vs 1.00M ops/s) | not met |",
		"| parallel SET 16 B over TLS, 512 goroutines: 0 allocs/op | 1 allocs/op | not met |",
		"| GET 16 MiB, 1 goroutine: ops/s ahead of every peer | 100 ops/s; 1.25x rueidis (80), 2.00x goredis (50) | met |",
		"| GET 16 MiB, 1 goroutine: B/op ahead of every peer | 20.0M B/op; 0.84x rueidis (16.8M), 0.84x goredis (16.8M) | not met |",
		"| SET 1 MiB, 8 goroutines: ops/s ahead of every peer | 1000 ops/s; 2.00x rueidis (500), 1.50x goredis (667) | met |",
		"| SET 1 MiB, 8 goroutines: B/op ahead of every peer | 0 B/op; rueidis 0, goredis 100 | met |",
		"| GET 1 MiB, 1 goroutine: ops/s ahead of every peer | missing | not measured |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
