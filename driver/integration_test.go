package driver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/parser"
)

// 64 goroutines x 10,000 SET/GET pairs with unique payloads: every caller gets its own
// reply.
func TestManyCallersOwnReplies(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	const goroutines, pairs = 64, 10_000
	ctx := testCtx(t, 5*time.Minute)
	var wg sync.WaitGroup
	var mismatches atomic.Int64
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("many:%d", g)
			dst := make([]byte, 0, 32)
			for i := 0; i < pairs; i++ {
				val := fmt.Sprintf("v:%d:%d", g, i)
				set := c.Send("SET", key, val)
				get := c.Send("GET", key)
				if err := set.Err(ctx); err != nil {
					errs <- err
					return
				}
				var err error
				if dst, err = get.AppendBytes(ctx, dst[:0]); err != nil {
					errs <- err
					return
				}
				if string(dst) != val {
					mismatches.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m := mismatches.Load(); m != 0 {
		t.Fatalf("%d replies went to the wrong caller", m)
	}
}

// Large values from many goroutines make output batches of megabytes, past the loop
// buffer's keep limit and larger than the socket takes at once (gnet buffers the
// rest): every byte arrives intact and in order, on two connections sharing the loops.
func TestLargeBatches(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	a := pairedTo(t, s, Config{})
	defer a.Close()
	b := pairedTo(t, s, Config{})
	defer b.Close()
	const goroutines, rounds, size = 32, 20, 96 << 10
	ctx := testCtx(t, 5*time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for g := 0; g < 2*goroutines; g++ {
		c := a
		if g%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("large:%d", g)
			val := make([]byte, size)
			dst := make([]byte, 0, size)
			for i := 0; i < rounds; i++ {
				for j := range val {
					val[j] = byte(g + i + j*7)
				}
				set := c.Send("SET", key, val)
				get := c.Send("GET", key)
				if err := set.Err(ctx); err != nil {
					errs <- err
					return
				}
				var err error
				if dst, err = get.AppendBytes(ctx, dst[:0]); err != nil {
					errs <- err
					return
				}
				if string(dst) != string(val) {
					errs <- fmt.Errorf("%s round %d: got %d bytes, not the value set", key, i, len(dst))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestManyCallersOwnReplies's workload while CLIENT KILL cuts the connection 20
// times: each caller gets its own reply or an error, nobody waits past its timeout,
// and the client serves again after the last kill.
func TestClientKillUnderLoad(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{ClientName: "victim", ReconnectMin: time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	defer c.Close()
	const goroutines, timeout = 64, 3 * time.Second
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed, mismatches, late atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("kill:%d:%d", g, i), fmt.Sprintf("v:%d:%d", g, i)
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				start := time.Now()
				set := c.Send("SET", key, val)
				get := c.Send("GET", key)
				setErr := set.Err(ctx)
				got, getErr := get.String(ctx)
				cancel()
				if time.Since(start) > timeout+time.Second {
					late.Add(1)
				}
				switch {
				case getErr == nil && got == val:
					ok.Add(1)
				case getErr != nil || (setErr != nil && got == ""):
					failed.Add(1)
				default:
					mismatches.Add(1)
				}
				if errors.Is(getErr, ErrNil) && setErr == nil {
					mismatches.Add(1) // the SET succeeded, so the GET must see it
				}
			}
		}()
	}
	killed := 0
	last := ""
	deadline := time.Now().Add(60 * time.Second)
	for killed < 20 && time.Now().Before(deadline) {
		ids := clientIDs(t, s, "victim")
		if len(ids) != 1 || ids[0] == last {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		time.Sleep(10 * time.Millisecond) // let traffic flow on the new connection
		if v := s.MustDo("CLIENT", "KILL", "ID", ids[0]); v.Int() == 1 {
			killed++
			last = ids[0]
		}
	}
	close(stop)
	wg.Wait()
	if killed != 20 {
		t.Fatalf("killed %d times", killed)
	}
	t.Logf("ok %d, failed %d, reconnects %d", ok.Load(), failed.Load(), c.Reconnects())
	if mismatches.Load() != 0 || late.Load() != 0 {
		t.Fatalf("%d mismatches, %d waits past the timeout", mismatches.Load(), late.Load())
	}
	// A command not yet written waits for the reconnect, so this PING also proves
	// the client serves again.
	ctx := testCtx(t, 10*time.Second)
	if v, err := c.Do(ctx, "PING"); err != nil || v.Text() != "PONG" {
		t.Fatalf("after the last kill: %v, %v", v, err)
	}
	// A kill that lands while a reconnect is still enrolling its connection is absorbed
	// by that same reconnect, so there may be fewer reconnects than kills; the PING
	// above proves the client recovered from the last one.
	if c.Reconnects() == 0 || ok.Load() == 0 {
		t.Fatalf("reconnects %d, ok %d", c.Reconnects(), ok.Load())
	}
}

// A written command whose caller gave up is not un-sent: its reply is read and
// dropped, and the following callers get their own replies.
// Many callers sharing one context with a deadline (the ring then waits through one
// context.AfterFunc instead of a select each) all get the deadline error on time while
// DEBUG SLEEP holds the server, and the connection pairs replies right afterwards.
func TestSharedDeadlineUnderSleep(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	sleep := c.Send("DEBUG", "SLEEP", "1.5")
	shared, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	const callers = 32
	start := time.Now()
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			_, err := c.Send("GET", fmt.Sprint("shared:", i)).AppendBytes(shared, nil)
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("caller with the shared deadline: %v", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("callers returned after %v, want about 150ms (the sleep is 1.5s)", d)
	}
	if err := sleep.Err(ctx); err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	for i := range 4 {
		k, v := fmt.Sprint("shared:after:", i), fmt.Sprint("v", i)
		set, get := c.Send("SET", k, v), c.Send("GET", k)
		if err := set.Err(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := get.String(ctx); err != nil || got != v {
			t.Fatalf("GET %s after the timeouts = %q, %v", k, got, err)
		}
	}
}

func TestCancelAfterSend(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Do(short, "DEBUG", "SLEEP", "0.3"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	ctx := testCtx(t, 10*time.Second)
	c.Send("SET", "cancel:k", "value")
	get1, ping, get2 := c.Send("GET", "cancel:k"), c.Send("PING"), c.Send("GET", "cancel:nothing")
	if v, err := get1.String(ctx); err != nil || v != "value" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if v, err := ping.String(ctx); err != nil || v != "PONG" {
		t.Fatalf("PING = %q, %v", v, err)
	}
	if _, err := get2.String(ctx); !errors.Is(err, ErrNil) {
		t.Fatalf("GET missing = %v", err)
	}
}

// RESP3 attributes stay with their value and pushes take no reply slot.
func TestDebugProtocolAttribAndPush(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 10*time.Second)
	for round := 0; round < 3; round++ {
		attrib := c.Send("DEBUG", "PROTOCOL", "attrib")
		ping1 := c.Send("PING")
		push := c.Send("DEBUG", "PROTOCOL", "push")
		ping2 := c.Send("PING")
		echo := c.Send("ECHO", fmt.Sprint("round", round))
		v, err := attrib.Wait(ctx)
		if err != nil || len(v.Attrs()) != 2 || !strings.Contains(v.Text(), "attribute") {
			t.Fatalf("attrib = %v (attrs %v), %v", v, v.Attrs(), err)
		}
		if v, err := push.String(ctx); err != nil || !strings.Contains(v, "push") {
			t.Fatalf("push = %q, %v", v, err)
		}
		for _, f := range []Future{ping1, ping2} {
			if v, err := f.String(ctx); err != nil || v != "PONG" {
				t.Fatalf("PING = %q, %v", v, err)
			}
		}
		if v, err := echo.String(ctx); err != nil || v != fmt.Sprint("round", round) {
			t.Fatalf("ECHO = %q, %v", v, err)
		}
	}
	if c.pushes.Load() != 3 {
		t.Fatalf("%d pushes seen, want 3", c.pushes.Load())
	}
}

// SHUTDOWN and a restart on the same port: paired and pubsub connections recover, the
// database and the client name are restored, subscriptions receive again.
func TestShutdownRestart(t *testing.T) {
	s := startServer(t)
	if !s.Managed() {
		t.Skip("needs a server of its own")
	}
	checkGoroutines(t)
	fast := Config{Addr: s.Addr, DB: 3, ClientName: "survivor", ReconnectMin: time.Millisecond, ReconnectMax: 50 * time.Millisecond}
	c := pairedTo(t, s, fast)
	defer c.Close()
	ctx := testCtx(t, 30*time.Second)
	p := pubsubConnect(t, ctx, fast)
	sub, err := p.Subscribe(ctx, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	psub, err := p.PSubscribe(ctx, "al*")
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := p.Subscribe(ctx, "gone")
	gone.Unsubscribe(ctx)

	s.Do("SHUTDOWN", "NOSAVE") // the connection drops: no reply
	s.Restart()

	// Not yet written commands wait for the reconnect; written ones may fail.
	waitFor(t, func() bool {
		v, err := c.Do(ctx, "PING")
		return err == nil && v.Text() == "PONG"
	})
	info, err := c.Send("CLIENT", "INFO").String(ctx)
	if err != nil || !strings.Contains(info, " db=3 ") || !strings.Contains(info, " name=survivor ") {
		t.Fatalf("CLIENT INFO after restart: %q, %v", info, err)
	}
	if v, err := c.Send("HELLO").Wait(ctx); err != nil || c.Protocol() != 3 {
		t.Fatalf("protocol after restart: %d, %v %v", c.Protocol(), v, err)
	}
	// Exactly the live subscriptions are back: alerts and al*, not gone.
	waitFor(t, func() bool {
		v := s.MustDo("PUBSUB", "NUMSUB", "alerts", "gone")
		return v.Elems()[1].Int() == 1 && s.MustDo("PUBSUB", "NUMPAT").Int() == 1
	})
	if v := s.MustDo("PUBSUB", "NUMSUB", "gone"); v.Elems()[1].Int() != 0 {
		t.Fatalf("gone resubscribed: %v", v)
	}
	if n, err := c.Send("PUBLISH", "alerts", "back").Int(ctx); err != nil || n != 2 {
		t.Fatalf("PUBLISH = %d, %v", n, err)
	}
	if m := recvMsg(t, sub); string(m.Payload) != "back" {
		t.Fatalf("sub got %+v", m)
	}
	if m := recvMsg(t, psub); string(m.Payload) != "back" || m.Pattern != "al*" {
		t.Fatalf("psub got %+v", m)
	}
	if p.Reconnects() == 0 || c.Reconnects() == 0 {
		t.Fatal("no reconnect counted")
	}
}

// The low-level Conn is full duplex: MONITOR streams what other clients do.
func TestConnMonitor(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	ctx := testCtx(t, 10*time.Second)
	m, err := Connect(ctx, Config{Addr: s.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Send("MONITOR"); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Recv(ctx); err != nil || v.Text() != "OK" {
		t.Fatalf("MONITOR = %v, %v", v, err)
	}
	s.MustDo("SET", "watched", "1")
	for {
		v, err := m.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(v.Text(), `"SET" "watched" "1"`) {
			break
		}
	}
}

func TestConnPipelineAndValues(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	ctx := testCtx(t, 10*time.Second)
	c, err := Connect(ctx, Config{Addr: s.Addr})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := c.Send("ECHO", i); err != nil {
			t.Fatal(err)
		}
	}
	c.SendValue(parser.NewArray(parser.NewBulkString("PING")))
	if err := c.Send("ECHO", struct{}{}); err == nil {
		t.Fatal("unsupported argument accepted")
	}
	for i := 0; i < 100; i++ {
		v, err := c.Recv(ctx)
		if err != nil || v.Text() != fmt.Sprint(i) {
			t.Fatalf("reply %d = %v, %v", i, v, err)
		}
	}
	if v, err := c.Recv(ctx); err != nil || v.Text() != "PONG" {
		t.Fatalf("PING = %v, %v", v, err)
	}
	// CLIENT REPLY OFF: the caller matches replies itself.
	c.Send("CLIENT", "REPLY", "OFF")
	c.Send("SET", "silent", "1")
	c.Send("CLIENT", "REPLY", "ON")
	if v, err := c.Recv(ctx); err != nil || v.Text() != "OK" {
		t.Fatalf("REPLY ON = %v, %v", v, err)
	}
	// A broken connection shows up in the stream, then values come again.
	c.Send("CLIENT", "SETNAME", "lowlevel")
	c.Recv(ctx)
	s.MustDo("CLIENT", "KILL", "ID", clientIDs(t, s, "lowlevel")[0])
	if _, err := c.Recv(ctx); !errors.Is(err, ErrConnLost) {
		t.Fatalf("after kill: %v", err)
	}
	waitFor(t, func() bool { return c.b.cur.Load() != nil && c.b.cur.Load().isOpen.Load() })
	c.Send("PING")
	if v, err := c.Recv(ctx); err != nil || v.Text() != "PONG" {
		t.Fatalf("after reconnect: %v, %v", v, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
}

// A Conn whose server stops reading refuses more commands once Config.SendBuffer bytes
// wait to be written (ErrSendBufferFull), instead of buffering without bound; once the
// server reads again, every command queued is written and answered, in order, and
// Send works again.
func TestConnSendBufferFull(t *testing.T) {
	s := startServer(t)
	px := faultproxy.Start(t, s.Addr)
	ctx := testCtx(t, 60*time.Second)
	// MessageBuffer: the replies come back in bursts once the proxy resumes, more of
	// them than the default 4,096 where the kernel buffers much.
	c, err := Connect(ctx, Config{Addr: px.Addr, SendBuffer: 256 << 10, MessageBuffer: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	px.Narrow(64 << 10)
	px.Stall()
	val := strings.Repeat("v", 1000)
	const most = 256 << 20 // far more than the socket buffers and SendBuffer together
	n := 0
	for n*len(val) < most && err == nil {
		// Bursts of 64 KiB, each given a moment to be taken by the loop: what the
		// socket cannot take must stay in the Conn's buffer, not in the loop's.
		for k := 0; k < 64 && err == nil; k++ {
			if err = c.Send("SET", "sb:"+strconv.Itoa(n), val); err == nil {
				n++
			}
		}
		for i := 0; i < 20 && c.pending() > 0; i++ {
			time.Sleep(time.Millisecond)
		}
	}
	if !errors.Is(err, ErrSendBufferFull) {
		t.Fatalf("after %d SETs (%d MiB) to a server that does not read: %v, want ErrSendBufferFull", n, n*len(val)>>20, err)
	}
	t.Logf("%d SETs (%.1f MiB) queued before ErrSendBufferFull", n, float64(n*len(val))/(1<<20))
	// The Conn's queue and the batch being written (about 2 x 256 KiB), the kernel's
	// buffers on the way (tcp_wmem's 4 MiB here, up to 16 MiB on larger hosts), and
	// the proxy's 64 KiB: well below 32 MiB; without the bound, gnet buffered on.
	if n*len(val) > 32<<20 {
		t.Fatalf("%d MiB queued before ErrSendBufferFull, want the bound to hold it below 32 MiB", n*len(val)>>20)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while the server reads nothing: %v, want its ctx's error", err)
	}
	flushed := make(chan error, 3)
	for range 3 { // several Flush calls wait together: each returns
		go func() { flushed <- c.Flush(ctx) }()
	}
	px.Resume()
	for range 3 {
		if err := <-flushed; err != nil {
			t.Fatalf("Flush once the server reads: %v", err)
		}
	}
	if p := c.pending(); p != 0 {
		t.Fatalf("%d bytes still queued after Flush", p)
	}
	for i := 0; i < n; i++ {
		if v, err := c.Recv(ctx); err != nil || v.Text() != "OK" {
			t.Fatalf("reply %d of %d: %v, %v", i, n, v, err)
		}
	}
	if err := c.Send("GET", "sb:"+strconv.Itoa(n-1)); err != nil {
		t.Fatalf("Send once the buffer drained: %v", err)
	}
	if v, err := c.Recv(ctx); err != nil || v.Text() != val {
		t.Fatalf("GET of the last SET: %.20q, %v", v.Text(), err)
	}
}

// pending returns how many bytes wait in the Conn's own buffer.
func (c *Conn) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pend)
}
