package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net"
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

// tlsAddrEnv names the TLS port of the same server (host:port), and tlsCAEnv the PEM
// file of the certificate authority that signed its certificate (which must be valid
// for the host). The TLS benchmarks skip when tlsAddrEnv is unset.
const (
	tlsAddrEnv = "REDIS_BENCH_TLS_ADDR"
	tlsCAEnv   = "REDIS_BENCH_TLS_CA"
)

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

// endpoint is where a client connects: addr, with TLS when tls is not nil. Each client
// is given its own clone of tls.
type endpoint struct {
	addr string
	tls  *tls.Config
}

// plain is the endpoint of the benchmark server's TCP port, or skips b.
func plain(b *testing.B) endpoint { return endpoint{addr: serverAddr(b)} }

// tlsEndpoint returns the benchmark server's TLS port with a client configuration
// that trusts only the CA in tlsCAEnv and checks the certificate for the address's
// host (ServerName set explicitly, so that every client checks the same name), or
// skips b if tlsAddrEnv is unset.
func tlsEndpoint(b *testing.B) endpoint {
	b.Helper()
	a := os.Getenv(tlsAddrEnv)
	if a == "" {
		b.Skip(tlsAddrEnv + " is not set (run bench/run.sh, or point it and " + tlsCAEnv + " at a throwaway redis-server's TLS port)")
	}
	cfg, err := tlsClientConfig(a, os.Getenv(tlsCAEnv))
	if err != nil {
		b.Fatal(err)
	}
	return endpoint{addr: a, tls: cfg}
}

func tlsClientConfig(addr, caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, fmt.Errorf("%s is set but %s (the CA's PEM file) is not", tlsAddrEnv, tlsCAEnv)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tlsCAEnv, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate in %s", tlsCAEnv, caFile)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tlsAddrEnv, err)
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// tlsConf returns a clone of the endpoint's TLS configuration (nil for plain TCP).
func (e endpoint) tlsConf() *tls.Config {
	if e.tls == nil {
		return nil
	}
	return e.tls.Clone()
}

// dialRedigo opens a redigo connection to the endpoint.
func (e endpoint) dialRedigo() (redis.Conn, error) {
	if e.tls == nil {
		return redis.Dial("tcp", e.addr)
	}
	return redis.Dial("tcp", e.addr, redis.DialUseTLS(true), redis.DialTLSConfig(e.tlsConf()))
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

// sizeName names a value size the way the benchmark names do: 16B, 1KiB, 16MiB.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
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
	return newServerCPUAt(b, endpoint{addr: addr})
}

// newServerCPUAt is newServerCPU with its control connection to ep (e.g. over TLS).
func newServerCPUAt(b *testing.B, ep endpoint) *serverCPU {
	b.Helper()
	c, err := ep.dialRedigo()
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
