package driver

import (
	"crypto/tls"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// sessionWatch passes a link's calls on to its session and reports every one made
// after lost: a link that is gone no longer owns its session, which a new link may be
// using from another loop.
type sessionWatch struct {
	session
	rm     replyMarks
	gone   atomic.Bool
	report func(call string)
}

func (w *sessionWatch) use(call string) {
	if w.gone.Load() {
		w.report(call)
	}
}

func (w *sessionWatch) collect(dst []byte, vec [][]byte, big int) ([]byte, [][]byte) {
	w.use("collect")
	return w.session.collect(dst, vec, big)
}
func (w *sessionWatch) deliver(v parser.Value) error { w.use("deliver"); return w.session.deliver(v) }
func (w *sessionWatch) deliverOwned(v parser.Value, buf []byte) (bool, error) {
	w.use("deliverOwned")
	return w.session.deliverOwned(v, buf)
}
func (w *sessionWatch) hold()  { w.use("hold"); w.session.hold() }
func (w *sessionWatch) wrote() { w.use("wrote"); w.session.wrote() }
func (w *sessionWatch) lost(l *link, err error) {
	w.use("lost")
	w.gone.Store(true)
	w.session.lost(l, err)
}
func (w *sessionWatch) marks() (uint64, uint64, bool) { w.use("marks"); return w.rm.marks() }

// watchSessions wraps the session of every link made until the test ends in a
// sessionWatch, and returns the calls made after lost.
func watchSessions(t *testing.T) func() []string {
	var mu sync.Mutex
	var stale []string
	hook := func(l *link) {
		w := &sessionWatch{session: l.sess, report: func(call string) {
			mu.Lock()
			stale = append(stale, call)
			mu.Unlock()
		}}
		if l.marks != nil {
			w.rm, l.marks = l.marks, w
		}
		l.sess, l.deliver = w, w.deliver
	}
	newLinkHook.Store(&hook)
	t.Cleanup(func() { newLinkHook.Store(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), stale...)
	}
}

// A write that fails closes the connection inside gnet's Write: gnet runs OnClose
// there, so the link's closed and its session's lost (which starts the reconnect)
// have run when Write returns the error. After that the link must not touch the
// session. Here the client's socket is shut for writing while the proxy forwards
// nothing (the server never sees the FIN, so nothing is read first): the next batch's
// write gets EPIPE. Over TLS, write went on to wroteBatch, which read the ring after
// lost (a chaos soak under -race saw it race with the new link on the other loop).
// The command cut fails with ErrConnLost, the connection comes back, and not one
// session call follows lost.
//
// Over plain TCP the write path had nothing left to do after such an error (sendVec's
// guard is for a held write handed to gnet when the output poller is gone, which this
// does not reach): there the test checks the outcome and that nothing follows lost.
func TestNoSessionUseAfterWriteClose(t *testing.T) {
	certs := redistest.NewCerts(t)
	_, tlsAddr := redistest.StartTLS(t, certs, "no")
	plain := startServer(t)
	for _, tc := range []struct {
		name string
		addr string
		tls  *tls.Config
	}{
		{"tls", tlsAddr, &tls.Config{RootCAs: certs.CAPool, ServerName: "127.0.0.1"}},
		{"plain", plain.Addr, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stale := watchSessions(t)
			px := faultproxy.Start(t, tc.addr)
			cfg := quickReconnect
			cfg.Addr, cfg.TLS = px.Addr, tc.tls
			c, err := PairedConnect(testCtx(t, 10*time.Second), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := testCtx(t, 20*time.Second)
			for round := 0; round < 3; round++ {
				if err := c.Send("SET", "wc", round).Err(ctx); err != nil {
					t.Fatalf("round %d: SET: %v", round, err)
				}
				l := c.b.cur.Load()
				px.Stall()
				if err := syscall.Shutdown(l.gc.Fd(), syscall.SHUT_WR); err != nil {
					t.Fatalf("shutdown: %v", err)
				}
				if err := c.Send("INCR", "wc").Err(ctx); !errors.Is(err, ErrConnLost) {
					t.Fatalf("round %d: INCR on a socket shut for writing: %v, want ErrConnLost", round, err)
				}
				px.Resume()
				if n, err := c.Send("INCR", "wc").Int(ctx); err != nil || n != int64(round)+1 {
					t.Fatalf("round %d: INCR after the reconnect = %d, %v; want %d (the cut one never ran)", round, n, err, round+1)
				}
			}
			if s := stale(); len(s) > 0 {
				t.Fatalf("session calls after lost: %v", s)
			}
		})
	}
}

// A batch the socket did not take whole, with no output poller to hold its rest for
// (armOut fails, as it always does where there is none: outpoll_other.go), goes to
// gnet to buffer; if that write fails, the link gives back what it held once, and not
// after lost when gnet closed the connection inside the write (sendVec's guard). Each
// case shuts the socket for writing where armOut is called, with the proxy stalled so
// that the socket is full: the write of the rest then fails, through gnet's Write for
// pieces of up to outChunk (gnet closes the connection in it), through our own direct
// write for larger ones (gnet closed nothing; the link does it). "poller gone later"
// lets the first armOut through and fails the one after the poller's wake (writeHeld):
// the client's send buffer is fixed small and the stalled proxy lets 1 MiB through,
// enough for the wake (the kernel reports a socket writable once a third of its buffer
// is free) and far less than the 8 MiB the batch holds, so that writeHeld cannot write
// the rest at once (with Resume it sometimes did, under -race in CI, and the write
// never failed). The commands cut fail with ErrConnLost, the ones not written run on
// the next connection, and not one session call follows lost.
func TestHeldWriteWithoutPoller(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		name   string
		value  int // bytes of each SET's value
		n      int // SETs sent at once
		passes int // armOut calls let through first
	}{
		{"gnet write", outChunk, 128, 0},
		{"direct write", 4 << 20, 2, 0},
		{"poller gone later", 4 << 20, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stale := watchSessions(t)
			px := faultproxy.Start(t, s.Addr)
			cfg := quickReconnect
			cfg.Addr = px.Addr
			c, err := PairedConnect(testCtx(t, 10*time.Second), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := testCtx(t, 30*time.Second)
			if err := c.Send("SET", "hw:n", 0).Err(ctx); err != nil {
				t.Fatal(err)
			}
			target := c.b.cur.Load()
			// 64 KiB, which the kernel doubles: far less than a batch.
			if err := syscall.SetsockoptInt(target.gc.Fd(), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 64<<10); err != nil {
				t.Fatal(err)
			}
			var arms, shut atomic.Int32
			hook := func(l *link, fd int) error {
				if l != target {
					return nil
				}
				if arms.Add(1) <= int32(tc.passes) {
					return nil
				}
				if shut.Add(1) == 1 {
					if err := syscall.Shutdown(fd, syscall.SHUT_WR); err != nil {
						t.Errorf("shutdown: %v", err)
					}
				}
				return errors.New("no output poller")
			}
			armOutHook.Store(&hook)
			defer armOutHook.Store(nil)
			px.Narrow(64 << 10)
			px.Stall()
			// A string, attached to its slot: a []byte this large is lent, and its
			// Send would wait for the stalled socket to take it.
			value := strings.Repeat("v", tc.value)
			var fs []Future
			for i := range tc.n {
				fs = append(fs, c.Send("SET", "hw:"+strconv.Itoa(i), value))
			}
			if tc.passes > 0 {
				// The first arm held the rest; the proxy taking 1 MiB wakes the poller.
				for arms.Load() == 0 && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				px.Let(1 << 20)
			}
			cut := 0
			for i, f := range fs {
				switch err := f.Err(ctx); {
				case errors.Is(err, ErrConnLost):
					cut++
				case err != nil:
					t.Fatalf("SET %d: %v, want OK or ErrConnLost", i, err)
				}
			}
			if cut == 0 || shut.Load() == 0 {
				t.Fatalf("%d SETs cut, socket shut %d times: the write never failed", cut, shut.Load())
			}
			px.Resume()
			if n, err := c.Send("INCR", "hw:n").Int(ctx); err != nil || n != 1 {
				t.Fatalf("INCR after the reconnect = %d, %v; want 1", n, err)
			}
			if s := stale(); len(s) > 0 {
				t.Fatalf("session calls after lost: %v", s)
			}
		})
	}
}

