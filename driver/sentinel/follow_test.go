package sentinel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

// failover runs SENTINEL FAILOVER on s, again while the sentinel refuses it for now
// (a failover still in progress, the replicas not yet good), and waits until the
// sentinels name a master other than old.
func failover(t *testing.T, st *redistest.Sentinels, s *redistest.Server, old string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := s.Do("SENTINEL", "FAILOVER", st.Name)
		if err == nil && !v.IsError() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SENTINEL FAILOVER refused: %v %v", err, v.Text())
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitMaster(t, st, old)
	return st.MasterAddr()
}

// switchMaster is the +switch-master message the sentinels publish for a move from
// old to new.
func switchMaster(old, new string) driver.Message {
	oh, op, _ := net.SplitHostPort(old)
	nh, np, _ := net.SplitHostPort(new)
	return driver.Message{Channel: "+switch-master", Payload: []byte(fmt.Sprintf("%s %s %s %s %s", name, oh, op, nh, np))}
}

// waitReconnects waits until c was re-established more than n times.
func waitReconnects(t *testing.T, c *driver.PairedConn, n uint64, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for c.Reconnects() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the connection was not re-established (reconnects %d)", what, c.Reconnects())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A dial of the dedicated pool that finds the new master does not hide the move from
// the shared connection: +switch-master, and the periodic check, still move it. The
// watcher's goroutine is not started (pairedConnect): the test hands it the event, or
// runs the check, itself, after the Dedicated call, so that the pool learns of the new
// master first. The sentinels and the failover are real; the old master is kept from
// being turned into a replica (its CLIENT command denied, so the sentinels' MULTI of
// SLAVEOF and CLIENT KILL aborts), as when it is cut off from the sentinels: else
// their CLIENT KILL would drop the shared connection, which would then find the new
// master by itself.
func TestFollowAfterPoolDial(t *testing.T) {
	for _, via := range []string{"+switch-master", "check"} {
		t.Run(via, func(t *testing.T) {
			st := redistest.StartSentinels(t, name, 1)
			ctx := testCtx(t, 60*time.Second)
			a := st.Master.Addr
			st.Master.MustDo("ACL", "SETUSER", "default", "-client")
			w, c, err := pairedConnect(ctx, Config{MasterName: name, Sentinels: sentinelAddrs(st)})
			if err != nil {
				t.Fatal(err)
			}
			defer w.closeAll()
			defer c.Close()

			b := failover(t, st, st.Sentinels[0], a)
			err = c.Dedicated(ctx, func(d *driver.DedicatedConn) error { return d.Send("SET", "ded", "x").Err(ctx) })
			if err != nil {
				t.Fatalf("Dedicated: %v", err)
			}
			if got := st.Node(b).MustDo("GET", "ded").Text(); got != "x" {
				t.Fatalf("the Dedicated call did not reach the new master %s", b)
			}
			if n := c.Reconnects(); n != 0 || st.Node(a).Role() != "master" {
				t.Fatalf("the shared connection was re-established by itself (%d times), or the old master is %s", n, st.Node(a).Role())
			}
			if via == "check" {
				w.check(ctx)
			} else {
				w.event(switchMaster(a, b))
			}
			waitReconnects(t, c, 0, via+" after a pool dial")
			if err := c.Send("SET", "k", "v").Err(ctx); err != nil {
				t.Fatalf("SET on the shared connection: %v", err)
			}
			if got := st.Node(b).MustDo("GET", "k").Text(); got != "v" {
				t.Fatalf("the SET did not reach the new master %s", b)
			}
		})
	}
}

// A wrong SentinelPassword is told as the sentinel's refusal (a *HandshakeError under
// ErrNoSentinel), not as "not reachable"; a SentinelUsername without a password and a
// sentinel address without a port are ConfigErrors before anything is dialled.
func TestSentinelAuthErrors(t *testing.T) {
	st := redistest.StartSentinelsConf(t, name, 0, "requirepass sentpw\nsentinel sentinel-pass sentpw\n")
	ctx := testCtx(t, 20*time.Second)
	cfg := Config{MasterName: name, Sentinels: sentinelAddrs(st), SentinelPassword: "wrong"}
	var he *driver.HandshakeError
	_, err := PairedConnect(ctx, cfg)
	if !errors.As(err, &he) || !errors.Is(err, ErrNoSentinel) || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong SentinelPassword: %v, want a WRONGPASS *HandshakeError under ErrNoSentinel", err)
	}
	if _, err := PubsubConnect(ctx, cfg); !errors.As(err, &he) {
		t.Fatalf("PubsubConnect, wrong SentinelPassword: %v, want a *HandshakeError", err)
	}
	if _, err := ReplicaConnect(ctx, cfg); !errors.As(err, &he) || !errors.Is(err, ErrNoSentinel) {
		t.Fatalf("ReplicaConnect, wrong SentinelPassword: %v, want a *HandshakeError under ErrNoSentinel", err)
	}
	good := cfg
	good.SentinelPassword = "sentpw"
	c, err := PairedConnect(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	var ce *driver.ConfigError
	for _, bad := range []struct {
		cfg   Config
		field string
	}{
		{Config{MasterName: name, Sentinels: sentinelAddrs(st), SentinelUsername: "u"}, "SentinelPassword"},
		{Config{MasterName: name, Sentinels: []string{"localhost"}}, "Sentinels"},
	} {
		for _, connect := range []func(context.Context, Config) error{
			func(ctx context.Context, cfg Config) error { _, err := PairedConnect(ctx, cfg); return err },
			func(ctx context.Context, cfg Config) error { _, err := PubsubConnect(ctx, cfg); return err },
			func(ctx context.Context, cfg Config) error { _, err := ReplicaConnect(ctx, cfg); return err },
		} {
			// Up front: not one of the sentinels' dial errors.
			if err := connect(ctx, bad.cfg); !errors.As(err, &ce) || ce.Field != bad.field || errors.Is(err, ErrNoSentinel) {
				t.Fatalf("%v: %v, want a *ConfigError for %s", bad.cfg, err, bad.field)
			}
		}
	}
}

// No fmt verb prints the sentinels' password or the data nodes'.
func TestConfigRedacted(t *testing.T) {
	cfg := Config{MasterName: name, Sentinels: []string{"127.0.0.1:26379"},
		SentinelUsername: "sentuser", SentinelPassword: "sentsecret",
		SentinelTLS: &tls.Config{}, CheckInterval: time.Second,
		Node: driver.Config{Username: "datauser", Password: "datasecret"}}
	out := fmt.Sprint(cfg) + cfg.String() + cfg.GoString()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, x := range []any{cfg, &cfg, struct{ C Config }{cfg}} {
			out += fmt.Sprintf(verb, x)
		}
	}
	for _, secret := range []string{"sentsecret", "datasecret"} {
		if strings.Contains(out, secret) {
			t.Fatalf("a password is printed: %s", out)
		}
	}
	for _, want := range []string{name, "127.0.0.1:26379", "sentuser", "<redacted>", "datauser"} {
		if !strings.Contains(cfg.String(), want) {
			t.Fatalf("String() = %s, missing %q", cfg.String(), want)
		}
	}
}

