package driver

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// recCmd is a command a recordServer read, with the number of the TLS record it came
// in (counted per connection).
type recCmd struct {
	rec  int
	args []string
}

// recordServer is a scripted Redis over TLS that tells in which record each command
// came: crypto/tls's Read returns the plaintext of one record at a time. It answers
// everything at once (ECHO with its argument, HELLO with an error: RESP2, anything
// else +OK) until a connection gets an ECHO whose argument begins with "hold": from
// then on that connection's commands are listed on cmds and answered only on
// answer(n), in order.
type recordServer struct {
	addr    string
	cmds    chan recCmd
	answers chan int
	mu      sync.Mutex
	conns   []net.Conn
}

func startRecordServer(t *testing.T, certs *redistest.Certs) *recordServer {
	t.Helper()
	cert, ln := tlsListen(t, certs)
	s := &recordServer{addr: ln.Addr().String(), cmds: make(chan recCmd, 100), answers: make(chan int, 10)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		s.closeConns()
		close(s.answers)
		wg.Wait()
	})
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(tls.Server(nc, cfg))
			}()
		}
	}()
	return s
}

// answer has the held connection answer its next n commands.
func (s *recordServer) answer(n int) { s.answers <- n }

// closeConns closes every connection accepted so far.
func (s *recordServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, nc := range s.conns {
		nc.Close()
	}
	s.conns = nil
}

func (s *recordServer) serve(tc *tls.Conn) {
	defer tc.Close()
	var wmu sync.Mutex
	reply := func(args []string) {
		var b []byte
		switch strings.ToUpper(args[0]) {
		case "ECHO":
			b = writer.AppendValue(b, parser.NewBulkString(args[1]))
		case "HELLO":
			b = append(b, "-ERR unknown command 'HELLO'\r\n"...)
		default:
			b = append(b, "+OK\r\n"...)
		}
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = tc.Write(b)
	}
	queue := make(chan []string, 100)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case n, ok := <-s.answers:
				if !ok {
					return
				}
				for range n {
					select {
					case args := <-queue:
						reply(args)
					case <-done:
						return
					}
				}
			case <-done:
				return
			}
		}
	}()
	var p parser.Parser
	var buf []byte
	chunk := make([]byte, 64<<10)
	held := false
	for rec := 1; ; rec++ {
		m, err := tc.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:m]...)
		for {
			v, n, err := p.Parse(buf)
			if err != nil {
				break // incomplete (a test's commands are well formed)
			}
			var args []string
			for _, e := range v.Elems() {
				args = append(args, string(e.Bytes()))
			}
			buf = buf[n:]
			if len(args) == 2 && strings.HasPrefix(args[1], "hold") {
				held = true
			}
			if !held {
				reply(args)
				continue
			}
			s.cmds <- recCmd{rec, args}
			queue <- args
		}
	}
}

// TestTLSBatchHeldWhileBehind checks that a TLS link holds its next batch back while
// the server has at least batchBehind writes unanswered and the oldest is late, then
// writes what was Sent meanwhile in one record once a reply comes; and that a batch
// held when the connection is lost was never written, so it goes to the next one.
// The same without a waker (the loop's links then wake through gnet and write from a
// pooled buffer).
func TestTLSBatchHeldWhileBehind(t *testing.T) {
	t.Run("waker", testTLSBatchHeldWhileBehind)
	t.Run("nowaker", func(t *testing.T) {
		hook := func(l *link) { l.wakers = nil }
		newLinkHook.Store(&hook)
		t.Cleanup(func() { newLinkHook.Store(nil) })
		testTLSBatchHeldWhileBehind(t)
	})
}

