package bench

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// GET and SET of large values over plain TCP: g goroutines share one client (opened as
// for the parallel benchmarks) and do b.N commands on g keys (one per goroutine) of
// size bytes. GET takes the value the way each client's API hands it over
// (viewer.getView): respring AppendBytes into the goroutine's reused buffer, rueidis
// AsBytes, go-redis Bytes (both the bytes the client read the value into; no copy into
// the benchmark's buffer). SET sends the same value each time (rueidis as a string made
// once; respring as the []byte, and as that string for client=respring-str).
//
// Warm-up, the same for every client: largeWarm commands of the same kind on a 256 KiB
// value (its own key), then 2 per goroutine on the benchmark's value, then a GC. The
// first part brings each client to its steady state, as the 2048 warm-up commands of
// the parallel benchmarks do: respring's ring makes a slot's buffers and wake-up
// channel the first time the slot is used (about 1.2 KB a slot, 1024 slots), where
// rueidis allocates its ring when it connects. With 2 warm-up commands alone, those
// first uses were most of respring's B/op, since a 1 s run of 1 MiB SETs is ~3,500
// commands and one of 16 MiB ~75 (bench/RESULTS.md).
//
//	LargeGet/{1MiB,16MiB}/g{1,8}/client=NAME
//	LargeSet/{1MiB,16MiB}/g{1,8}/client=NAME
//
// With BENCH_LARGE_CONNS=1 both also run respring-2conn and rueidis-1conn (see openKV).
//
// Besides ns/op, B/op, allocs/op, cpu-ns/op and srv-cpu-ns/op: ops/s and MB/s (value
// bytes per second). The keys stay in the server after the benchmark (136 MiB in all).

var (
	largeSizes      = []int{1 << 20, 16 << 20}
	largeGoroutines = []int{1, 8}
	largeClients    = []string{"respring", "rueidis", "goredis"}
	// largeSetClients adds respring given the value as a string, as rueidis is.
	largeSetClients = []string{"respring", "respring-str", "rueidis", "goredis"}
)

// largeWarm is the number of warm-up commands on a mid-size value (see above): one
// for each slot of respring's ring (Config.RingSize's default).
const largeWarm = 1024

func BenchmarkLargeGet(b *testing.B) { benchLarge(b, false) }
func BenchmarkLargeSet(b *testing.B) { benchLarge(b, true) }

func benchLarge(b *testing.B, isSet bool) {
	for _, size := range largeSizes {
		for _, g := range largeGoroutines {
			clients := largeClients
			if isSet {
				clients = largeSetClients
			}
			if os.Getenv("BENCH_LARGE_CONNS") == "1" {
				clients = append(slices.Clone(clients), "respring-2conn", "rueidis-1conn")
			}
			for _, name := range clients {
				b.Run(fmt.Sprintf("%s/g%d/client=%s", sizeName(size), g, name), func(b *testing.B) {
					b.SetBytes(int64(size))
					runKVAt(b, kvRun{ep: plain(b), name: name, size: size, g: g, isSet: isSet,
						view: true, keys: g, warm: 2 * g, warmMid: largeWarm})
				})
			}
		}
	}
}
