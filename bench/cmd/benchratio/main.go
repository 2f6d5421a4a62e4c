// Command benchratio reads Go benchmark output of the bench module (and redis-benchmark
// figures converted to the same format by run.sh) and prints, as Markdown, respring's
// ratio to each peer and whether each target of the side-by-side comparison is met.
//
// Usage:
//
//	benchratio results.txt [redis-benchmark.txt ...]
//
// Every figure is the median of the runs found for it. A ratio above 1 means respring
// is better: peer/respring for costs (time, CPU, bytes, latency), respring/peer for
// rates (ops/s, msgs/s).
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

const self = "respring"

// peers are the columns after respring, in order.
var peers = []string{"rueidis", "goredis", "goredis-auto", "redigo"}

// sample is every value of one (benchmark, client, unit).
type key struct{ bench, client, unit string }

type results struct {
	vals    map[key][]float64
	benches []string // benchmark names without the client, in order of appearance
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchratio results.txt [redis-benchmark.txt ...]")
		os.Exit(2)
	}
	r := newResults()
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchratio:", err)
			os.Exit(1)
		}
		err = r.read(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchratio:", name+":", err)
			os.Exit(1)
		}
	}
	r.writeRatios(os.Stdout)
	fmt.Println()
	r.writeTargets(os.Stdout)
}

func newResults() *results { return &results{vals: map[key][]float64{}} }

// read adds every benchmark line of rd: "BenchmarkX/.../client=NAME-P  N  v unit  v unit".
func (r *results) read(rd io.Reader) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		bench, client, ok := splitName(f[0])
		if !ok {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		seen := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("bad value %q in %q", f[i], sc.Text())
			}
			k := key{bench, client, f[i+1]}
			r.vals[k] = append(r.vals[k], v)
			seen = true
		}
		if seen && !slices.Contains(r.benches, bench) {
			r.benches = append(r.benches, bench)
		}
	}
	return sc.Err()
}