// A KeyUpdate that asks for one back, read together with the reply after it: the
// client must send its own KeyUpdate, and if that write fails (the socket shut for
// writing here, once the server has the command), the reply that came with the
// KeyUpdate is still the command's (it used to fail with ErrConnLost: the failed
// answer returned before the plaintext was parsed), and nothing touches the session
// after lost.
func TestTLSKeyUpdateAnswerFails(t *testing.T) {
	bothInputs(t, func(t *testing.T) {
		stale := watchSessions(t)
		reached, release := make(chan struct{}), make(chan struct{})
		cfg, served := keyUpdateServer(t, func() {
			close(reached)
			<-release
		})
		ctx := testCtx(t, 20*time.Second)
		c, err := PairedConnect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := c.Send("ECHO", "before").String(ctx); err != nil || got != "before" {
			t.Fatalf("ECHO before = %q, %v", got, err)
		}
		f := c.Send("ECHO", "update")
		select {
		case <-reached:
		case <-ctx.Done():
			t.Fatal("the server never read ECHO update")
		}
		if err := syscall.Shutdown(c.b.cur.Load().gc.Fd(), syscall.SHUT_WR); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		close(release)
		if got, err := f.String(ctx); err != nil || got != "update" {
			t.Fatalf("ECHO update, whose reply came with the KeyUpdate = %q, %v; want update", got, err)
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		if s := stale(); len(s) > 0 {
			t.Fatalf("session calls after lost: %v", s)
		}
	})
}
