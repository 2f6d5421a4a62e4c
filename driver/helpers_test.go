package driver

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
)

// testCtx returns a context bounded well inside the test timeout.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkGoroutines records the goroutine count now and, at cleanup, fails the test if
// it has not come back to it within a few seconds.
func checkGoroutines(t *testing.T) {
	t.Helper()
	// The process-wide output poller starts with the first write the socket does not
	// take at once and stays: start it first, so that it is not taken for a leak.
	_, _ = theOutPoller()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		n := runtime.NumGoroutine()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		if n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: %d before, %d after Close\n%s", before, n, buf)
		}
	})
}

func startServer(t *testing.T, extra ...string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, extra...)
}

// freshConn connects with cfg to a fresh server: the connection closes with the test,
// and ctx ends after d.
func freshConn(t *testing.T, cfg Config, d time.Duration) (*PairedConn, context.Context) {
	t.Helper()
	c := pairedTo(t, startServer(t), cfg)
	t.Cleanup(func() { c.Close() })
	return c, testCtx(t, d)
}

func pairedTo(t *testing.T, s *redistest.Server, cfg Config) *PairedConn {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = s.Addr
	}
	c, err := PairedConnect(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatalf("PairedConnect: %v", err)
	}
	return c
}

// pubsubConnect connects a PubsubConn with cfg within ctx, closed with the test.
func pubsubConnect(t *testing.T, ctx context.Context, cfg Config) *PubsubConn {
	t.Helper()
	p, err := PubsubConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// clientIDs returns the ids of the server's clients named name.
func clientIDs(t *testing.T, s *redistest.Server, name string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(s.MustDo("CLIENT", "LIST").Text(), "\n") {
		if strings.Contains(line, " name="+name+" ") {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "id=") {
					ids = append(ids, f[3:])
				}
			}
		}
	}
	return ids
}

var errDeadlineExceeded = context.DeadlineExceeded

func fmtAll(c Config) string { return fmt.Sprintf("%v %+v %#v %s", c, c, c, c) }