// splitName turns "BenchmarkGet/16B/g512/client=respring-2" into ("Get/16B/g512",
// "respring").
func splitName(name string) (bench, client string, ok bool) {
	name = strings.TrimPrefix(name, "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	i := strings.LastIndex(name, "/client=")
	if i < 0 {
		return "", "", false
	}
	return name[:i], name[i+len("/client="):], true
}

// median returns the median of (bench, client, unit), or NaN if there is none.
func (r *results) median(bench, client, unit string) float64 {
	v := slices.Clone(r.vals[key{bench, client, unit}])
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r *results) runs(bench, client, unit string) int { return len(r.vals[key{bench, client, unit}]) }

// higherIsBetter tells rates from costs.
func higherIsBetter(unit string) bool { return strings.HasSuffix(unit, "/s") }

// advantage is how many times better respring's figure is than the peer's.
func advantage(unit string, mine, peer float64) float64 {
	if higherIsBetter(unit) {
		return mine / peer
	}
	return peer / mine
}

// headline lists the metrics shown for a benchmark family.
func headline(bench string) []string {
	switch family(bench) {
	case "Get", "Set", "TLSGet", "TLSSet":
		return []string{"ops/s", "cpu-ns/op", "allocs/op"}
	case "LargeGet", "LargeSet":
		return []string{"ops/s", "B/op", "cpu-ns/op"}
	case "Pipeline", "Batch", "Tx":
		return []string{"ops/s", "cpu-ns/op", "allocs/op"}
	case "Latency":
		return []string{"p50-ns", "p99-ns", "allocs/op"}
	case "Conns":
		return []string{"heap-B/conn", "stack-B/conn", "goroutines"}
	case "Pubsub":
		return []string{"msgs/s", "cpu-ns/op", "allocs/op"}
	}
	return []string{"ns/op"}
}

func family(bench string) string {
	if i := strings.IndexByte(bench, '/'); i >= 0 {
		return bench[:i]
	}
	return bench
}

// writeRatios prints one row per benchmark and headline metric.
func (r *results) writeRatios(w io.Writer) {
	fmt.Fprintln(w, "### respring vs peers (medians; (Nx) = how many times better respring is)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| benchmark | metric | %s |", self)
	for _, p := range peers {
		fmt.Fprintf(w, " %s |", p)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|---|---:|")
	for range peers {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, b := range r.benches {
		if r.runs(b, self, "ns/op") == 0 && r.runs(b, self, headline(b)[0]) == 0 {
			continue // not a side-by-side benchmark (e.g. redis-benchmark figures)
		}
		for _, unit := range headline(b) {
			mine := r.median(b, self, unit)
			fmt.Fprintf(w, "| %s | %s | %s |", b, unit, human(mine))
			for _, p := range peers {
				v := r.median(b, p, unit)
				switch {
				case math.IsNaN(v):
					fmt.Fprint(w, " - |")
				case math.IsNaN(mine) || v == 0 || mine == 0:
					fmt.Fprintf(w, " %s |", human(v))
				default:
					fmt.Fprintf(w, " %s (%.2fx) |", human(v), advantage(unit, mine, v))
				}
			}
			fmt.Fprintln(w)
		}
	}
}

// target is one goal of issue 4.
type target struct {
	name  string
	check func(r *results) (figure string, met, known bool)
}

var targets = []target{
	{"parallel GET 16 B, 512 goroutines: ops/s >= 3x rueidis", func(r *results) (string, bool, bool) {
		return ratioTarget(r, "Get/16B/g512", self, "Get/16B/g512", "rueidis", "ops/s", 3)
	}},
	{"parallel GET 16 B, 512 goroutines: client CPU <= 1 us/op", func(r *results) (string, bool, bool) {
		v := r.median("Get/16B/g512", self, "cpu-ns/op")
		return fmt.Sprintf("%s ns/op", human(v)), v <= 1000, !math.IsNaN(v)
	}},
	{"parallel GET 16 B, 512 goroutines: 0 allocs/op", func(r *results) (string, bool, bool) {
		v := r.median("Get/16B/g512", self, "allocs/op")
		return fmt.Sprintf("%s allocs/op", human(v)), v == 0, !math.IsNaN(v)
	}},
	{"pipelined, one goroutine: ops/s >= 0.8x redis-benchmark -c 1 -P 128", func(r *results) (string, bool, bool) {
		return ratioTarget(r, "Pipeline/16B/depth1000", self, "RedisBenchmark/get16B/c1-P128", "redis-benchmark", "ops/s", 0.8)
	}},
	{"round trip, one goroutine: p50 <= 1.1x redis-benchmark -c 1 -P 1", func(r *results) (string, bool, bool) {
		mine := r.median("Latency/16B", self, "p50-ns")
		ref := r.median("RedisBenchmark/get16B/c1-P1", "redis-benchmark", "p50-ns")
		if math.IsNaN(mine) || math.IsNaN(ref) || ref == 0 {
			return "missing", false, false
		}
		q := mine / ref
		return fmt.Sprintf("%.2fx (%s ns vs %s ns)", q, human(mine), human(ref)), q <= 1.1, true
	}},
	{"10,000 idle connections: goroutines independent of the count", func(r *results) (string, bool, bool) {
		g1 := r.median("Conns/n1000", self, "goroutines")
		g10 := r.median("Conns/n10000", self, "goroutines")
		if math.IsNaN(g1) || math.IsNaN(g10) {
			return "missing", false, false
		}
		return fmt.Sprintf("%s goroutines at 1,000, %s at 10,000", human(g1), human(g10)), g10 <= g1+1, true
	}},
	{"10,000 idle connections: heap <= 32 KiB per connection", func(r *results) (string, bool, bool) {
		v := r.median("Conns/n10000", self, "heap-B/conn")
		return fmt.Sprintf("%.1f KiB/conn", v/1024), v <= 32<<10, !math.IsNaN(v)
	}},
	{"pubsub receive: msgs/s >= 2x go-redis", func(r *results) (string, bool, bool) {
		fig, met, known := ratioTarget(r, "Pubsub/16B", self, "Pubsub/16B", "goredis", "msgs/s", 2)
		// The raw socket reader (no parsing) shows what the server can deliver at all.
		if raw, mine := r.median("Pubsub/16B", "raw", "msgs/s"), r.median("Pubsub/16B", self, "msgs/s"); known && !math.IsNaN(raw) && raw > 0 {
			fig += fmt.Sprintf("; ceiling (raw socket reader) %s msgs/s, respring %.0f%% of it", human(raw), 100*mine/raw)
		}
		return fig, met, known
	}},
}

// batchTargets are the goals for batches and transactions: at every goroutine count,
// ops/s >= 2x rueidis and 0 allocs/op.
func batchTargets() []target {
	var ts []target
	for _, w := range []struct{ bench, what string }{
		{"Batch/16B/n10", "batch of 10 GETs"},
		{"Batch/16B/n100", "batch of 100 GETs"},
		{"Tx/incr2", "transaction of 2 INCRs"},
	} {
		for _, g := range []int{1, 64, 512} {
			bench := fmt.Sprintf("%s/g%d", w.bench, g)
			where := fmt.Sprintf("%s, %d goroutines", w.what, g)
			if g == 1 {
				where = w.what + ", 1 goroutine"
			}
			ts = append(ts,
				target{where + ": ops/s >= 2x rueidis", func(r *results) (string, bool, bool) {
					return ratioTarget(r, bench, self, bench, "rueidis", "ops/s", 2)
				}},
				target{where + ": 0 allocs/op", func(r *results) (string, bool, bool) {
					v := r.median(bench, self, "allocs/op")
					return fmt.Sprintf("%s allocs/op", human(v)), v == 0, !math.IsNaN(v)
				}})
		}
	}
	return ts
}

// tlsTargets are the goals over TLS (TLSGet, TLSSet), at 512 goroutines: ops/s >= 2.5x
// rueidis over TLS, >= 0.75x respring over plain TCP in the same run (Get, Set), and
// 0 allocs/op.
func tlsTargets() []target {
	var ts []target
	for _, w := range []struct{ bench, plain, what string }{
		{"TLSGet/16B/g512", "Get/16B/g512", "GET"},
		{"TLSSet/16B/g512", "Set/16B/g512", "SET"},
	} {
		where := "parallel " + w.what + " 16 B over TLS, 512 goroutines"
		ts = append(ts,
			target{where + ": ops/s >= 2.5x rueidis over TLS", func(r *results) (string, bool, bool) {
				return ratioTarget(r, w.bench, self, w.bench, "rueidis", "ops/s", 2.5)
			}},
			target{where + ": ops/s >= 0.75x respring over plain TCP", func(r *results) (string, bool, bool) {
				return ratioTarget(r, w.bench, self, w.plain, self, "ops/s", 0.75)
			}},
			target{where + ": 0 allocs/op", func(r *results) (string, bool, bool) {
				v := r.median(w.bench, self, "allocs/op")
				return fmt.Sprintf("%s allocs/op", human(v)), v == 0, !math.IsNaN(v)
			}})
	}
	return ts
}

// largePeers are the clients of the large-value benchmarks besides respring.
var largePeers = []string{"rueidis", "goredis"}

// largeTargets are the goals for large values (LargeGet, LargeSet): respring ahead of
// every peer in ops/s and in B/op, for each size and goroutine count.
func largeTargets() []target {
	var ts []target
	for _, op := range []struct{ family, what string }{{"LargeGet", "GET"}, {"LargeSet", "SET"}} {
		for _, size := range []string{"1MiB", "16MiB"} {
			for _, g := range []int{1, 8} {
				bench := fmt.Sprintf("%s/%s/g%d", op.family, size, g)
				where := fmt.Sprintf("%s %s, %d goroutines", op.what, strings.Replace(size, "MiB", " MiB", 1), g)
				if g == 1 {
					where = fmt.Sprintf("%s %s, 1 goroutine", op.what, strings.Replace(size, "MiB", " MiB", 1))
				}
				for _, m := range []struct{ unit, what string }{{"ops/s", "ops/s"}, {"B/op", "B/op"}} {
					ts = append(ts, target{where + ": " + m.what + " ahead of every peer", func(r *results) (string, bool, bool) {
						return aheadTarget(r, bench, m.unit, largePeers)
					}})
				}
			}
		}
	}
	return ts
}

// aheadTarget checks that respring's figure of bench is better than every peer's:
// higher for a rate, lower for a cost (for a cost, 0 is as good as it gets and also
// counts as ahead of a peer's 0). The figure lists the advantage over each peer.
func aheadTarget(r *results, bench, unit string, peers []string) (string, bool, bool) {
	mine := r.median(bench, self, unit)
	if math.IsNaN(mine) {
		return "missing", false, false
	}
	met := true
	parts := make([]string, 0, len(peers))
	for _, p := range peers {
		v := r.median(bench, p, unit)
		if math.IsNaN(v) {
			return "missing " + p, false, false
		}
		switch {
		case !higherIsBetter(unit) && mine == 0:
			parts = append(parts, fmt.Sprintf("%s %s", p, human(v)))
		case mine == 0 || v == 0:
			parts = append(parts, fmt.Sprintf("%s %s", p, human(v)))
			met = met && advantage(unit, mine, v) > 1
		default:
			q := advantage(unit, mine, v)
			parts = append(parts, fmt.Sprintf("%.2fx %s (%s)", q, p, human(v)))
			met = met && q > 1
		}
	}
	return fmt.Sprintf("%s %s; %s", human(mine), unit, strings.Join(parts, ", ")), met, true
}

func init() {
	targets = append(targets, batchTargets()...)
	targets = append(targets, tlsTargets()...)
	targets = append(targets, largeTargets()...)
}

// ratioTarget checks mine/ref >= want for a rate unit.
func ratioTarget(r *results, bench, client, refBench, refClient, unit string, want float64) (string, bool, bool) {
	mine := r.median(bench, client, unit)
	ref := r.median(refBench, refClient, unit)
	if math.IsNaN(mine) || math.IsNaN(ref) || ref == 0 {
		return "missing", false, false
	}
	q := mine / ref
	return fmt.Sprintf("%.2fx (%s vs %s %s)", q, human(mine), human(ref), unit), q >= want, true
}

func (r *results) writeTargets(w io.Writer) {
	fmt.Fprintln(w, "### Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | respring | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, t := range targets {
		fig, met, known := t.check(r)
		verdict := "not met"
		switch {
		case !known:
			verdict = "not measured"
		case met:
			verdict = "met"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.name, fig, verdict)
	}
}

// human prints a figure with 3-4 significant digits and a k/M suffix.
func human(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 10e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 100e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 10e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
