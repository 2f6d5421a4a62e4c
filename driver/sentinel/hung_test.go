package sentinel

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
)

// hungSentinel listens on loopback, accepts every connection and never answers: a
// sentinel that is up but hangs. The connections stay open until the test ends.
func hungSentinel(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// driverGoroutines counts the goroutines running code of the driver or of this
// package, but the driver's process-wide output poller, which stays once started.
func driverGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var ours []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "respring/respring/driver") && !strings.Contains(g, "outPoller") {
			n++
			ours = append(ours, g)
		}
	}
	return n, strings.Join(ours, "\n\n")
}

// checkGoroutines records how many goroutines of the driver and of this package run
// now and, at cleanup, fails the test if that has not come back within a few seconds:
// Close must stop the watcher and everything it started.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before, _ := driverGoroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		n, stacks := driverGoroutines()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n, stacks = driverGoroutines()
		}
		if n > before {
			t.Errorf("goroutines of the driver: %d before, %d after Close\n%s", before, n, stacks)
		}
	})
}

// The goroutine that handles the events does no network I/O: with a sentinel that
// accepts connections and never answers first in the list, SENTINEL FAILOVER moves
// the connection to the new master while every background attempt to the hung
// sentinel (subscription, check) is still waiting. probeTimeout is made longer than
// the test, so that the order is certain: before, run subscribed and checked inline,
// and the events waited behind each attempt's timeout. The old master is kept a
// master (its CLIENT command denied, as in TestFollowAfterPoolDial), so that only the
// watcher can move the connection; the failover's events go to the sentinels' own
// subscriptions, which are up before it.
func TestHungSentinel(t *testing.T) {
	checkGoroutines(t)
	st := redistest.StartSentinels(t, name, 1)
	ctx := testCtx(t, 60*time.Second)
	hung := hungSentinel(t)
	a := st.Master.Addr
	st.Master.MustDo("ACL", "SETUSER", "default", "-client")
	w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: append([]string{hung}, sentinelAddrs(st)...)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var mu sync.Mutex
	hungDone := 0 // background attempts to the hung sentinel that ended
	subscribed := make(chan struct{})
	w.probeTimeout = 10 * time.Minute
	w.probed = func(addr, what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case addr == hung && !errors.Is(err, context.Canceled):
			hungDone++ // ended by itself (a check's question cancelled by the answer of the next sentinel is not)
		case addr == st.Sentinels[0].Addr && what == "subscribe" && err == nil:
			close(subscribed)
		}
	}
	go w.run(c.Done())
	select {
	case <-subscribed:
	case <-ctx.Done():
		t.Fatal("no subscription to the sentinel that leads the failover")
	}

	b := failover(t, st, st.Sentinels[0], a)
	waitReconnects(t, c, 0, "SENTINEL FAILOVER with a hung sentinel")
	mu.Lock()
	n := hungDone
	mu.Unlock()
	if n != 0 {
		t.Fatalf("the connection moved after %d attempts to the hung sentinel ended", n)
	}
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatalf("SET after the failover: %v", err)
	}
	if got := st.Node(b).MustDo("GET", "k").Text(); got != "v" {
		t.Fatalf("the SET did not reach the new master %s: %q", b, got)
	}
	if got := st.Node(a).MustDo("GET", "k"); !got.IsNull() {
		t.Fatalf("the SET reached the old master %s", a)
	}
}

// A periodic check asks the sentinels hedged: with a sentinel that accepts
// connections and never answers first in the list, and probeTimeout longer than the
// test, the check takes the next sentinel's answer, follows the master it names, and
// returns; the hung sentinel, overtaken, is put last for the next checks, and the
// one that answered is not. Before, the check asked one sentinel after another and waited for
// the hung one's timeout.
func TestCheckHungSentinelFirst(t *testing.T) {
	checkGoroutines(t)
	st := redistest.StartSentinels(t, name, 0)
	ctx := testCtx(t, 60*time.Second)
	hung := hungSentinel(t)
	w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: sentinelAddrs(st)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer w.closeAll() // the sentinel connections the check made (run is not started)
	followed := make(chan struct{}, 1)
	w.mu.Lock()
	w.sentinels = append([]string{hung}, w.sentinels...)
	w.served = "127.0.0.1:1" // where the master is not: the check follows it
	w.follow = func() {
		select {
		case followed <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	w.probeTimeout = 10 * time.Minute
	var hungEnded atomic.Bool // the question to the hung sentinel ended by itself
	w.probed = func(addr, what string, err error) {
		if addr == hung && what == "check" && !errors.Is(err, context.Canceled) {
			hungEnded.Store(true)
		}
	}
	done := make(chan struct{})
	go func() { w.check(ctx); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the check waited for the hung sentinel")
	}
	if hungEnded.Load() {
		t.Fatal("the check waited until its question to the hung sentinel failed by itself (the dial's timeout)")
	}
	select {
	case <-followed:
	default:
		t.Fatal("the check did not follow the master the next sentinel named")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed[hung] == nil {
		t.Fatal("the hung sentinel, overtaken by the next, is not put last")
	}
	if f := w.failed[st.Sentinels[0].Addr]; f != nil {
		t.Fatalf("the sentinel that answered is marked failed: %+v", f)
	}
}
