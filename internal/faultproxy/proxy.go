// Package faultproxy is a TCP proxy for failure tests, on loopback only. It forwards
// both ways between its clients and one target and, on command, delays, blackholes
// (stops forwarding but keeps the sockets open), stalls (the same, until Resume), drips
// (one byte at a time), resets a connection with RST at a byte offset of the
// server-to-client stream, narrows what it takes from its clients (a small receive
// buffer, so that a client's socket fills), or refuses new connections; a stalled
// connection can be let through for a number of bytes of its client's (Let). Faults
// other than Refuse apply to the connections open when they are set; new connections
// are forwarded normally. A Gate holds new connections back from
// its target until released (a dial under way).
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards 127.0.0.1:<port> to a target.
type Proxy struct {
	Addr   string // where clients connect
	target string
	ln     net.Listener

	refuse atomic.Bool
	mu     sync.Mutex
	conns  map[*pair]struct{}
	closed bool
	wg     sync.WaitGroup
	// stall, under mu, is open while the connections are stalled (Stall): their
	// forwarders wait for it to close (Resume) before forwarding what they read.
	stall chan struct{}
}

// pair is one client connection and its server connection.
type pair struct {
	client, server *net.TCPConn
	delay          atomic.Int64 // nanoseconds added before forwarding each chunk
	drip           atomic.Int64 // nanoseconds between single bytes (0: off)
	hole           atomic.Bool  // stop forwarding
	holeCh         chan struct{}
	stall          atomic.Pointer[chan struct{}] // while set, wait for it to close (Stall)
	let            atomic.Int64                  // client-to-server bytes that may pass a stall (Let)
	kick           chan struct{}                 // Let wakes the client-to-server forwarder
	resetAt        atomic.Int64                  // reset when the server-to-client offset reaches it (-1: off)
	sent           atomic.Int64                  // bytes forwarded server to client
}

// Start listens on a free loopback port, forwards to target (a loopback address) and
// closes with t.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	host, _, err := net.SplitHostPort(target)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Fatalf("faultproxy: target %q is not a loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c.(*net.TCPConn), server: s.(*net.TCPConn), holeCh: make(chan struct{}), kick: make(chan struct{}, 1)}
		pr.resetAt.Store(-1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.forward(pr, pr.client, pr.server, false)
		go p.forward(pr, pr.server, pr.client, true)
	}
}

// forward copies from src to dst, applying the pair's faults; toClient marks the
// server-to-client direction (where the reset offset counts).
func (p *Proxy) forward(pr *pair, src, dst *net.TCPConn, toClient bool) {
	defer p.wg.Done()
	defer p.drop(pr)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		chunk := buf[:n]
		for len(chunk) > 0 {
			limit, ok := pr.pass(!toClient)
			if !ok {
				return
			}
			if d := pr.delay.Load(); d > 0 {
				time.Sleep(time.Duration(d))
			}
			k := len(chunk)
			if limit > 0 {
				k = int(min(int64(k), limit))
				pr.let.Add(-int64(k)) // only this goroutine takes from it
			}
			if d := pr.drip.Load(); d > 0 {
				k = 1
				time.Sleep(time.Duration(d))
			}
			if toClient {
				if at := pr.resetAt.Load(); at >= 0 {
					room := at - pr.sent.Load()
					if room <= 0 {
						pr.rst()
						return
					}
					k = int(min(int64(k), room))
				}
			}
			if toClient {
				// Counted before the write: once the client can read them, ResetAt
				// must count them as sent (it counts from there).
				pr.sent.Add(int64(k))
			}
			if _, werr := dst.Write(chunk[:k]); werr != nil {
				return
			}
			chunk = chunk[k:]
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The end of the stream is forwarded as its bytes are: a blackholed
				// or stalled pair holds it back too (a FIN does not get through
				// where data would not; Let lets data only).
				if _, ok := pr.pass(false); !ok {
					return
				}
				dst.CloseWrite()
			}
			return
		}
	}
}

