package driver

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
)

// tlsProxied connects over TLS to a fresh TLS server through a fault proxy, with cfg
// (Addr and TLS set here); the connection is closed at the test's end.
func tlsProxied(t *testing.T, cfg Config) (*PairedConn, *faultproxy.Proxy) {
	t.Helper()
	_, addr, certs := tlsServer(t, "no")
	px := faultproxy.Start(t, addr)
	cfg.Addr, cfg.TLS = px.Addr, &tls.Config{RootCAs: certs.CAPool}
	c, err := PairedConnect(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, px
}

// A TLS connection reset (RST) at many offsets of a reply's record: in its header,
// at the start of its body, in the middle, just before its end. crypto/tls is left
// with part of a record; the cut command fails with ErrConnLost, the connection comes
// back with a new TLS session, and the next command gets its own reply.
func TestTLSResetAtOffsets(t *testing.T) {
	checkGoroutines(t)
	c, px := tlsProxied(t, Config{})
	// "$1000\r\n" + 1000 + "\r\n": one TLS 1.3 record of 5 + 1007 + 17 bytes.
	resetAtOffsets(t, c, px, []int64{0, 1, 4, 5, 6, 500, 1011, 1020})
}

// A blackholed TLS connection is declared dead by the health check, and comes back
// over TLS; a slow one (replies delayed by less than the interval) is not.
func TestTLSHealthCheckBlackhole(t *testing.T) {
	checkGoroutines(t)
	c, px := tlsProxied(t, Config{HealthCheck: 200 * time.Millisecond})
	ctx := testCtx(t, 20*time.Second)
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
	px.Delay(100 * time.Millisecond)
	for range 5 {
		if v, err := c.Send("GET", "k").String(ctx); err != nil || v != "v" {
			t.Fatalf("GET over a slow connection: %q, %v", v, err)
		}
	}
	if n := c.Reconnects(); n != 0 {
		t.Fatalf("%d reconnects of a slow, live connection", n)
	}
	px.Delay(0)
	px.Blackhole()
	err := c.Send("GET", "k").Err(ctx)
	if !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrHealthCheck) {
		t.Fatalf("GET on a blackholed connection: %v", err)
	}
	if v, err := c.Send("GET", "k").String(ctx); err != nil || v != "v" {
		t.Fatalf("GET after the reconnect: %q, %v", v, err)
	}
	if c.Reconnects() == 0 {
		t.Fatal("no reconnect")
	}
}
