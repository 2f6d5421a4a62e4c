package sentinel

import (
	"errors"
	"net"
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
	return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if len(cmd) < 2 || !strings.EqualFold(cmd[0], "SENTINEL") || !strings.EqualFold(cmd[1], "REPLICAS") {
			c.Reply(parser.NewSimpleError("ERR unknown command"))
			return true
		}
		asked.Add(1)
		var list []parser.Value
		for _, r := range replicas {
			host, port, _ := net.SplitHostPort(r)
			list = append(list, parser.NewArray(
				parser.NewBulkString("name"), parser.NewBulkString(r),
				parser.NewBulkString("ip"), parser.NewBulkString(host),
				parser.NewBulkString("port"), parser.NewBulkString(port),
				parser.NewBulkString("flags"), parser.NewBulkString("slave")))
		}
		c.Reply(parser.NewArray(list...))
		return true
	})
}

// A stale sentinel first in the list does not keep ReplicaConnect from the replicas,
// as for the master (TestStaleSentinelFirst): one that lists the master as a replica
// (it missed a failover) is asked last at the next attempt, and one that lists no
// healthy replica does not end the search. ReplicaConnect connects to the replica the
// real sentinel lists, after asking the stale one.
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
			if len(order) != 2 || order[0] != good {
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
