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
