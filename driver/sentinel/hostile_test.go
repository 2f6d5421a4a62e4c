package sentinel

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// fakeSentinel is a sentinel that names master for GET-MASTER-ADDR-BY-NAME and lists
// the sentinels others holds ("host:port") for SENTINEL SENTINELS; it refuses
// everything else (a subscription to its events fails).
func fakeSentinel(t *testing.T, master string, others *atomic.Pointer[[]string]) *fakeredis.Server {
	t.Helper()
	var m atomic.Pointer[string]
	m.Store(&master)
	return movingFakeSentinel(t, &m, others)
}

// movingFakeSentinel is fakeSentinel naming the master that master holds when asked.
func movingFakeSentinel(t *testing.T, master *atomic.Pointer[string], others *atomic.Pointer[[]string]) *fakeredis.Server {
	t.Helper()
	return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if len(cmd) < 2 || !strings.EqualFold(cmd[0], "SENTINEL") {
			c.Reply(parser.NewSimpleError("ERR unknown command"))
			return true
		}
		switch strings.ToUpper(cmd[1]) {
		case "GET-MASTER-ADDR-BY-NAME":
			host, port, _ := net.SplitHostPort(*master.Load())
			c.Reply(parser.NewArray(parser.NewBulkString(host), parser.NewBulkString(port)))
		case "SENTINELS":
			var out []parser.Value
			for _, s := range *others.Load() {
				h, p, _ := net.SplitHostPort(s)
				out = append(out, parser.NewArray(
					parser.NewBulkString("name"), parser.NewBulkString(s),
					parser.NewBulkString("ip"), parser.NewBulkString(h),
					parser.NewBulkString("port"), parser.NewBulkString(p),
					parser.NewBulkString("flags"), parser.NewBulkString("sentinel")))
			}
			c.Reply(parser.NewArray(out...))
		default:
			c.Reply(parser.NewSimpleError("ERR unknown subcommand"))
		}
		return true
	})
}

// throughFakeSentinel connects to master through a fakeSentinel listing others, with
// no goroutine following events or checks (pairedConnect); all is closed at the end
// of the test.
func throughFakeSentinel(t *testing.T, ctx context.Context, master string, others *atomic.Pointer[[]string]) (*fakeredis.Server, *watcher, *driver.PairedConn) {
	t.Helper()
	s := fakeSentinel(t, master, others)
	w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: []string{s.Addr}, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		w.closeAll()
	})
	return s, w, c
}

// A sentinel that names hundreds of others does not make the list (and run's
// connections and goroutines, one per sentinel listed) that long: maxLearnt of them
// join, the first it names, besides Config.Sentinels; when it no longer names some of
// them, as many others take their places.
func TestSentinelsLearntBounded(t *testing.T) {
	m := redistest.Start(t)
	ctx := testCtx(t, 20*time.Second)
	var named []string
	for i := range 300 {
		named = append(named, "127.0.0.1:"+strconv.Itoa(20000+i)) // never dialled: run is not started
	}
	var others atomic.Pointer[[]string]
	others.Store(&named)
	s, w, c := throughFakeSentinel(t, ctx, m.Addr, &others)
	list := func() []string {
		w.mu.Lock()
		defer w.mu.Unlock()
		return append([]string(nil), w.sentinels...)
	}
	want := append([]string{s.Addr}, named[:maxLearnt]...)
	if got := list(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after the connect the list is %d long: %v, want Config.Sentinels and the first %d named", len(got), got, maxLearnt)
	}

	// The sentinel forgets the first four it named: they leave, and the next four
	// named take their places.
	rest := named[4:]
	others.Store(&rest)
	w.learn(ctx, s.Addr, m.Addr)
	want = append([]string{s.Addr}, named[4:4+maxLearnt]...)
	if got := list(); strings.Join(got, " ") != strings.Join(want, " ") {
		// Those that left make room at this learn or the next.
		w.learn(ctx, s.Addr, m.Addr)
		if got = list(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("after four left the list is %v, want %v", got, want)
		}
	}
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
}

