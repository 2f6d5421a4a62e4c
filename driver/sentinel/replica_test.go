package sentinel

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// staleReplicaSentinel is a sentinel with a stale view of the group: SENTINEL
// REPLICAS lists replicas ("host:port") as healthy, whatever they are now. It counts
// the times it was asked in asked.
func staleReplicaSentinel(t *testing.T, asked *atomic.Int32, replicas ...string) *fakeredis.Server {
	t.Helper()
	var list atomic.Pointer[[]string]
	list.Store(&replicas)
	return replicaSentinel(t, &list, asked)
}

// A stale sentinel first in the list does not keep ReplicaConnect from the replicas,
// as for the master (TestStaleSentinelFirst): one that lists the master as a replica
// (it missed a failover), or a replica nothing listens on, is asked last at the
// next attempt, and one that lists no healthy replica does not end the search.
// ReplicaConnect connects to the replica the real sentinel lists, after asking the
// stale one.
func TestReplicaStaleSentinelFirst(t *testing.T) {
	st := redistest.StartSentinels(t, name, 1)
	ctx := testCtx(t, 30*time.Second)
	st.Master.MustDo("SET", "k", "v")
	st.Master.MustDo("WAIT", "1", "5000")
	for _, tc := range []struct {
		what  string
		lists []string
	}{
		{"lists the master", []string{st.Master.Addr}},
		{"lists none", nil},
		{"lists a replica that is gone", []string{deadAddr(t)}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var asked atomic.Int32
			stale := staleReplicaSentinel(t, &asked, tc.lists...)
			good := st.Sentinels[0].Addr
			w, err := newWatcher(Config{MasterName: name, Sentinels: []string{stale.Addr, good}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := replicaConnect(ctx, w)
			if err != nil {
				t.Fatalf("with a stale sentinel first: %v", err)
			}
			defer r.Close()
			if asked.Load() == 0 {
				t.Fatal("the stale sentinel was not asked")
			}
			w.mu.Lock()
			order := append([]string(nil), w.sentinels...)
			w.mu.Unlock()
			if len(order) < 2 || order[0] != good { // the others good knows joined too
				t.Fatalf("the sentinels after the connect: %v, want %s first", order, good)
			}
			if got, err := r.Send("GET", "k").String(ctx); err != nil || got != "v" {
				t.Fatalf("GET = %q, %v", got, err)
			}
			var re *driver.RedisError
			if err := r.Send("SET", "k", "w").Err(ctx); !errors.As(err, &re) || re.Code() != "READONLY" {
				t.Fatalf("SET: %v, want READONLY from the replica", err)
			}
		})
	}
}

// replicaSentinel is a sentinel that answers SENTINEL REPLICAS with the replicas
// list holds ("host:port", all healthy), counting the questions in asked if set, and
// refuses everything else (the watcher's subscription to its events fails, and is
// retried, as for a sentinel that is down).
func replicaSentinel(t *testing.T, list *atomic.Pointer[[]string], asked *atomic.Int32) *fakeredis.Server {
	t.Helper()
	return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if len(cmd) < 2 || !strings.EqualFold(cmd[0], "SENTINEL") || !strings.EqualFold(cmd[1], "REPLICAS") {
			c.Reply(parser.NewSimpleError("ERR unknown command"))
			return true
		}
		if asked != nil {
			asked.Add(1)
		}
		var out []parser.Value
		for _, r := range *list.Load() {
			host, port, _ := net.SplitHostPort(r)
			out = append(out, parser.NewArray(
				parser.NewBulkString("name"), parser.NewBulkString(r),
				parser.NewBulkString("ip"), parser.NewBulkString(host),
				parser.NewBulkString("port"), parser.NewBulkString(port),
				parser.NewBulkString("flags"), parser.NewBulkString("slave")))
		}
		c.Reply(parser.NewArray(out...))
		return true
	})
}

