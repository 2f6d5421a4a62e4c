package sentinel

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
)

// sentinelsOf returns the sentinels s lists (SENTINEL SENTINELS), "ip:port".
func sentinelsOf(t *testing.T, s *redistest.Server) []string {
	t.Helper()
	var out []string
	for _, e := range s.MustDo("SENTINEL", "SENTINELS", name).Elems() {
		out = append(out, field(e, "ip")+":"+field(e, "port"))
	}
	return out
}

// A learnt sentinel removed from the group (stopped, and the others reset with
// SENTINEL RESET, as the Redis docs say to remove one) leaves the list at the next
// refresh that does not name it, and its subscription goroutine ends; a configured
// sentinel no sentinel names (here a dead address) stays, and so does its
// subscription. The refresh comes from the periodic check (called by the test, at the
// moment it chooses) or from a reconnect.
func TestForgetRemovedSentinel(t *testing.T) {
	for _, via := range []string{"check", "reconnect"} {
		t.Run(via, func(t *testing.T) {
			checkGoroutines(t)
			st := redistest.StartSentinels(t, name, 0)
			ctx := testCtx(t, 60*time.Second)
			s0, s1, s2 := st.Sentinels[0], st.Sentinels[1], st.Sentinels[2]
			dead := deadAddr(t)
			w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: []string{s0.Addr, dead}, CheckInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			list := w.sortedSentinels
			want := slices.Sorted(slices.Values([]string{s0.Addr, dead, s1.Addr, s2.Addr}))
			if got := list(); !slices.Equal(got, want) {
				t.Fatalf("the list after the connect: %v, want %v", got, want)
			}

			w.refreshEvery = 0 // every check refreshes
			stopped := make(chan string, 16)
			w.stopped = func(addr string) {
				select {
				case stopped <- addr:
				default:
				}
			}
			subscribed := make(chan struct{})
			var once sync.Once
			w.probed = func(addr, what string, err error) {
				if addr == s2.Addr && what == "subscribe" && err == nil {
					once.Do(func() { close(subscribed) })
				}
			}
			go w.run(c.Done())
			select {
			case <-subscribed: // the goroutine to be stopped is running
			case <-ctx.Done():
				t.Fatal("no subscription to the learnt sentinel")
			}

			// Remove s2 from the group; wait until s0 and s1 know each other again,
			// and not s2.
			s2.Stop()
			s0.MustDo("SENTINEL", "RESET", name)
			s1.MustDo("SENTINEL", "RESET", name)
			deadline := time.Now().Add(30 * time.Second)
			for !slices.Equal(sentinelsOf(t, s0), []string{s1.Addr}) || !slices.Equal(sentinelsOf(t, s1), []string{s0.Addr}) {
				if time.Now().After(deadline) {
					t.Fatalf("after SENTINEL RESET, s0 lists %v and s1 %v", sentinelsOf(t, s0), sentinelsOf(t, s1))
				}
				time.Sleep(50 * time.Millisecond)
			}
			select {
			case addr := <-stopped:
				t.Fatalf("the subscription to %s stopped before any refresh", addr)
			default:
			}

			if via == "check" {
				w.check(ctx)
			} else {
				n := c.Reconnects()
				c.Reconnect()
				waitReconnects(t, c, n, "a reconnect")
			}
			want = slices.Sorted(slices.Values([]string{s0.Addr, dead, s1.Addr}))
			if got := list(); !slices.Equal(got, want) {
				t.Fatalf("the list after a refresh without %s: %v, want %v", s2.Addr, got, want)
			}
			select {
			case addr := <-stopped:
				if addr != s2.Addr {
					t.Fatalf("the subscription to %s stopped, want %s's", addr, s2.Addr)
				}
			case <-time.After(20 * time.Second): // a hang guard
				t.Fatalf("the subscription to the removed sentinel %s goes on", s2.Addr)
			}
			if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
