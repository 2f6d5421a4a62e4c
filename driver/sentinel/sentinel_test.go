package sentinel

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/loadtest"
	"github.com/respring/respring/internal/redistest"
)

const name = "mymaster"

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func sentinelAddrs(st *redistest.Sentinels) []string {
	var a []string
	for _, s := range st.Sentinels {
		a = append(a, s.Addr)
	}
	return a
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	s := redistest.Start(t)
	addr := s.Addr
	s.Stop()
	return addr
}

// Discovery: the master through the sentinels (a dead one first in the list is
// skipped), and clear errors for a wrong name and for no sentinel at all.
func TestDiscovery(t *testing.T) {
	st := redistest.StartSentinels(t, name, 1)
	ctx := testCtx(t, 20*time.Second)
	dead := deadAddr(t)
	c, err := PairedConnect(ctx, Config{MasterName: name, Sentinels: []string{dead, st.Sentinels[0].Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Master.MustDo("GET", "k").Text(); got != "v" {
		t.Fatalf("the master has k = %q", got)
	}
	_, err = PairedConnect(ctx, Config{MasterName: "nosuch", Sentinels: sentinelAddrs(st)})
	if !errors.Is(err, ErrUnknownMaster) {
		t.Fatalf("wrong master name: %v, want ErrUnknownMaster", err)
	}
	_, err = PairedConnect(ctx, Config{MasterName: name, Sentinels: []string{dead, deadAddr(t)}})
	if !errors.Is(err, ErrNoSentinel) {
		t.Fatalf("no sentinel: %v, want ErrNoSentinel", err)
	}
	var ce *driver.ConfigError
	if _, err := PairedConnect(ctx, Config{Sentinels: sentinelAddrs(st)}); !errors.As(err, &ce) {
		t.Fatalf("no master name: %v", err)
	}
}

// A node the sentinels name that is not a master (ROLE says slave) is never used.
func TestVerifyRole(t *testing.T) {
	st := redistest.StartSentinels(t, name, 1)
	err := verify(st.Replicas[0].Do)
	if !errors.Is(err, ErrNotMaster) {
		t.Fatalf("verify on a replica: %v", err)
	}
	if err := verify(st.Master.Do); err != nil {
		t.Fatalf("verify on the master: %v", err)
	}
	if err := verifyReplica(st.Master.Do); !errors.Is(err, ErrNotReplica) {
		t.Fatalf("verifyReplica on the master: %v", err)
	}
	if err := verifyReplica(st.Replicas[0].Do); err != nil {
		t.Fatalf("verifyReplica on a replica: %v", err)
	}
}

// Under a 16-goroutine INCR/SET/GET load: SENTINEL FAILOVER, kill -9 of the master,
// and the old master's return as a replica, with one sentinel down. Counters stay
// within acknowledged..acknowledged+maybe (writes the server lost in the kill -9 are
// counted apart), no reply reaches another command, no call outlives its context,
// the errors stop after each fault, and subscriptions continue on the new master.
func TestFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	st := redistest.StartSentinels(t, name, 2)
	ctx := testCtx(t, 120*time.Second)
	cfg := Config{MasterName: name, Sentinels: sentinelAddrs(st)}
	c, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ps, err := PubsubConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	sub, err := ps.Subscribe(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if n, err := c.Send("PUBLISH", "events", what).Int(ctx); err == nil && n > 0 {
				select {
				case m := <-sub.Messages():
					if string(m.Payload) != what {
						t.Fatalf("message %q, want %q", m.Payload, what)
					}
					return
				case <-time.After(5 * time.Second):
					t.Fatal("no message")
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s reached no subscriber", what)
	}
	publish("before")

	l := loadtest.Start(t, c, 16)
	time.Sleep(300 * time.Millisecond)
	if _, first := l.Reset(); first != nil {
		t.Fatalf("errors before any fault: %v", first)
	}

	// 1. SENTINEL FAILOVER, with one sentinel down.
	st.Sentinels[2].Stop()
	fault := time.Now()
	st.Sentinels[0].MustDo("SENTINEL", "FAILOVER", name)
	waitMaster(t, st, st.Master.Addr)
	rec := l.Settle(t, fault, "SENTINEL FAILOVER")
	t.Logf("SENTINEL FAILOVER: recovery %v", rec.Round(time.Millisecond))
	publish("after failover")
	if lost := l.Lost(t); lost > 0 {
		t.Errorf("SENTINEL FAILOVER lost %d acknowledged writes", lost)
	}
	st.Sentinels[2].Restart()

	// 2. kill -9 of the (new) master.
	if err := st.WaitKnown(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	victim := st.Node(st.MasterAddr())
	fault = time.Now()
	victim.Stop()
	waitMaster(t, st, victim.Addr)
	promoted := time.Since(fault)
	rec = l.Settle(t, fault, "kill -9 of the master")
	t.Logf("kill -9: recovery %v, the new master named after %v (down-after-milliseconds %d)",
		rec.Round(time.Millisecond), promoted.Round(time.Millisecond), redistest.DownAfter)
	publish("after kill")

	// 3. The old master returns, as a replica.
	fault = time.Now()
	victim.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for victim.Role() != "slave" {
		if time.Now().After(deadline) {
			t.Fatal("the old master did not become a replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.Settle(t, fault, "return of the old master")
	l.Finish(t, func(string) bool { return true }) // any counter may have lost writes in the kill -9
	if n, err := c.Send("INCR", "after").Int(ctx); err != nil || n != 1 {
		t.Fatalf("after all: INCR = %d, %v", n, err)
	}
	if got := st.Node(st.MasterAddr()).MustDo("GET", "after").Text(); got != "1" {
		t.Fatalf("the write did not reach the current master: %q", got)
	}
}

// waitMaster waits until the sentinels name a master other than old.
func waitMaster(t *testing.T, st *redistest.Sentinels, old string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if a := st.MasterAddr(); a != "" && a != old {
			if n := st.Node(a); n != nil && n.Role() == "master" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new master after 30 s (still %s)", st.MasterAddr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The sentinels and the data nodes have passwords of their own: each side gets its
// own (Config.SentinelPassword, Config.Node.Password), and the wrong one is refused.
func TestSentinelAuth(t *testing.T) {
	st := redistest.StartSentinelsConf(t, name, 1,
		"requirepass sentpw\nsentinel sentinel-pass sentpw\nsentinel auth-pass "+name+" datapw\n",
		"--requirepass", "datapw", "--masterauth", "datapw")
	ctx := testCtx(t, 20*time.Second)
	cfg := Config{MasterName: name, Sentinels: sentinelAddrs(st), SentinelPassword: "sentpw",
		Node: driver.Config{Password: "datapw"}}
	c, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.SentinelPassword = ""
	if _, err := PairedConnect(ctx, bad); !errors.Is(err, ErrNoSentinel) {
		t.Fatalf("no sentinel password: %v, want ErrNoSentinel", err)
	}
	bad = cfg
	bad.Node.Password = "sentpw"
	var he *driver.HandshakeError
	if _, err := PairedConnect(ctx, bad); !errors.As(err, &he) {
		t.Fatalf("the sentinels' password for the data node: %v, want a *HandshakeError", err)
	}
}

// TLS to the sentinels (Config.SentinelTLS) and to the data nodes (Node.TLS).
func TestSentinelTLS(t *testing.T) {
	certs := redistest.NewCerts(t)
	st := redistest.StartSentinelsTLS(t, certs, name, 1)
	ctx := testCtx(t, 20*time.Second)
	var addrs []string
	for _, s := range st.Sentinels {
		addrs = append(addrs, st.TLSAddrs[s.Addr])
	}
	c, err := PairedConnect(ctx, Config{MasterName: name, Sentinels: addrs,
		SentinelTLS: &tls.Config{RootCAs: certs.CAPool},
		Node:        driver.Config{TLS: &tls.Config{RootCAs: certs.CAPool}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send("SET", "k", "over tls").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Master.MustDo("GET", "k").Text(); got != "over tls" {
		t.Fatalf("the master has %q", got)
	}
	// Without TLS to the sentinels, none answers.
	if _, err := PairedConnect(ctx, Config{MasterName: name, Sentinels: addrs, Node: driver.Config{TLS: &tls.Config{RootCAs: certs.CAPool}}}); !errors.Is(err, ErrNoSentinel) {
		t.Fatalf("plain to TLS sentinels: %v", err)
	}
}

// ReplicaConnect reads from the replica the selector picks; writes get READONLY.
func TestReplicaConnect(t *testing.T) {
	st := redistest.StartSentinels(t, name, 2)
	ctx := testCtx(t, 20*time.Second)
	st.Master.MustDo("SET", "k", "v")
	st.Master.MustDo("WAIT", "2", "2000")
	var picked string
	r, err := ReplicaConnect(ctx, Config{MasterName: name, Sentinels: sentinelAddrs(st),
		ReplicaSelector: func(rs []string) int { picked = rs[len(rs)-1]; return len(rs) - 1 }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := r.Send("GET", "k").String(ctx); err != nil || got != "v" {
		t.Fatalf("GET from a replica = %q, %v", got, err)
	}
	var re *driver.RedisError
	if err := r.Send("SET", "k", "w").Err(ctx); !errors.As(err, &re) || re.Code() != "READONLY" {
		t.Fatalf("SET on a replica: %v, want READONLY", err)
	}
	n := st.Node(picked)
	if n == nil || n.Role() != "slave" {
		t.Fatalf("the selector's pick %s is not a replica", picked)
	}
	if !strings.Contains(n.MustDo("INFO", "commandstats").Text(), "cmdstat_get:calls=1,") {
		t.Fatalf("the GET did not reach the replica the selector picked")
	}
}
