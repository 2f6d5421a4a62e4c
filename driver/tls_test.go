package driver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
)

func tlsServer(t *testing.T, authClients string, extra ...string) (*redistest.Server, string, *redistest.Certs) {
	t.Helper()
	certs := redistest.NewCerts(t)
	s, addr := redistest.StartTLS(t, certs, authClients, extra...)
	return s, addr, certs
}

// tlsPaired connects over TLS to a fresh TLS server (client certificates not asked
// for); the caller closes the connection.
func tlsPaired(t *testing.T) *PairedConn {
	t.Helper()
	_, addr, certs := tlsServer(t, "no")
	c, err := PairedConnect(testCtx(t, 10*time.Second), Config{Addr: addr, TLS: &tls.Config{RootCAs: certs.CAPool}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// decrypt feeds cipher to s and appends all the plaintext TLS can produce to dst,
// growing it as needed (the loop reads into a buffer it sized, see tlsTraffic).
func decrypt(s *tlsState, dst, cipher []byte) (out, reply []byte, err error) {
	s.feed(cipher)
	for {
		if cap(dst)-len(dst) < 512 {
			dst = append(dst, make([]byte, max(16<<10, len(dst)))...)[:len(dst)]
		}
		full, r, err := s.read(&dst)
		reply = append(reply, r...)
		if err != nil || !full {
			return dst, reply, err
		}
	}
}

// plainAndTLS runs fn as two subtests, on a connection to a fresh server over plain
// TCP and on one over TLS.
func plainAndTLS(t *testing.T, fn func(t *testing.T, c *PairedConn)) {
	t.Run("plain", func(t *testing.T) {
		c := pairedTo(t, startServer(t), Config{})
		defer c.Close()
		fn(t, c)
	})
	t.Run("tls", func(t *testing.T) {
		c := tlsPaired(t)
		defer c.Close()
		fn(t, c)
	})
}

// Over TLS, driven from the event loop: commands, a 64 MiB value, a deep pipeline,
// pub/sub, reconnect after CLIENT KILL, RESP2, both TLS versions.
func TestTLSPairedAndPubsub(t *testing.T) {
	checkGoroutines(t)
	s, addr, certs := tlsServer(t, "no")
	ctx := testCtx(t, 60*time.Second)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := Config{Addr: addr, ClientName: "tls" + strconv.Itoa(int(version)),
			TLS: &tls.Config{RootCAs: certs.CAPool, MinVersion: version, MaxVersion: version}}
		c, err := PairedConnect(ctx, cfg)
		if err != nil {
			t.Fatalf("TLS %x: %v", version, err)
		}
		if v, err := c.Do(ctx, "PING"); err != nil || v.Text() != "PONG" {
			t.Fatalf("PING: %v %v", v, err)
		}
		big := bytes.Repeat([]byte("0123456789abcdef"), tlsBigValue/16)
		if err := c.Send("SET", "big", big).Err(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := c.Send("GET", "big").AppendBytes(ctx, nil)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("%d MiB GET: %d bytes, %v", tlsBigValue>>20, len(got), err)
		}
		// A large string argument is attached, not copied: encrypted from where it is.
		sbig := strings.Repeat("fedcba9876543210", (1<<20)/16)
		if err := c.Send("SET", "sbig", sbig).Err(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Send("GET", "sbig").AppendBytes(ctx, nil); err != nil || string(got) != sbig {
			t.Fatalf("1 MiB string SET, GET: %d bytes, %v", len(got), err)
		}
		key := "pipelined" + strconv.Itoa(int(version))
		for i := 0; i < 10000; i++ {
			c.SendAndForget("INCR", key)
		}
		if n, err := c.Send("GET", key).Int(ctx); err != nil || n != 10000 || c.ForgottenErrors() != 0 {
			t.Fatalf("10k pipelined INCR: %d, %v, %d errors", n, err, c.ForgottenErrors())
		}
		// CLIENT KILL: the connection comes back, over TLS again.
		for _, id := range clientIDs(t, s, cfg.ClientName) {
			s.MustDo("CLIENT", "KILL", "ID", id)
		}
		waitFor(t, func() bool { v, err := c.Do(ctx, "PING"); return err == nil && v.Text() == "PONG" })
		if c.Reconnects() == 0 {
			t.Fatal("no reconnect after CLIENT KILL")
		}
		c.Close()
	}

	// RESP2 and pub/sub over TLS.
	cfg := Config{Addr: addr, Protocol: 2, TLS: &tls.Config{RootCAs: certs.CAPool}}
	c, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Protocol() != 2 {
		t.Fatalf("protocol %d", c.Protocol())
	}
	p := pubsubConnect(t, ctx, cfg)
	sub, err := p.Subscribe(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Send("PUBLISH", "news", "over tls").Int(ctx); err != nil || n != 1 {
		t.Fatalf("PUBLISH: %d %v", n, err)
	}
	if m := recvMsg(t, sub); string(m.Payload) != "over tls" {
		t.Fatalf("message %q", m.Payload)
	}

	// rediss:// sets TLS with the URL's host as ServerName.
	u, err := ParseURL("rediss://localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/2")
	if err != nil || u.TLS == nil || u.TLS.ServerName != "localhost" {
		t.Fatalf("ParseURL: %+v %v", u, err)
	}
	u.TLS.RootCAs = certs.CAPool
	uc, err := PairedConnect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if info, err := uc.Send("CLIENT", "INFO").String(ctx); err != nil || !strings.Contains(info, " db=2 ") {
		t.Fatalf("rediss:// connection: %q %v", info, err)
	}
}

// Bad certificates and missing client certificates are refused with a *HandshakeError
// wrapping the TLS or x509 error; the right client certificate is accepted.
func TestTLSRefusals(t *testing.T) {
	checkGoroutines(t)
	_, addr, certs := tlsServer(t, "yes")
	ctx := testCtx(t, 20*time.Second)
	try := func(tc *tls.Config) error {
		c, err := PairedConnect(ctx, Config{Addr: addr, TLS: tc, DialTimeout: 5 * time.Second})
		if err == nil {
			defer c.Close()
			_, err = c.Do(ctx, "PING")
		}
		return err
	}
	var he *HandshakeError
	var unknown x509.UnknownAuthorityError
	if err := try(&tls.Config{RootCAs: certs.OtherCAPool, Certificates: []tls.Certificate{certs.Client}}); !errors.As(err, &he) || !errors.As(err, &unknown) {
		t.Errorf("unknown CA: %v", err)
	}
	var host x509.HostnameError
	if err := try(&tls.Config{RootCAs: certs.CAPool, ServerName: "wrong.example", Certificates: []tls.Certificate{certs.Client}}); !errors.As(err, &he) || !errors.As(err, &host) {
		t.Errorf("wrong ServerName: %v", err)
	}
	if err := try(&tls.Config{RootCAs: certs.CAPool}); !errors.As(err, &he) {
		t.Errorf("no client certificate where the server requires one: %v", err)
	}
	if err := try(&tls.Config{RootCAs: certs.CAPool, Certificates: []tls.Certificate{certs.Client}}); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
}

// Idle TLS connections cost no goroutine each.
func TestTLSIdleGoroutines(t *testing.T) {
	checkGoroutines(t)
	_, addr, certs := tlsServer(t, "no")
	ctx := testCtx(t, 30*time.Second)
	first, err := PairedConnect(ctx, Config{Addr: addr, TLS: &tls.Config{RootCAs: certs.CAPool}})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	before := runtime.NumGoroutine()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	var conns []*PairedConn
	for i := 0; i < 50; i++ {
		c, err := PairedConnect(ctx, Config{Addr: addr, TLS: &tls.Config{RootCAs: certs.CAPool}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Send("PING").Err(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("%d goroutines for 50 idle TLS connections (%d before)", after, before)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	// A measurement, not an assertion (the goal is 48 KiB; bench's BenchmarkTLSConns
	// measures it against the peers): live heap of an idle TLS PairedConn after one
	// PING, the client side of crypto/tls included.
	t.Logf("heap per idle TLS connection: %.1f KiB", float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/50/1024)
	for _, c := range conns {
		c.Close()
	}
}

// tlsListen loads the server certificate of certs and opens a loopback listener for
// a TLS server of the test's own, closed when the test ends.
func tlsListen(t *testing.T, certs *redistest.Certs) (tls.Certificate, net.Listener) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certs.ServerCert, certs.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return cert, ln
}

// handOver connects to a crypto/tls server on loopback, runs the client's TLS
// handshake through tlsClient and hands the session over to the loop (toLoop). srv
// and cli complete the two configurations (the certificates, RootCAs and ServerName
// are set here); wrap, if set, wraps the client's socket before the handshake; serve
// runs on the server after its handshake, and its error fails the test. It returns
// the session and the client's socket, nothing read from it after the handshake.
func handOver(t *testing.T, srv, cli *tls.Config, wrap func(net.Conn) net.Conn, serve func(*tls.Conn) error) (*tlsState, net.Conn) {
	t.Helper()
	certs := redistest.NewCerts(t)
	srvCert, ln := tlsListen(t, certs)
	srv.Certificates = []tls.Certificate{srvCert}
	done := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer raw.Close()
		sc := tls.Server(raw, srv)
		if err := sc.Handshake(); err != nil {
			done <- err
			return
		}
		done <- serve(sc)
		sc.Read(make([]byte, 1)) // hold the connection until the client is done
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if wrap != nil {
		nc = wrap(nc)
	}
	cli.RootCAs = certs.CAPool
	ts, err := tlsClient(testCtx(t, 10*time.Second), nc, &Config{Addr: ln.Addr().String(), TLS: cli})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ts.toLoop()
	return ts, nc
}

// handedOverTLS returns the client side of a TLS connection to a crypto/tls server
// after the hand-over to the loop (tlsState.toLoop), and the ciphertext the server
// sent after the handshake (its session tickets, then each of msgs in a record of its
// own), read off the socket but not fed.
func handedOverTLS(t *testing.T, msgs ...string) (*tlsState, []byte) {
	t.Helper()
	ts, nc := handOver(t, &tls.Config{}, &tls.Config{}, nil, func(sc *tls.Conn) error {
		for _, msg := range msgs {
			if _, err := sc.Write([]byte(msg)); err != nil {
				return err
			}
		}
		return nil
	})
	// Read the ciphertext off the socket ourselves (as gnet would), all that came.
	nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var cipher []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := nc.Read(buf)
		cipher = append(cipher, buf[:n]...)
		if err != nil {
			break
		}
	}
	if len(cipher) < 10 {
		t.Fatalf("only %d bytes of ciphertext", len(cipher))
	}
	return ts, cipher
}

// bothInputs runs fn with direct input (tls.go) and with the fallback that feeds
// crypto/tls through the transport, for the connections fn dials.
func bothInputs(t *testing.T, fn func(t *testing.T)) {
	for _, mode := range []string{"direct", "transport"} {
		t.Run(mode, func(t *testing.T) {
			tlsForceTransport.Store(mode == "transport")
			defer tlsForceTransport.Store(false)
			fn(t)
		})
	}
}

// This toolchain's crypto/tls is driven directly: the loop finds its input buffers
// (tlsFields). If a Go release renames or retypes them, the loop falls back to the
// transport, which works but allocates once per record: this test says so first.
func TestTLSDirectInput(t *testing.T) {
	if !tlsFields.ok {
		t.Fatal("crypto/tls.Conn has no rawInput bytes.Buffer and input bytes.Reader: direct TLS input is off, one allocation per record read")
	}
	ts, _ := handedOverTLS(t, "+ok\r\n")
	if ts.raw == nil || !ts.tr.direct {
		t.Fatal("the handed-over connection does not use direct input")
	}
}

// Ciphertext that comes while crypto/tls holds plaintext not read yet (a reader with
// less room than a record) waits in the transport, and is decrypted after it, in
// order: rawInput, whose memory that plaintext is, is not written meanwhile. (Written,
// a piece as large as rawInput's buffer went over the plaintext from its start.)
func TestTLSInputWhilePlaintextHeld(t *testing.T) {
	bothInputs(t, func(t *testing.T) {
		first, second := strings.Repeat("a", 3000), strings.Repeat("b", 16000)
		ts, cipher := handedOverTLS(t, first, second)
		// Whole records one at a time, until a read stops with plaintext held.
		dst := make([]byte, 0, 100)
		at := 0
		for {
			if at == len(cipher) {
				t.Fatal("no read filled its buffer")
			}
			n := recordHeaderLen + recordLen(cipher[at:])
			ts.feed(cipher[at : at+n])
			at += n
			full, _, err := ts.read(&dst)
			if err != nil {
				t.Fatal(err)
			}
			if full {
				break
			}
		}
		if string(dst) != first[:100] || (ts.raw != nil && ts.plain.Len() == 0) {
			t.Fatalf("first read: %q, want %d bytes of a and plaintext held", dst, cap(dst))
		}
		piece := len(cipher) - at
		if ts.raw != nil {
			piece = min(piece, ts.raw.Cap())
		}
		ts.feed(cipher[at : at+piece])
		if ts.raw != nil && len(ts.tr.in) == 0 {
			t.Fatal("input fed while plaintext is held went into rawInput")
		}
		// Room for part of the plaintext held: read takes it, and leaves the input
		// pending (moved into rawInput, it would go over the rest).
		more := make([]byte, len(dst), len(dst)+50)
		copy(more, dst)
		if full, _, err := ts.read(&more); err != nil || !full || string(more) != first[:150] {
			t.Fatalf("second read: full %v, %q, %v", full, more[100:], err)
		}
		got, _, err := decrypt(ts, more, cipher[at+piece:])
		if err != nil || string(got) != first+second {
			t.Fatalf("after: %d bytes (want %d), %v; differs from %d", len(got), len(first+second), err, diffAt(got, first+second))
		}
	})
}

// diffAt is where a and b first differ.
func diffAt(a []byte, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// directInput reports whether c's current connection feeds crypto/tls directly.
func directInput(t *testing.T, c *PairedConn) bool {
	t.Helper()
	l := c.b.cur.Load()
	if l == nil || l.tls == nil {
		t.Fatal("no TLS connection up")
	}
	return l.tls.raw != nil
}

// A connection with direct input off works end to end (the fallback): commands, a
// value of many records, a pipeline.
func TestTLSTransportInput(t *testing.T) {
	tlsForceTransport.Store(true)
	defer tlsForceTransport.Store(false) // reconnects too
	c := tlsPaired(t)
	defer c.Close()
	if directInput(t, c) {
		t.Fatal("direct input on, with tlsForceTransport set")
	}
	ctx := testCtx(t, 20*time.Second)
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	if err := c.Send("SET", "big", big).Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Send("GET", "big").AppendBytes(ctx, nil); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB GET: %d bytes, %v", len(got), err)
	}
	for i := 0; i < 1000; i++ {
		c.SendAndForget("INCR", "n")
	}
	if n, err := c.Send("GET", "n").Int(ctx); err != nil || n != 1000 {
		t.Fatalf("1000 pipelined INCR: %d, %v", n, err)
	}
}

// A record header that no record has is an error at once, not a wait for the body
// its length names: the transport lets crypto/tls see it (tlsTransport.whole).
func TestTLSBadRecordHeader(t *testing.T) {
	bothInputs(t, func(t *testing.T) {
		for _, hdr := range [][]byte{
			{23, 9, 9, 0, 10},      // not the session's version
			{23, 3, 3, 0xff, 0xff}, // longer than any record
		} {
			ts, cipher := handedOverTLS(t, "+ok\r\n")
			plain, _, err := decrypt(ts, nil, cipher)
			if err != nil || string(plain) != "+ok\r\n" {
				t.Fatalf("before the bad header: %q, %v", plain, err)
			}
			if _, _, err = decrypt(ts, nil, hdr); err == nil {
				t.Fatalf("header % x: no error", hdr)
			}
		}
		// A header that looks right waits for its body.
		ts, cipher := handedOverTLS(t, "+ok\r\n")
		if _, _, err := decrypt(ts, nil, cipher); err != nil {
			t.Fatal(err)
		}
		if plain, _, err := decrypt(ts, nil, []byte{23, 3, 3, 0, 40, 1, 2}); err != nil || len(plain) != 0 {
			t.Fatalf("partial record: %q, %v (want nothing and no error)", plain, err)
		}
	})
}

// Pins the property of crypto/tls the loop transport relies on: a temporary net.Error
// from the transport's Read is not recorded as fatal, and a record split across two
// feeds is kept and completed by the second.
func TestTLSTemporaryReadError(t *testing.T) {
	bothInputs(t, func(t *testing.T) {
		ts, cipher := handedOverTLS(t, "+hello over a split record\r\n")
		// Feed all but the last 5 bytes: the record with the data is incomplete.
		plain, _, err := decrypt(ts, nil, cipher[:len(cipher)-5])
		if err != nil || len(plain) != 0 {
			t.Fatalf("partial record: %q, %v (want nothing and no error)", plain, err)
		}
		// read leaves a partial record alone; crypto/tls itself, asked to read it (as it
		// does on after a post-handshake message), must take the empty transport's error
		// as temporary and keep what it read of the record.
		if n, err := ts.tc.Read(make([]byte, 64)); n != 0 || !errors.Is(err, errWouldBlock) {
			t.Fatalf("Read of a partial record: %d, %v (want 0 and the temporary errWouldBlock)", n, err)
		}
		plain, _, err = decrypt(ts, plain, cipher[len(cipher)-5:])
		if err != nil || string(plain) != "+hello over a split record\r\n" {
			t.Fatalf("completed record: %q, %v", plain, err)
		}
	})
}

// A connection's TLS configuration refuses renegotiation whatever Config.TLS says (the
// loop cannot drive one), takes ServerName from the address unless set, and leaves
// the caller's configuration alone.
func TestTLSConfigNoRenegotiation(t *testing.T) {
	user := &tls.Config{Renegotiation: tls.RenegotiateFreelyAsClient}
	got := tlsConfig(&Config{Addr: "redis.example:6380", TLS: user})
	if got.Renegotiation != tls.RenegotiateNever || got.ServerName != "redis.example" {
		t.Fatalf("renegotiation %v, ServerName %q; want never and redis.example", got.Renegotiation, got.ServerName)
	}
	if user.Renegotiation != tls.RenegotiateFreelyAsClient || user.ServerName != "" {
		t.Fatal("the caller's tls.Config was changed")
	}
	if got := tlsConfig(&Config{Addr: "redis.example:6380", TLS: &tls.Config{ServerName: "other"}}); got.ServerName != "other" {
		t.Fatalf("ServerName %q, want the one given", got.ServerName)
	}
}