func testTLSBatchHeldWhileBehind(t *testing.T) {
	certs := redistest.NewCerts(t)
	srv := startRecordServer(t, certs)
	ctx := testCtx(t, 20*time.Second)
	c, err := PairedConnect(ctx, Config{Addr: srv.addr, TLS: &tls.Config{RootCAs: certs.CAPool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func(what string) recCmd {
		t.Helper()
		select {
		case got := <-srv.cmds:
			return got
		case <-ctx.Done():
			t.Fatalf("the server never read %s", what)
			return recCmd{}
		}
	}

	// Answered at once: the connection learns how fast an answer can be.
	fastest := time.Hour
	for i := range 20 {
		start := time.Now()
		if s, err := c.Send("ECHO", "warm").String(ctx); err != nil || s != "warm" {
			t.Fatalf("warm-up %d: %q, %v", i, s, err)
		}
		fastest = min(fastest, time.Since(start))
	}

	for round, lose := range []bool{false, true} {
		// batchBehind writes, each its own record, left unanswered.
		var early []Future
		for i := range batchBehind {
			early = append(early, c.Send("ECHO", "hold"+string(rune('a'+i))))
			got := next("a command left unanswered")
			if want := "hold" + string(rune('a'+i)); got.args[1] != want {
				t.Fatalf("round %d: server read %q, want %q", round, got.args[1], want)
			}
		}
		// The oldest is late now; what is Sent from here on is held back, even
		// with time for the loop to write each command on its own.
		time.Sleep(20*time.Millisecond + 4*fastest)
		var late []Future
		for i := range 5 {
			late = append(late, c.Send("ECHO", "late"+string(rune('a'+i))))
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case got := <-srv.cmds:
			t.Fatalf("round %d: %q was written while the server was behind", round, got.args)
		default:
		}

		if lose {
			// Lost with the batch held: the written commands fail as lost, the
			// held ones were never written and go out on the next connection
			// (whose server answers at once).
			srv.closeConns()
			for i, f := range early {
				if err := f.Err(ctx); !errors.Is(err, ErrConnLost) {
					t.Fatalf("written command %d: %v, want ErrConnLost", i, err)
				}
			}
			for i, f := range late {
				want := "late" + string(rune('a'+i))
				if s, err := f.String(ctx); err != nil || s != want {
					t.Fatalf("held command %d after the reconnect: %q, %v; want %q", i, s, err, want)
				}
			}
			return
		}

		// One answer: the held batch goes, all of it in one record.
		srv.answer(1)
		var recs []int
		for i := range 5 {
			got := next("the held batch")
			if want := "late" + string(rune('a'+i)); got.args[1] != want {
				t.Fatalf("server read %q, want %q", got.args[1], want)
			}
			recs = append(recs, got.rec)
		}
		for _, r := range recs[1:] {
			if r != recs[0] {
				t.Fatalf("the held commands came in records %v, want one", recs)
			}
		}
		srv.answer(batchBehind - 1 + 5)
		for i, f := range early {
			want := "hold" + string(rune('a'+i))
			if s, err := f.String(ctx); err != nil || s != want {
				t.Fatalf("command %d: %q, %v; want %q", i, s, err, want)
			}
		}
		for i, f := range late {
			want := "late" + string(rune('a'+i))
			if s, err := f.String(ctx); err != nil || s != want {
				t.Fatalf("held command %d: %q, %v; want %q", i, s, err, want)
			}
		}
	}
}

// TestTLSBatchBehind checks tlsBatch's bookkeeping: how many writes are unanswered,
// the fastest answer, and when the server counts as behind.
func TestTLSBatchBehind(t *testing.T) {
	var b tlsBatch
	if b.behind(1e9) {
		t.Fatal("behind with nothing written")
	}
	// Writes ending before seqs 10, 20, 30, 40 at times 100..400.
	for i := uint64(1); i <= batchBehind; i++ {
		b.wrote(10*i, int64(100*i))
	}
	if b.behind(1e9) {
		t.Fatal("behind before any answer gave a time to compare with")
	}
	// The first write answered at 150: 50 is the fastest answer.
	b.settle(10, 150)
	if b.n != batchBehind-1 || b.fastest != 50 {
		t.Fatalf("after one answer: %d unanswered, fastest %d", b.n, b.fastest)
	}
	b.wrote(50, 500)
	if b.behind(200 + 100) {
		t.Fatal("behind with the oldest unanswered write at 100, twice the fastest answer")
	}
	if !b.behind(200 + 101) {
		t.Fatal("not behind with the oldest unanswered write later than twice the fastest answer")
	}
	// A slower answer does not change the fastest; answers settle in order.
	b.settle(39, 1000)
	if b.n != 2 || b.fastest != 50 || b.end[b.head] != 40 {
		t.Fatalf("after the next answer: %d unanswered, fastest %d, oldest ends at %d", b.n, b.fastest, b.end[b.head])
	}
	if b.behind(1e9) {
		t.Fatal("behind with fewer than batchBehind writes unanswered")
	}
	// The marks are full: later writes are not recorded, the count stays.
	for i := uint64(6); i <= 20; i++ {
		b.wrote(10*i, int64(100*i))
	}
	if b.n != batchMarks {
		t.Fatalf("%d marks, want %d", b.n, batchMarks)
	}
	b.settle(1000, 5000)
	if b.n != 0 {
		t.Fatalf("%d unanswered after every write was answered", b.n)
	}
}
