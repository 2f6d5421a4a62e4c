package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// addrEnv names the server every benchmark talks to (host:port). Unset: skip.
const addrEnv = "REDIS_BENCH_ADDR"

// clients is the order in which each benchmark runs the clients.
var clients = []string{"respring", "rueidis", "goredis", "redigo"}

// kvClients are the clients of the benchmarks built on openKV (parallel GET and SET,
// latency): clients plus go-redis's autopipeliner, which only changes how commands
// from concurrent callers share connections.
var kvClients = append(slices.Clone(clients), "goredis-auto")

// serverAddr returns the benchmark server's address, or skips b.
func serverAddr(b *testing.B) string {
	b.Helper()
	a := os.Getenv(addrEnv)
	if a == "" {
		b.Skip(addrEnv + " is not set (run bench/run.sh, or point it at a throwaway redis-server)")
	}
	return a
}

// envBool reads a boolean environment switch (unset: false).
func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

// benchCtx bounds one benchmark call, so a stuck client fails instead of hanging.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// cpuTime returns the user plus system CPU time of the whole process so far: the
// client's goroutines, its event loops and the benchmark harness (the server is
// another process).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sizeName names a value size the way the benchmark names do: 16B, 1KiB.
func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

// value returns n bytes of printable filler, as redis-benchmark's -d does.
func value(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

// serverCPU measures the server's CPU time (INFO cpu: used_cpu_user + used_cpu_sys)
// over a stretch of a benchmark, on a control connection of its own: near one second
// per second of wall time means the single-threaded server was the bottleneck, and no
// client could have gone faster.
type serverCPU struct {
	conn  redis.Conn
	start float64
}

func newServerCPU(b *testing.B, addr string) *serverCPU {
	b.Helper()
	c, err := redis.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &serverCPU{conn: c}
}

func (s *serverCPU) read() float64 {
	info, err := redis.String(s.conn.Do("INFO", "cpu"))
	if err != nil {
		return math.NaN()
	}
	var sum float64
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}

// begin marks the start of the measured stretch.
func (s *serverCPU) begin() { s.start = s.read() }

// report adds srv-cpu-ns/op: the server's CPU time since begin per operation.
func (s *serverCPU) report(b *testing.B) {
	d := s.read() - s.start
	b.ReportMetric(d*1e9/float64(b.N), "srv-cpu-ns/op")
}