// moving is a ReplicaConnect r (watcher w) through a sentinel that lists the
// replicas list holds: first a, then a and b. r is on a; the selector takes the
// first replica it is given.
// checks receives one value per check's question to the sentinel.
type moving struct {
	w      *watcher
	r      *driver.PairedConn
	list   *atomic.Pointer[[]string]
	a, b   *redistest.Server
	checks chan struct{}
}

func replicaMoves(t *testing.T) *moving {
	t.Helper()
	st := redistest.StartSentinels(t, name, 2)
	m := &moving{a: st.Replicas[0], b: st.Replicas[1], list: &atomic.Pointer[[]string]{}, checks: make(chan struct{}, 16)}
	m.list.Store(&[]string{m.a.Addr})
	fake := replicaSentinel(t, m.list, nil)
	w, err := newWatcher(Config{MasterName: name, Sentinels: []string{fake.Addr}, CheckInterval: -1,
		ReplicaSelector: func([]string) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	w.probed = func(_, what string, _ error) {
		if what == "check" {
			m.checks <- struct{}{}
		}
	}
	m.w = w
	if m.r, err = replicaConnect(testCtx(t, 30*time.Second), w); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.r.Close() })
	if got := m.port(t); got != m.a.Port {
		t.Fatalf("ReplicaConnect reached port %d, want replica a's %d", got, m.a.Port)
	}
	m.list.Store(&[]string{m.a.Addr, m.b.Addr})
	return m
}

// port is the port of the node r is on (0 if r cannot say).
func (m *moving) port(t *testing.T) int {
	v, err := m.r.Do(testCtx(t, 10*time.Second), "CONFIG", "GET", "port")
	if err != nil || len(v.Elems()) != 2 {
		return 0
	}
	n, _ := strconv.Atoi(v.Elems()[1].Text())
	return n
}