// A sentinel that repeats +failover-state-send-slaveof-noone (or a failover that
// never ends and is never aborted) drops the connection once per failover: the
// event again during the hold does not make it longer nor drop the connection
// again, nor does it within holdRest after a hold that ran out; the failover's end
// (+failover-end, +switch-master) lets the next one start a hold.
func TestRepeatedFailoverEvent(t *testing.T) {
	m := redistest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	var none []string
	var others atomic.Pointer[[]string]
	others.Store(&none)
	_, w, c := throughFakeSentinel(t, ctx, m.Addr, &others)
	w.mu.Lock()
	w.holdFor = 200 * time.Millisecond // the fake sentinel names the old master for good
	w.mu.Unlock()
	h, p, _ := net.SplitHostPort(m.Addr)
	promote := driver.Message{Channel: "+failover-state-send-slaveof-noone",
		Payload: []byte("slave 127.0.0.1:1 127.0.0.1 1 @ " + name + " " + h + " " + p)}
	holdUntil := func() time.Time {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.holdUntil
	}
	// set runs a SET and checks how many times the connection was re-established by
	// the time it was answered.
	set := func(reconnects uint64, what string) {
		t.Helper()
		if err := c.Send("SET", "k", what).Err(ctx); err != nil {
			t.Fatalf("%s: SET: %v", what, err)
		}
		if n := c.Reconnects(); n != reconnects {
			t.Fatalf("%s: the connection was re-established %d times, want %d", what, n, reconnects)
		}
	}

	w.event(promote)
	until := holdUntil()
	for range 5 {
		w.event(promote)
	}
	if holdUntil() != until {
		t.Fatal("the event repeated during the hold made it longer")
	}
	set(1, "after the first hold") // re-established once the hold ran out
	for range 5 {
		w.event(promote)
		set(1, "the event repeated after the hold ran out")
	}

	for _, end := range []driver.Message{
		{Channel: "+failover-end", Payload: []byte("master " + name + " " + h + " " + p)},
		switchMaster(m.Addr, m.Addr),
	} {
		n := c.Reconnects()
		w.event(end)
		w.event(promote)
		set(n+1, "a failover after "+end.Channel)
		w.event(promote)
		set(n+1, "the event repeated after "+end.Channel)
	}
}

// A sentinel that names a master with no usable address (a port that is not one, no
// host) is a sentinel that failed to answer: the next one is asked, and the master
// it names is used.
func TestSentinelBadMasterAddress(t *testing.T) {
	m := redistest.Start(t)
	var none []string
	var others atomic.Pointer[[]string]
	others.Store(&none)
	good := fakeSentinel(t, m.Addr, &others)
	for _, reply := range [][2]string{{"127.0.0.1", "abc"}, {"127.0.0.1", "0"}, {"127.0.0.1", "70000"}, {"", "6379"}, {"127.0.0.1", ""}} {
		t.Run(reply[0]+":"+reply[1], func(t *testing.T) {
			bad := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
				if len(cmd) >= 2 && strings.EqualFold(cmd[1], "GET-MASTER-ADDR-BY-NAME") {
					c.Reply(parser.NewArray(parser.NewBulkString(reply[0]), parser.NewBulkString(reply[1])))
				} else {
					c.Reply(parser.NewSimpleError("ERR unknown command"))
				}
				return true
			})
			ctx := testCtx(t, 20*time.Second)
			w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: []string{bad.Addr, good.Addr}, CheckInterval: -1})
			if err != nil {
				t.Fatalf("with a sentinel naming %q first: %v", reply, err)
			}
			defer w.closeAll()
			defer c.Close()
			if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A stale sentinel that names a master that is gone (nothing listens there) does