// pass waits while the pair is stalled, and reports whether what was read may go on:
// false once the pair is blackholed (it then waits until the pair is dropped) or
// dropped. After a Resume it looks again: a Blackhole may have come meanwhile. For the
// client-to-server direction (upstream), a stalled pair passes what Let allows: limit
// is then how many bytes may go; otherwise it is -1 (no limit).
func (pr *pair) pass(upstream bool) (limit int64, ok bool) {
	var kick chan struct{} // nil (never ready) downstream
	if upstream {
		kick = pr.kick
	}
	for {
		if pr.hole.Load() {
			<-pr.holeCh // closed when the pair is dropped
			return 0, false
		}
		st := pr.stall.Load()
		if st == nil {
			return -1, true
		}
		if n := pr.let.Load(); upstream && n > 0 {
			return n, true
		}
		select {
		case <-*st:
		case <-kick:
		case <-pr.holeCh:
			return 0, false
		}
	}
}

// rst closes both sides with RST (linger 0).
func (pr *pair) rst() {
	pr.client.SetLinger(0)
	pr.server.SetLinger(0)
	pr.client.Close()
	pr.server.Close()
}

func (p *Proxy) drop(pr *pair) {
	p.mu.Lock()
	if _, ok := p.conns[pr]; ok {
		delete(p.conns, pr)
		close(pr.holeCh)
	}
	p.mu.Unlock()
	pr.client.Close()
	pr.server.Close()
}

// each applies fn to every open connection.
func (p *Proxy) each(fn func(*pair)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.conns {
		fn(pr)
	}
}

// Delay adds d before every chunk forwarded on the open connections (0: none).
func (p *Proxy) Delay(d time.Duration) { p.each(func(pr *pair) { pr.delay.Store(int64(d)) }) }

// Narrow limits the receive buffer of the proxy's side of every open client
// connection to n bytes (SO_RCVBUF): the kernel then no longer grows it (up to
// net.ipv4.tcp_rmem's 32 MiB here), so a client writing faster than the proxy
// forwards finds its own socket full.
func (p *Proxy) Narrow(n int) { p.each(func(pr *pair) { pr.client.SetReadBuffer(n) }) }

// Drip forwards the open connections one byte every d (0: off).
func (p *Proxy) Drip(d time.Duration) { p.each(func(pr *pair) { pr.drip.Store(int64(d)) }) }

// Blackhole stops forwarding on the open connections, keeping their sockets open:
// the peers see silence, not a close.
func (p *Proxy) Blackhole() { p.each(func(pr *pair) { pr.hole.Store(true) }) }

// Stall stops forwarding on the open connections, as Blackhole does, until Resume:
// what a forwarder read meanwhile (at most one read's worth, 32 KiB) waits with it,
// and the senders' sockets fill.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall == nil {
		p.stall = make(chan struct{})
	}
	st := p.stall
	for pr := range p.conns {
		pr.stall.Store(&st)
	}
}

// Let forwards up to n more bytes from the client of every open connection to the
// target while the connection is stalled, and then holds it again: a client's socket
// that filled drains by that much, and fills again. Nothing passes the other way, nor
// the end of the client's stream. What Let allowed and a stall did not use is used by
// the next stall.
func (p *Proxy) Let(n int64) {
	p.each(func(pr *pair) {
		pr.let.Add(n)
		select {
		case pr.kick <- struct{}{}:
		default: // a wake is already pending
		}
	})
}

// Resume forwards the connections Stall stopped again, from where they stopped.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall == nil {
		return
	}
	for pr := range p.conns {
		pr.stall.Store(nil)
	}
	close(p.stall)
	p.stall = nil
}

// ResetAt resets the open connections with RST once offset more bytes have gone from
// the server to the client (0: before the next byte the server sends).
func (p *Proxy) ResetAt(offset int64) {
	p.each(func(pr *pair) { pr.resetAt.Store(pr.sent.Load() + offset) })
}

// Refuse makes the proxy reset new connections (true) or accept them again (false).
func (p *Proxy) Refuse(on bool) { p.refuse.Store(on) }

// Conns returns how many connections are open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	var all []*pair
	p.each(func(pr *pair) { all = append(all, pr) })
	for _, pr := range all {
		pr.rst()
		p.drop(pr) // also releases blackholed forwarders
	}
	p.wg.Wait()
}