// waitPort waits until r is on port p.
func (m *moving) waitPort(t *testing.T, p int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for m.port(t) != p {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the connection is on port %d, want %d", what, m.port(t), p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stays checks that r is still on a, never re-established, after the check an
// event asked for (one question to the sentinel).
func (m *moving) stays(t *testing.T, what string) {
	t.Helper()
	select {
	case <-m.checks:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no check ran", what)
	}
	if got := m.port(t); got != m.a.Port || m.r.Reconnects() != 0 {
		t.Fatalf("%s: on port %d, %d reconnects; want %d, none", what, got, m.r.Reconnects(), m.a.Port)
	}
}

// slave is a sentinel event about replica addr ("127.0.0.1:port") of master.
func slave(ch, addr, master string) driver.Message {
	_, port, _ := net.SplitHostPort(addr)
	return driver.Message{Channel: ch, Payload: []byte(fmt.Sprintf("slave %s 127.0.0.1 %s @ %s 127.0.0.1 1", addr, port, master))}
}

// The events that say a ReplicaConnect's replica is no longer one to read from move
// its connection to another replica: a sentinel about to promote it, its promotion
// (+switch-master naming it), a sentinel finding it down. The replica named is then
// not chosen (the selector takes the first replica given, a). Events about other
// nodes, or another master, move nothing. Before, the connection stayed where it was
// until it broke (sentinels kill a promoted node's clients, but not a replica's that
// is down for them only).
func TestReplicaFollowsEvents(t *testing.T) {
	for _, tc := range []struct {
		what  string
		event func(a string) driver.Message
	}{
		{"promoting", func(a string) driver.Message { return slave("+failover-state-send-slaveof-noone", a, name) }},
		{"promoted", func(a string) driver.Message { return switchMaster("127.0.0.1:1", a) }},
		{"down", func(a string) driver.Message { return slave("+sdown", a, name) }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			m := replicaMoves(t)
			const other = "127.0.0.1:2" // no node of the group
			for _, e := range []driver.Message{
				slave("+sdown", other, name), slave("+sdown", m.a.Addr, "another-master"), switchMaster(m.a.Addr, other),
			} {
				m.w.event(e)
			}
			m.w.mu.Lock()
			avoided, queued := m.w.avoidedLocked(m.a.Addr), len(m.w.recheck)
			m.w.mu.Unlock()
			if avoided || queued != 0 || m.r.Reconnects() != 0 {
				t.Fatalf("after events about other nodes: a avoided %v, %d checks asked for, %d reconnects; want none", avoided, queued, m.r.Reconnects())
			}
			m.w.event(tc.event(m.a.Addr))
			m.waitPort(t, m.b.Port, tc.what)
		})
	}
}

// An event about the replica a ReplicaConnect is on moves nothing when there is
// nowhere to go: it is the only one listed, or every other one listed was named by an
// event too (each check would move the connection again, for as long as they are
// avoided). The connection works (a sentinel finding replicas down may be the one
// cut off).
func TestReplicaEventNowhereToGo(t *testing.T) {
	t.Run("only replica", func(t *testing.T) {
		m := replicaMoves(t)
		m.list.Store(&[]string{m.a.Addr})
		m.w.event(slave("+sdown", m.a.Addr, name))
		m.stays(t, "+sdown of the only replica")
	})
	t.Run("every replica named", func(t *testing.T) {
		m := replicaMoves(t)
		m.w.event(slave("+sdown", m.b.Addr, name))
		m.w.event(slave("+sdown", m.a.Addr, name))
		m.stays(t, "+sdown of both replicas")
		m.w.check(testCtx(t, 10*time.Second))
		m.stays(t, "a periodic check after it")
	})
}

// The periodic check moves a ReplicaConnect off a replica the sentinels no longer
// list as healthy, and leaves it where it is while they do, or while they list none.
func TestReplicaCheckMoves(t *testing.T) {
	m := replicaMoves(t)
	ctx := testCtx(t, 30*time.Second)
	m.w.check(ctx)
	m.list.Store(&[]string{})
	m.w.check(ctx)
	if got := m.port(t); got != m.a.Port || m.r.Reconnects() != 0 {
		t.Fatalf("after checks that list a, or none: on port %d, %d reconnects; want %d, none", got, m.r.Reconnects(), m.a.Port)
	}
	m.list.Store(&[]string{m.b.Addr})
	m.w.check(ctx)
	m.waitPort(t, m.b.Port, "after a check that lists b only")
}

// A replica listed as healthy that cannot be reached (it went down a moment ago) is
// not chosen again for a while: ReplicaConnect, and its reconnect loop, go to one
// that answers, though the selector takes the first replica it is given and the
// only sentinel lists the one gone first.
func TestReplicaGoneListedFirst(t *testing.T) {
	m := redistest.Start(t)
	r := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
	ctx := testCtx(t, 30*time.Second)
	var list atomic.Pointer[[]string]
	list.Store(&[]string{deadAddr(t), r.Addr})
	fake := replicaSentinel(t, &list, nil)
	w, err := newWatcher(Config{MasterName: name, Sentinels: []string{fake.Addr}, CheckInterval: -1,
		ReplicaSelector: func([]string) int { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := replicaConnect(ctx, w)
	if err != nil {
		t.Fatalf("with a replica gone listed first: %v", err)
	}
	defer c.Close()
	if c.Addr() != r.Addr {
		t.Fatalf("on %s, want the replica %s", c.Addr(), r.Addr)
	}
	if err := c.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}

	// Another replica gone, listed first: the reconnect passes over it.
	list.Store(&[]string{deadAddr(t), r.Addr})
	n := c.Reconnects()
	c.Reconnect()
	waitReconnects(t, c, n, "a reconnect with a replica gone listed first")
	if c.Addr() != r.Addr {
		t.Fatalf("on %s after the reconnect, want the replica %s", c.Addr(), r.Addr)
	}
	if err := c.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}
}
