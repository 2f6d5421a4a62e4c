package bench

import (
	"fmt"
	"testing"
)

// Parallel GET and SET over TLS: the parallel benchmarks' work (runKV: g goroutines
// share one client and do b.N commands on 64 keys of 16-byte values, after the same
// warm-up) against the same server's TLS port (REDIS_BENCH_TLS_ADDR, its CA in
// REDIS_BENCH_TLS_CA; both set by run.sh), every client with the same tls.Config:
// the CA as its only root, ServerName the address's host, TLS 1.2 or later (TLS 1.3
// is what each negotiates with redis-server). srv-cpu-ns/op is read over TLS too.
// Without REDIS_BENCH_TLS_ADDR these benchmarks skip.
//
//	TLSGet/16B/g{1,64,512}/client=NAME
//	TLSSet/16B/g{1,64,512}/client=NAME
//
// Compare them with Get/16B and Set/16B of the same run for the cost of TLS.

var (
	tlsSizes   = []int{16}
	tlsClients = []string{"respring", "rueidis", "goredis", "goredis-auto"}
)

func BenchmarkTLSGet(b *testing.B) { benchTLS(b, false) }
func BenchmarkTLSSet(b *testing.B) { benchTLS(b, true) }

func benchTLS(b *testing.B, isSet bool) {
	for _, size := range tlsSizes {
		for _, g := range parGoroutines {
			for _, name := range tlsClients {
				b.Run(fmt.Sprintf("%s/g%d/client=%s", sizeName(size), g, name), func(b *testing.B) {
					runKVAt(b, kvRun{ep: tlsEndpoint(b), name: name, size: size, g: g, isSet: isSet,
						keys: parKeys, warm: max(warmOpsPerSlot*g, 2048)})
				})
			}
		}
	}
}
