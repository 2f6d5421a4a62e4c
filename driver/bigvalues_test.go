package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
)

// Large values on a shared connection: replies handed over from pooled read buffers,
// commands written by reference, string arguments attached, under load (these run
// with -race; the memory checks are in large_test.go).

// Large replies read into a buffer that is then handed over (not copied) to their
// slots: many of them pipelined with small replies between, read in any order, stay
// intact while later replies arrive. Over TLS too, where the plaintext after a large
// reply waits in TLS until the reply was parsed out of its buffer.
func TestLargeRepliesHandedOver(t *testing.T) { plainAndTLS(t, largeRepliesHandedOver) }

func largeRepliesHandedOver(t *testing.T, c *PairedConn) {
	ctx := testCtx(t, 60*time.Second)
	vals := make([][]byte, 8)
	for i := range vals {
		vals[i] = []byte(strings.Repeat(strconv.Itoa(i), (i+1)*200<<10)) // 200 KiB .. 1.6 MiB
		if err := c.Send("SET", "big"+strconv.Itoa(i), vals[i]).Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var futs []Future
	for round := 0; round < 3; round++ {
		futs = futs[:0]
		for i := range vals {
			futs = append(futs, c.Send("GET", "big"+strconv.Itoa(i)), c.Send("INCR", "small"))
		}
		for j := len(futs) - 1; j >= 0; j-- { // newest first
			if j%2 == 1 {
				if _, err := futs[j].Int(ctx); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := futs[j].AppendBytes(ctx, nil)
			if err != nil || string(got) != string(vals[j/2]) {
				t.Fatalf("round %d GET %d: %d bytes, %v", round, j/2, len(got), err)
			}
		}
	}
}

// Large commands are written from their own buffers (writev) between small ones that
// are copied into the batch: from many goroutines at once, with batches mixing both,
// every value arrives intact and every reply reaches its own command.
func TestLargeCommandsByReference(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := "ref" + strconv.Itoa(g)
				val := []byte(strings.Repeat(strconv.Itoa((g+i)%10), (i%5+1)*50<<10)) // 50..250 KiB
				set := c.Send("SET", key, val)
				incr := c.Send("INCR", "n"+strconv.Itoa(g))
				var b Batch
				b.Queue("SET", key+"b", val)
				b.Queue("GET", key)
				b.Queue("SET", key+"c", "x")
				bf := c.SendBatch(nil, &b)
				if err := set.Err(ctx); err != nil {
					errs <- err
					return
				}
				if n, err := incr.Int(ctx); err != nil || n != int64(i+1) {
					errs <- fmt.Errorf("INCR %d = %d, %v", i+1, n, err)
					return
				}
				got, err := bf[1].AppendBytes(ctx, nil)
				if err != nil || !bytes.Equal(got, val) {
					errs <- fmt.Errorf("goroutine %d round %d: GET %d bytes, %v", g, i, len(got), err)
					return
				}
				for _, j := range []int{0, 2} {
					if err := bf[j].Err(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Large replies read into pooled buffers, which go back to the pool once the reply
// was read and four more were: from many goroutines at once, with large SETs taking
// buffers from the same pool between the GETs, every reply read is its own value,
// whole, also when read a second time (or ErrExpired once it was let go).
func TestLargeRepliesPooled(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 60*time.Second)
	const g = 8
	var wg sync.WaitGroup
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "pooled" + strconv.Itoa(i)
			var dst []byte
			for round := 0; round < 12; round++ {
				size := (150 << 10) + (i*7+round*13)%16*(128<<10) // 150 KiB .. 2.1 MiB
				val := bytes.Repeat([]byte{byte('A' + i), byte('a' + round)}, size/2)
				if err := c.Send("SET", key, val).Err(ctx); err != nil {
					t.Error(err)
					return
				}
				f := c.Send("GET", key)
				var err error
				if dst, err = f.AppendBytes(ctx, dst[:0]); err != nil || !bytes.Equal(dst, val) {
					t.Errorf("goroutine %d round %d: %d bytes, %v", i, round, len(dst), err)
					return
				}
				again, err := f.Wait(ctx)
				if err != nil && !errors.Is(err, ErrExpired) {
					t.Errorf("goroutine %d round %d, read again: %v", i, round, err)
					return
				}
				if err == nil && !bytes.Equal(again.Bytes(), val) {
					t.Errorf("goroutine %d round %d, read again: %d bytes, not the value", i, round, len(again.Bytes()))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Large string arguments are attached to their slots, not copied: from many
// goroutines at once, between small commands and []byte values, fire-and-forget or
// not, every value arrives whole and in order (the last SET of a key wins).
func TestLargeStringsAttached(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 60*time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "attached" + strconv.Itoa(i)
			for round := 0; round < 10; round++ {
				size := 64<<10 + (i*5+round*11)%12*(160<<10) // 64 KiB .. 1.8 MiB
				first := strings.Repeat(string(rune('a'+round)), size)
				last := strings.Repeat(string(rune('A'+i)), size+round)
				c.SendAndForget("SET", key, first)
				f := c.Send("APPEND", key+"log", "x")
				c.SendAndForget("SET", key+"b", []byte(first))
				if err := c.Send("SET", key, last).Err(ctx); err != nil {
					t.Error(err)
					return
				}
				if _, err := f.Int(ctx); err != nil {
					t.Error(err)
					return
				}
				got, err := c.Send("GET", key).AppendBytes(ctx, nil)
				if err != nil || string(got) != last {
					t.Errorf("goroutine %d round %d: %d bytes, %v", i, round, len(got), err)
					return
				}
				if got, err := c.Send("GET", key+"b").AppendBytes(ctx, nil); err != nil || string(got) != first {
					t.Errorf("goroutine %d round %d, []byte value: %d bytes, %v", i, round, len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := c.ForgottenErrors(); n != 0 {
		t.Fatalf("%d forgotten commands failed", n)
	}
}

// Script.Run looks at its EVALSHA reply (for NOSCRIPT) without reading it: a large
// script result is still the caller's to read after four other large replies were
// read (a read would have started its countdown to ErrExpired).
func TestScriptLargeResult(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 30*time.Second)
	script := NewScript("return string.rep(ARGV[1], tonumber(ARGV[2]))")
	if err := script.Run(ctx, c, nil, "w", 1).Err(ctx); err != nil { // loads it
		t.Fatal(err)
	}
	f := script.Run(ctx, c, nil, "L", 300<<10) // an EVALSHA hit
	for i := 0; i < 6; i++ {
		if _, err := script.Run(ctx, c, nil, "o", 300<<10).AppendBytes(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.AppendBytes(ctx, nil)
	if err != nil || string(got) != strings.Repeat("L", 300<<10) {
		t.Fatalf("the first script's result: %d bytes, %v", len(got), err)
	}
}

// Large replies nobody reads at once: a forgotten large GET (its buffer goes back to
// the pool from the link), and large GETs left unread until a small ring reuses their
// slots (parked with their buffers), read afterwards, each its own value.
func TestLargeRepliesUnread(t *testing.T) {
	c, ctx := freshConn(t, Config{RingSize: 4}, 60*time.Second)
	vals := make([]string, 6)
	for i := range vals {
		vals[i] = strings.Repeat(string(rune('a'+i)), 300<<10+i)
		if err := c.Send("SET", "unread"+strconv.Itoa(i), vals[i]).Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range vals {
		c.SendAndForget("GET", "unread"+strconv.Itoa(i))
	}
	futs := make([]Future, len(vals))
	for i := range vals {
		futs[i] = c.Send("GET", "unread"+strconv.Itoa(i))
	}
	for i := 0; i < 8; i++ { // reuse every slot twice over
		if err := c.Send("PING").Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(futs) - 1; i >= 0; i-- {
		got, err := futs[i].AppendBytes(ctx, nil)
		if err != nil || string(got) != vals[i] {
			t.Fatalf("parked GET %d: %d bytes, %v", i, len(got), err)
		}
	}
	if n := c.ForgottenErrors(); n != 0 {
		t.Fatalf("%d forgotten GETs failed", n)
	}
}

// proxied connects to a fresh server through a fault proxy (cfg's Addr is set to the
// proxy's) and checks the path with a PING; the connection closes with the test.
func proxied(t *testing.T, cfg Config) (*PairedConn, *faultproxy.Proxy, context.Context) {
	t.Helper()
	s := startServer(t)
	px := faultproxy.Start(t, s.Addr)
	cfg.Addr = px.Addr
	c := pairedTo(t, s, cfg)
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t, 60*time.Second)
	if err := c.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}
	return c, px, ctx
}

// inParallel runs fn(0) to fn(n-1) in goroutines of their own and waits for them.
func inParallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

// quickReconnect reconnects at once, for tests that drop connections.
var quickReconnect = Config{ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond}

// A slow path to the server (the fault proxy forwards 32 KiB per millisecond) keeps
// the socket full: large commands go out partly straight from their buffers, strings
// and lent []byte, the rest held where it is and written on when the socket takes
// more, and the small commands sent meanwhile wait behind them. Every byte arrives in
// order: each goroutine's INCRs count 1, 2, 3... and every value reads back whole.
func TestLargeWritesSlowPath(t *testing.T) {
	c, px, ctx := proxied(t, Config{})
	px.Delay(time.Millisecond)
	px.Narrow(32 << 10) // the client's socket fills: the rest of a write is held
	inParallel(4, func(i int) {
		key := "slow" + strconv.Itoa(i)
		for round := 1; round <= 3; round++ {
			sval := strings.Repeat(string(rune('a'+i)), 1<<20+round)
			bval := bytes.Repeat([]byte{byte('A' + i)}, 700<<10+round)
			fs := c.Send("SET", key+"s", sval)
			fn := c.Send("INCR", key+"n")
			fb := c.Send("SET", key+"b", bval)
			if err := fs.Err(ctx); err != nil {
				t.Error(err)
				return
			}
			if n, err := fn.Int(ctx); err != nil || n != int64(round) {
				t.Errorf("goroutine %d round %d: INCR = %d, %v", i, round, n, err)
				return
			}
			if err := fb.Err(ctx); err != nil {
				t.Error(err)
				return
			}
			gs, gb := c.Send("GET", key+"s"), c.Send("GET", key+"b")
			if got, err := gs.AppendBytes(ctx, nil); err != nil || string(got) != sval {
				t.Errorf("goroutine %d round %d: string value %d bytes, %v", i, round, len(got), err)
				return
			}
			if got, err := gb.AppendBytes(ctx, nil); err != nil || !bytes.Equal(got, bval) {
				t.Errorf("goroutine %d round %d: []byte value %d bytes, %v", i, round, len(got), err)
				return
			}
		}
	})
}

// []byte arguments of 256 KiB or more are lent, not copied: Send returns once the
// socket took them, and the caller may overwrite them at once. Over a slow path (the
// socket fills, so the rest of a value is held and written on later) from several
// goroutines, every value reads back as it was when Send was called.
func TestLargeBytesLent(t *testing.T) {
	c, px, ctx := proxied(t, Config{})
	px.Delay(200 * time.Microsecond)
	px.Narrow(32 << 10) // the client's socket fills: the rest of a write is held
	inParallel(4, func(i int) {
		buf := make([]byte, 2<<20+i) // 4 of them fill the client's socket (4 MiB)
		for round := 0; round < 3; round++ {
			key := fmt.Sprintf("lent%d.%d", i, round)
			want := bytes.Repeat([]byte{byte('a' + 4*round + i)}, len(buf))
			copy(buf, want)
			f := c.Send("SET", key, buf)
			for j := range buf { // the buffer is the caller's again
				buf[j] = '#'
			}
			if err := f.Err(ctx); err != nil {
				t.Error(err)
				return
			}
			if got, err := c.Send("GET", key).AppendBytes(ctx, nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("goroutine %d round %d: %d bytes back (%q...), %v", i, round, len(got), got[:min(len(got), 8)], err)
				return
			}
		}
	})
}

// While no connection is up, Send does not wait for a lent []byte to be written: it
// copies it and returns, and the command goes out as it was given once the
// connection is back.
func TestLargeBytesWhileDown(t *testing.T) {
	c, px, ctx := proxied(t, quickReconnect)
	px.Refuse(true)
	c.Reconnect()
	for c.Connected() {
		time.Sleep(time.Millisecond)
	}
	buf := bytes.Repeat([]byte("d"), 256<<10)
	f := c.Send("SET", "down", buf)
	if c.Connected() {
		t.Fatal("the connection came back while refused")
	}
	copy(buf, "changed")
	px.Refuse(false)
	if err := f.Err(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.Send("GET", "down").AppendBytes(ctx, nil)
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("d"), 256<<10)) {
		t.Fatalf("GET: %d bytes (%q...), %v", len(got), got[:min(len(got), 8)], err)
	}
}

// A connection lost while a large command is written in part (the path is
// blackholed, so the socket stays full and the rest is held): the sender waiting for
// its []byte gets it back, the command fails with ErrConnLost, and the commands
// after it run on the new connection.
func TestLargeHeldWriteLost(t *testing.T) {
	c, px, ctx := proxied(t, quickReconnect)
	px.Blackhole()
	buf := bytes.Repeat([]byte("h"), 64<<20) // far more than the sockets buffer
	sent := make(chan Future, 1)
	go func() { sent <- c.Send("SET", "held", buf) }()
	for !c.b.cur.Load().outBusy.Load() { // the write has started
		time.Sleep(time.Millisecond)
	}
	select {
	case <-sent:
		t.Fatal("Send returned while its value was still being written")
	default:
	}
	c.Reconnect()
	f := <-sent
	if err := f.Err(ctx); !errors.Is(err, ErrConnLost) {
		t.Fatalf("the cut SET: %v, want ErrConnLost", err)
	}
	if n, err := c.Send("INCR", "after").Int(ctx); err != nil || n != 1 {
		t.Fatalf("INCR on the new connection: %d, %v", n, err)
	}
}

// Large writes cut by lost connections: over a slow, narrow path (the client's socket
// fills, so the rest of a write is held), goroutines send lent []byte and attached
// string values while the connection is dropped again and again, often in the middle
// of a held write. A command either succeeds or fails with
// ErrConnLost, nobody waits forever, and what the server holds for a key is always
// one of the values sent for it, whole: never a mix of two, never bytes of a buffer
// that was handed back or reused.
func TestLargeWritesUnderReconnects(t *testing.T) {
	c, px, ctx := proxied(t, quickReconnect)
	slow := func() { // a slow path that takes little at a time: the sockets fill
		px.Delay(200 * time.Microsecond)
		px.Narrow(32 << 10)
	}
	slow()
	progress := make(chan struct{}, 64)
	stop := make(chan struct{})
	go func() { // the fault: a reconnect after every few rounds of the senders
		for n := 0; ; n++ {
			select {
			case <-progress:
				if n%3 == 0 {
					c.Reconnect()
					for !c.Connected() { // then the new connection is slow too
						time.Sleep(time.Millisecond)
					}
					slow()
				}
			case <-stop:
				return
			}
		}
	}()
	defer close(stop)
	lost := 0
	var mu sync.Mutex
	inParallel(4, func(i int) {
		buf := make([]byte, 2<<20+i)
		for round := 0; round < 6; round++ {
			fill := byte('a' + (4*round+i)%26)
			for j := range buf {
				buf[j] = fill
			}
			fb := c.Send("SET", fmt.Sprintf("cut%d.b", i), buf)
			for j := range buf {
				buf[j] = '#' // the caller's again: must never reach the server
			}
			fs := c.Send("SET", fmt.Sprintf("cut%d.s", i), strings.Repeat(string(fill), 1<<20))
			for _, f := range []Future{fb, fs} {
				if err := f.Err(ctx); errors.Is(err, ErrConnLost) {
					mu.Lock()
					lost++
					mu.Unlock()
				} else if err != nil {
					t.Errorf("goroutine %d round %d: %v", i, round, err)
					return
				}
			}
			progress <- struct{}{}
			for _, k := range []struct {
				key string
				n   int
			}{{fmt.Sprintf("cut%d.b", i), len(buf)}, {fmt.Sprintf("cut%d.s", i), 1 << 20}} {
				got, err := c.Send("GET", k.key).AppendBytes(ctx, nil)
				if errors.Is(err, ErrConnLost) || errors.Is(err, ErrNil) {
					continue
				}
				if err != nil || len(got) != k.n || bytes.Count(got, got[:1]) != k.n || got[0] == '#' || got[0] > fill {
					t.Errorf("goroutine %d round %d: %s holds %d bytes starting %q, %v", i, round, k.key, len(got), got[:min(len(got), 8)], err)
					return
				}
			}
		}
	})
	t.Logf("%d reconnects, %d commands lost with their connection", c.Reconnects(), lost)
	if c.Reconnects() == 0 {
		t.Fatal("no reconnect happened: the test tested nothing")
	}
}

// A server that stops reading while a large []byte is being written (the path is
// blackholed: the proxy's socket fills and its window closes, its kernel still
// answers): the health check does not call a connection dead while its output is
// still going out, but TCP_USER_TIMEOUT does (set on every socket, the larger of 10 s
// and two health-check intervals), so the sender waiting for its bytes gets them back
// and the command fails with ErrConnLost; the next command runs on a new connection.
func TestLargeWriteToStalledServer(t *testing.T) {
	cfg := quickReconnect
	cfg.HealthCheck = 500 * time.Millisecond
	c, px, ctx := proxied(t, cfg)
	px.Blackhole()
	buf := bytes.Repeat([]byte("s"), 64<<20) // more than the sockets' buffers take
	if err := c.Send("SET", "stalled", buf).Err(ctx); !errors.Is(err, ErrConnLost) {
		t.Fatalf("SET into a stalled server: %v, want ErrConnLost", err)
	}
	if n, err := c.Send("INCR", "after.stall").Int(ctx); err != nil || n != 1 {
		t.Fatalf("INCR on the new connection: %d, %v", n, err)
	}
}
