package sentinel

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

// sortedSentinels returns the watcher's list of sentinels, sorted.
func (w *watcher) sortedSentinels() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(slices.Values(w.sentinels))
}

// byHostName connects through sentinel s0 of st alone, given as "localhost:port",
// with no periodic check; it returns the watcher, the connection and that name.
func byHostName(t *testing.T, ctx context.Context, st *redistest.Sentinels) (*watcher, *driver.PairedConn, string) {
	t.Helper()
	host := "localhost:" + strconv.Itoa(st.Sentinels[0].Port)
	w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: []string{host}, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return w, c, host
}

// eventSubscribers counts the clients of sentinel s subscribed to the watcher's
// events (CLIENT LIST: as many channels as events, no pattern).
func eventSubscribers(t *testing.T, s *redistest.Server) int {
	t.Helper()
	n := 0
	want := " sub=" + strconv.Itoa(len(events)) + " psub=0 "
	for _, line := range strings.Split(s.MustDo("CLIENT", "LIST").Text(), "\n") {
		if strings.Contains(line, want) {
			n++
		}
	}
	return n
}

// A sentinel given by host name ("localhost:port") that the others name by IP
// (SENTINEL SENTINELS: 127.0.0.1:port) is one sentinel: it is listed once, under its
// configured name, and has one connection and one subscription, across refreshes by
// the other sentinels and by itself. Before, the IP joined the list at a refresh by
// another sentinel (a second subscription), left it at the sentinel's own (that
// subscription stopped) and came back at the next.
func TestSentinelByHostName(t *testing.T) {
	checkGoroutines(t)
	st := redistest.StartSentinels(t, name, 0)
	ctx := testCtx(t, 60*time.Second)
	s0, s1, s2 := st.Sentinels[0], st.Sentinels[1], st.Sentinels[2]
	w, c, host := byHostName(t, ctx, st)
	list := w.sortedSentinels
	conns := func() []string {
		w.mu.Lock()
		defer w.mu.Unlock()
		var a []string
		for x := range w.conns {
			a = append(a, x)
		}
		return slices.Sorted(slices.Values(a))
	}
	want := slices.Sorted(slices.Values([]string{host, s1.Addr, s2.Addr}))
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("the list after the connect: %v, want %v", got, want)
	}

	w.refreshEvery = 0 // every check refreshes
	var mu sync.Mutex
	subscribed := map[string]int{} // successful subscriptions, by address
	var stopped []string
	w.probed = func(addr, what string, err error) {
		if what == "subscribe" && err == nil {
			mu.Lock()
			subscribed[addr]++
			mu.Unlock()
		}
	}
	w.stopped = func(addr string) {
		mu.Lock()
		stopped = append(stopped, addr)
		mu.Unlock()
	}
	go w.run(c.Done())
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(subscribed)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribed to %v, want the 3 sentinels", subscribed)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Refreshes by s1 (which names s0 by IP), by s0 itself, and by s1 again: each
	// check asks the sentinel first in the list.
	for i, by := range []string{s1.Addr, host, s1.Addr} {
		w.prefer(by)
		w.check(ctx)
		if got := list(); !slices.Equal(got, want) {
			t.Errorf("the list after refresh %d (by %s): %v, want %v", i+1, by, got, want)
		}
	}
	// A second subscription to s0 starts as soon as run sees the list change: give
	// it the time to, then count them, on our side and on s0's.
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	subs, stops := subscribed[s0.Addr]+subscribed[host], append([]string(nil), stopped...)
	mu.Unlock()
	if subs != 1 || len(stops) != 0 {
		t.Errorf("s0 subscribed to %d times (as %s %d, as %s %d), subscriptions stopped: %v; want one, none stopped",
			subs, host, subscribed[host], s0.Addr, subscribed[s0.Addr], stops)
	}
	if n := eventSubscribers(t, s0); n != 1 {
		t.Errorf("s0 has %d subscribers to the events, want 1", n)
	}
	for _, x := range conns() {
		if x == s0.Addr {
			t.Errorf("a second connection to s0, as %s: %v", s0.Addr, conns())
		}
	}
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
}

// The IP of a sentinel given by host name that joined the list before the name was
// resolved (a look-up that failed) leaves the list, with its connection, at the next
// refresh once the name resolves, even by a sentinel that does not prune (the master
// it names is not the confirmed one): the configured entry stands for it.
func TestSentinelByHostNameJoinedBefore(t *testing.T) {
	st := redistest.StartSentinels(t, name, 0)
	ctx := testCtx(t, 30*time.Second)
	s0, s1, s2 := st.Sentinels[0], st.Sentinels[1], st.Sentinels[2]
	w, _, host := byHostName(t, ctx, st)
	defer w.closeAll()
	if _, err := w.ask(ctx, s0.Addr); err != nil { // a connection to the IP entry
		t.Fatal(err)
	}
	w.mu.Lock()
	w.sentinels = append(w.sentinels, s0.Addr)
	w.mu.Unlock()
	w.learn(ctx, s1.Addr, "")
	w.mu.Lock()
	conn := w.conns[s0.Addr]
	w.mu.Unlock()
	got := w.sortedSentinels()
	if want := slices.Sorted(slices.Values([]string{host, s1.Addr, s2.Addr})); !slices.Equal(got, want) {
		t.Fatalf("the list after a refresh: %v, want %v", got, want)
	}
	if conn != nil {
		t.Fatalf("the connection to %s, the IP of %s, is kept", s0.Addr, host)
	}
}

// Addresses are compared in one spelling (addrOf): a sentinel configured by an
// IPv4-mapped IPv6 address, and again by its IPv4 address, which is how the other
// sentinels name it, is listed once. Before, the list held it two or three times.
func TestSentinelIPSpellings(t *testing.T) {
	checkGoroutines(t)
	st := redistest.StartSentinels(t, name, 0)
	ctx := testCtx(t, 60*time.Second)
	s0, s1, s2 := st.Sentinels[0], st.Sentinels[1], st.Sentinels[2]
	mapped := "[::ffff:127.0.0.1]:" + strconv.Itoa(s0.Port)
	w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: []string{s1.Addr, mapped, s0.Addr}, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer w.closeAll() // the sentinel connections (run is not started)
	want := slices.Sorted(slices.Values([]string{s0.Addr, s1.Addr, s2.Addr}))
	if got := w.sortedSentinels(); !slices.Equal(got, want) {
		t.Fatalf("the list after the connect: %v, want %v", got, want)
	}
	if err := c.Send("SET", "spelled", "once").Err(ctx); err != nil {
		t.Fatalf("SET through the master: %v", err)
	}
}
