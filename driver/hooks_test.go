package driver

import (
	"context"
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// Config.Resolve picks the address at every (re)connect, Reconnect moves the
// connection there, Init runs on every connection, OnDisconnect is told of each loss.
func TestHooksResolveInitReconnect(t *testing.T) {
	a, b := startServer(t), startServer(t)
	var target atomic.Pointer[redistest.Server]
	target.Store(a)
	var lost atomic.Int32
	var self atomic.Pointer[PairedConn]
	var lostAt atomic.Pointer[string]
	c := pairedTo(t, a, Config{
		Resolve: func(context.Context) (string, error) { return target.Load().Addr, nil },
		Init:    [][]string{{"INCR", "inits"}, {"SET", "here", "yes"}},
		OnDisconnect: func(error) {
			lost.Add(1)
			if c := self.Load(); c != nil {
				at := c.Addr() // no connection now: ""
				lostAt.Store(&at)
			}
		},
		HealthCheck: -1,
	})
	defer c.Close()
	self.Store(c)
	if c.Addr() != a.Addr {
		t.Fatalf("Addr() = %q, want a's %q", c.Addr(), a.Addr)
	}
	ctx := testCtx(t, 10*time.Second)
	if n, err := c.Send("GET", "inits").Int(ctx); err != nil || n != 1 {
		t.Fatalf("inits on a = %d, %v", n, err)
	}
	target.Store(b)
	c.Reconnect()
	waitFor(t, func() bool { return c.Reconnects() == 1 && c.Connected() })
	if got, err := c.Send("GET", "here").String(ctx); err != nil || got != "yes" {
		t.Fatalf("GET here on b = %q, %v", got, err)
	}
	if n, _ := c.Send("GET", "inits").Int(ctx); n != 1 || b.MustDo("GET", "inits").Text() != "1" {
		t.Fatalf("Init did not run once on b")
	}
	if lost.Load() != 1 {
		t.Fatalf("OnDisconnect called %d times, want 1", lost.Load())
	}
	if at := lostAt.Load(); at == nil || *at != "" || c.Addr() != b.Addr {
		t.Fatalf("Addr() in OnDisconnect = %v, now %q; want \"\", then b's %q", at, c.Addr(), b.Addr)
	}
	// An Init command refused by the server fails the connection attempt.
	_, err := PairedConnect(ctx, Config{Addr: a.Addr, Init: [][]string{{"NOSUCHCOMMAND"}}})
	var he *HandshakeError
	if !errors.As(err, &he) || he.Step != "NOSUCHCOMMAND" {
		t.Fatalf("bad Init: %v, want a *HandshakeError at NOSUCHCOMMAND", err)
	}
	// Verify sees the new connection: a refusal fails the attempt.
	notMaster := errors.New("not the master")
	_, err = PairedConnect(ctx, Config{Addr: a.Addr, Verify: func(do func(args ...string) (parser.Value, error)) error {
		v, err := do("ROLE")
		if err != nil {
			return err
		}
		if v.Elems()[0].Text() == "master" {
			return notMaster // a stand-in: refuse the master
		}
		return nil
	}})
	if !errors.As(err, &he) || he.Step != "Verify" || !errors.Is(err, notMaster) {
		t.Fatalf("Verify refusal: %v", err)
	}
	// A Resolve error fails the dial.
	_, err = PairedConnect(ctx, Config{Resolve: func(context.Context) (string, error) { return "", errors.New("no master") }})
	if err == nil || err.Error() != "no master" {
		t.Fatalf("Resolve error: %v", err)
	}
}

// The address Resolve gives is the one TLS checks the certificate against (the
// ServerName's default), not Addr: a resolved data node is verified as itself.
func TestResolveTLSServerName(t *testing.T) {
	certs := redistest.NewCerts(t)
	_, tlsAddr := redistest.StartTLS(t, certs, "no")
	ctx := testCtx(t, 10*time.Second)
	c, err := PairedConnect(ctx, Config{
		Addr:    "sentinel.invalid:26379", // not in the server's certificate
		Resolve: func(context.Context) (string, error) { return tlsAddr, nil },
		TLS:     &tls.Config{RootCAs: certs.CAPool},
	})
	if err != nil {
		t.Fatalf("TLS to the resolved address: %v", err)
	}
	defer c.Close()
	if got, err := c.Send("PING").String(ctx); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
}