// stale makes sentinel s name the replica r as the master: it forgets the group and
// monitors r under the same name, so it publishes no +switch-master.
func stale(t *testing.T, s, r *redistest.Server) {
	t.Helper()
	s.MustDo("SENTINEL", "REMOVE", name)
	s.MustDo("SENTINEL", "MONITOR", name, "127.0.0.1", strconv.Itoa(r.Port), "2")
	v := s.MustDo("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if e := v.Elems(); len(e) != 2 || net.JoinHostPort(e[0].Text(), e[1].Text()) != r.Addr {
		t.Fatalf("the stale sentinel names %v, want %s", v, r.Addr)
	}
}

// A sentinel that names a replica (it missed a failover, or is cut off from the
// others) does not make the master unreachable when it comes first in the list: the
// next attempt asks it last, at the first connect as in the reconnect loop.
func TestStaleSentinelFirst(t *testing.T) {
	st := redistest.StartSentinels(t, name, 1)
	ctx := testCtx(t, 60*time.Second)
	s0, s1 := st.Sentinels[0], st.Sentinels[1]
	stale(t, s0, st.Replicas[0])

	c, err := PairedConnect(ctx, Config{MasterName: name, Sentinels: []string{s0.Addr, s1.Addr}, CheckInterval: -1})
	if err != nil {
		t.Fatalf("with a stale sentinel first: %v", err)
	}
	defer c.Close()
	if err := c.Send("SET", "k1", "v").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Master.MustDo("GET", "k1").Text(); got != "v" {
		t.Fatalf("the write did not reach the master: %q", got)
	}

	// s1 answered, so it is asked first now: it goes stale too, and the connection is
	// re-established. The reconnect loop passes over s1 and s0 to the third sentinel
	// (learnt from s1).
	stale(t, s1, st.Replicas[0])
	n := c.Reconnects()
	c.Reconnect()
	waitReconnects(t, c, n, "a reconnect with two stale sentinels first")
	if err := c.Send("SET", "k2", "v").Err(ctx); err != nil {
		t.Fatalf("after a reconnect with two stale sentinels first: %v", err)
	}
	if got := st.Master.MustDo("GET", "k2").Text(); got != "v" {
		t.Fatalf("the write did not reach the master: %q", got)
	}
}