// not make the master unreachable when it comes first in the list: it is asked last
// at the next attempt, at the first connect (which tries again) as in the
// reconnect loop.
func TestStaleSentinelDeadMaster(t *testing.T) {
	m := redistest.Start(t)
	dead := deadAddr(t)
	var none []string
	var others atomic.Pointer[[]string]
	others.Store(&none)
	var toDead, toMaster, toMaster2 atomic.Pointer[string]
	toDead.Store(&dead)
	toMaster.Store(&m.Addr)
	toMaster2.Store(&m.Addr)
	stale := movingFakeSentinel(t, &toDead, &others)
	good := movingFakeSentinel(t, &toMaster, &others)
	good2 := movingFakeSentinel(t, &toMaster2, &others)
	ctx := testCtx(t, 30*time.Second)
	w, err := newWatcher(Config{MasterName: name, Sentinels: []string{stale.Addr, good.Addr, good2.Addr}, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.closeAll()
	var staleAnswered atomic.Bool
	w.asked = func(addr string, err error) {
		if addr == stale.Addr && err == nil {
			staleAnswered.Store(true)
		}
	}
	order := func() []string {
		w.mu.Lock()
		defer w.mu.Unlock()
		return append([]string(nil), w.sentinels...)
	}
	for _, s := range order() { // connected already: each answers at once, within the hedge
		if _, err := w.sentinelConn(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	c, err := masterConnect(ctx, w)
	if err != nil {
		t.Fatalf("with a sentinel naming a dead master first: %v", err)
	}
	defer c.Close()
	if err := c.Send("SET", "k1", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.MustDo("GET", "k1").Text(); got != "v" || c.Addr() != m.Addr {
		t.Fatalf("the write did not reach the master: %q (on %s)", got, c.Addr())
	}
	if o := order(); !staleAnswered.Load() || o[0] != good.Addr || o[2] != stale.Addr {
		t.Fatalf("sentinels after the connect: %v (the stale one answered: %v), want %s first and %s last", o, staleAnswered.Load(), good.Addr, stale.Addr)
	}

	// The dedicated pool's dials resolve while others are still under way (each held
	// in its handshake by a gate until all have resolved): they are not taken for
	// the served connection's, whose dial would have failed before Verify. Taken so,
	// each would move the sentinel that answered to the back, until the stale one
	// came first.
	g := faultproxy.StartGate(t, m.Addr)
	toMaster.Store(&g.Addr)
	toMaster2.Store(&g.Addr)
	entered := make(chan error, 8)
	hold := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(hold)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Dedicated(ctx, func(d *driver.DedicatedConn) error {
				_, err := d.Do(ctx, "PING")
				entered <- err
				<-hold // each keeps its connection: 8 dials
				return nil
			})
			if err != nil {
				entered <- err
			}
		}()
		select {
		case <-g.Accepted: // resolved, and held in the handshake
		case <-ctx.Done():
			t.Fatal("a dial of the pool did not reach the gate")
		}
	}
	g.Release()
	for range 8 {
		if err := <-entered; err != nil {
			t.Fatalf("a dedicated connection: %v", err)
		}
	}
	if o := order(); o[0] != good.Addr || o[2] != stale.Addr {
		t.Fatalf("sentinels after the pool's dials: %v, want %s first and %s last", o, good.Addr, stale.Addr)
	}

	toMaster2.Store(&m.Addr)

	// good answered, so it is asked first now: it goes stale too, naming the dead
	// address, and the connection is re-established. The reconnect loop passes over
	// good to good2.
	toMaster.Store(&dead)
	n := c.Reconnects()
	c.Reconnect()
	waitReconnects(t, c, n, "a reconnect with a sentinel naming a dead master first")
	if err := c.Send("SET", "k2", "v").Err(ctx); err != nil {
		t.Fatalf("after a reconnect with a sentinel naming a dead master first: %v", err)
	}
	if got := m.MustDo("GET", "k2").Text(); got != "v" || c.Addr() != m.Addr {
		t.Fatalf("the write did not reach the master: %q (on %s)", got, c.Addr())
	}
	if o := order(); o[0] != good2.Addr || o[2] != good.Addr {
		t.Fatalf("sentinels after the reconnect: %v, want %s first and %s last", o, good2.Addr, good.Addr)
	}
}

// A master that is gone, named by every sentinel (it is down, not failed over yet),
// is dialled twice at the first connect, not once per sentinel, and the connect
// fails with the dial error. Sentinels that do not answer (nothing listens) fail it
// with ErrNoSentinel after one round: their dial errors are not the master's.
func TestDeadMasterNamedByAll(t *testing.T) {
	dead := deadAddr(t)
	var none []string
	var others atomic.Pointer[[]string]
	others.Store(&none)
	var list []string
	for range 4 {
		list = append(list, fakeSentinel(t, dead, &others).Addr)
	}
	for _, tc := range []struct {
		what      string
		sentinels []string
		resolves  int32
		want      func(error) bool
	}{
		{"named by all", list, 2, func(err error) bool { var op *net.OpError; return errors.As(err, &op) && op.Op == "dial" }},
		{"no sentinel", []string{deadAddr(t), deadAddr(t), deadAddr(t)}, 1, func(err error) bool { return errors.Is(err, ErrNoSentinel) }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			w, err := newWatcher(Config{MasterName: name, Sentinels: tc.sentinels, CheckInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer w.closeAll()
			var resolves atomic.Int32
			nc := w.nodeConfig()
			nc.Resolve = func(ctx context.Context) (string, error) {
				resolves.Add(1)
				return w.resolve(ctx)
			}
			c, err := dialNode(ctx, w, nc, ErrNotMaster, driver.PairedConnect)
			if err == nil {
				c.Close()
				t.Fatal("connected to a master nothing listens on")
			}
			if !tc.want(err) || resolves.Load() != tc.resolves {
				t.Fatalf("err %v after %d dials, want %d", err, resolves.Load(), tc.resolves)
			}
		})
	}
}

// A stale sentinel that names another server, which refuses the password (or whose
// TLS or handshake fails), does not fail the connect when it comes first: the next
// sentinel is asked, as for a master that is gone.
func TestStaleSentinelOtherServer(t *testing.T) {
	m := redistest.Start(t, "--requirepass", "pw")
	other := redistest.Start(t, "--requirepass", "another")
	var none []string
	var others atomic.Pointer[[]string]
	others.Store(&none)
	stale := fakeSentinel(t, other.Addr, &others)
	good := fakeSentinel(t, m.Addr, &others)
	ctx := testCtx(t, 20*time.Second)
	w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: []string{stale.Addr, good.Addr}, CheckInterval: -1,
		Node: driver.Config{Password: "pw"}})
	if err != nil {
		t.Fatalf("with a sentinel naming another server first: %v", err)
	}
	defer w.closeAll()
	defer c.Close()
	if c.Addr() != m.Addr {
		t.Fatalf("on %s, want the master %s", c.Addr(), m.Addr)
	}
	if err := c.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}
}
