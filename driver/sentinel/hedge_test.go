package sentinel

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
)

// A sentinel that accepts connections and never answers, first in the list, does not
// hold up the connect: the next sentinel is asked without waiting for it, its answer
// is taken, and the question to the hung sentinel is cancelled before the connect
// returns. The hung sentinel is a Gate in front of a real sentinel, never released:
// it was asked (it accepted the connection) and never answered. askTimeout is made
// longer than the test, and the dial timeout is only a hang guard: a resolve that
// waited for the hung sentinel would see its question end by a timeout (the sentinel
// connection's health check, or the dial's deadline), not cancelled by the other's
// answer. For the master and for ReplicaConnect.
func TestResolveHungSentinelFirst(t *testing.T) {
	for _, role := range []string{"master", "replica"} {
		t.Run(role, func(t *testing.T) {
			checkGoroutines(t)
			st := redistest.StartSentinels(t, name, 1)
			ctx := testCtx(t, 60*time.Second)
			hung := faultproxy.StartGate(t, st.Sentinels[0].Addr)
			good := st.Sentinels[1].Addr
			w, err := newWatcher(Config{MasterName: name, Sentinels: []string{hung.Addr, good}, CheckInterval: -1,
				Node: driver.Config{DialTimeout: 20 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			w.askTimeout = 10 * time.Minute
			var mu sync.Mutex
			ended := map[string][]error{} // the end of each question, by sentinel
			w.asked = func(addr string, err error) {
				mu.Lock()
				defer mu.Unlock()
				ended[addr] = append(ended[addr], err)
			}

			var c *driver.PairedConn
			if role == "master" {
				c, err = dialMaster(ctx, w, driver.PairedConnect)
			} else {
				c, err = replicaConnect(ctx, w)
			}
			if err != nil {
				t.Fatalf("with a hung sentinel first: %v", err)
			}
			defer w.closeAll()
			defer c.Close()

			// Told before the connect returned: one question each; the hung sentinel's
			// was cancelled, not answered nor timed out.
			mu.Lock()
			h, g := ended[hung.Addr], ended[good]
			mu.Unlock()
			if len(h) != 1 || !errors.Is(h[0], context.Canceled) {
				t.Fatalf("the questions to the hung sentinel ended with %v, want one, cancelled", h)
			}
			if len(g) != 1 || g[0] != nil {
				t.Fatalf("the questions to %s ended with %v, want one answer", good, g)
			}
			select {
			case <-hung.Accepted: // it was asked
			case <-ctx.Done():
				t.Fatal("the hung sentinel was never dialled")
			}
			w.mu.Lock()
			named, front := w.named, w.sentinels[0]
			w.mu.Unlock()
			if named != good || front != good {
				t.Fatalf("named by %s, %s first in the list; want %s", named, front, good)
			}

			// The connection works while the hung sentinel is still held.
			if role == "master" {
				if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
					t.Fatal(err)
				}
				if got := st.Master.MustDo("GET", "k").Text(); got != "v" {
					t.Fatalf("the master has k = %q", got)
				}
				return
			}
			st.Master.MustDo("SET", "k", "v")
			st.Master.MustDo("WAIT", "1", "5000")
			if got, err := c.Send("GET", "k").String(ctx); err != nil || got != "v" {
				t.Fatalf("GET from the replica = %q, %v", got, err)
			}
			var re *driver.RedisError
			if err := c.Send("SET", "k", "w").Err(ctx); !errors.As(err, &re) || re.Code() != "READONLY" {
				t.Fatalf("SET: %v, want READONLY from a replica", err)
			}
		})
	}
}

// hedged with sentinels that all hang: each is asked once, without waiting for the
// others' timeouts, and when ctx ends every question has ended before hedged
// returns, with ctx's error for each.
func TestHedgedAllHung(t *testing.T) {
	list := []string{"a:1", "b:1", "c:1", "d:1"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, len(list))
	var mu sync.Mutex
	asks, ends := map[string]int{}, map[string]int{}
	ask := func(ctx context.Context, s string) (string, error) {
		mu.Lock()
		asks[s]++
		mu.Unlock()
		started <- s
		<-ctx.Done()
		return "", ctx.Err()
	}
	done := func(s string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, context.Canceled) {
			ends[s]++
		}
	}
	type result struct {
		i    int
		errs []error
	}
	res := make(chan result, 1)
	go func() {
		i, _, errs := hedged(ctx, list, 10*time.Minute, ask, done)
		res <- result{i, errs}
	}()
	guard := time.After(20 * time.Second)
	for range list {
		select {
		case <-started:
		case <-guard:
			t.Fatal("hedged waits for a hung sentinel before asking the next")
		}
	}
	cancel()
	var r result
	select {
	case r = <-res:
	case <-guard:
		t.Fatal("hedged did not return when ctx ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if r.i != -1 {
		t.Fatalf("winner %d, want none", r.i)
	}
	for i, s := range list {
		if asks[s] != 1 || ends[s] != 1 || !errors.Is(r.errs[i], context.Canceled) {
			t.Fatalf("%s: asked %d times, ended cancelled %d times before hedged returned, error %v; want once each", s, asks[s], ends[s], r.errs[i])
		}
	}
	if err := noAnswer(list, r.errs, ErrUnknownMaster); !errors.Is(err, ErrNoSentinel) || !errors.Is(err, context.Canceled) {
		t.Fatalf("noAnswer: %v, want ErrNoSentinel with the causes", err)
	}
}
