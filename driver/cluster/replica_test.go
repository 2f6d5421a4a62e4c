package cluster

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/redistest"
)

// getCalls returns how many GETs the node served (INFO commandstats).
func getCalls(t *testing.T, s *redistest.Server) int {
	t.Helper()
	for _, line := range strings.Split(s.MustDo("INFO", "commandstats").Text(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_get:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// With ReadFromReplicas, read-only commands go to the replica the selector picks (on
// a READONLY connection) and writes to the master; -1 picks the master.
func TestReadFromReplicas(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	var toMaster atomic.Bool
	var calls atomic.Int64
	c := connect(t, cl, Config{ReadFromReplicas: true, ReplicaSelector: func(slot int, replicas []string) int {
		calls.Add(1)
		if toMaster.Load() {
			return -1
		}
		return 0
	}})
	ctx := testCtx(t, 20*time.Second)
	for i := 0; i < 50; i++ {
		k := "r:" + strconv.Itoa(i)
		if err := c.Send("SET", k, i).Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range cl.Masters() {
		m.MustDo("WAIT", "1", "2000")
	}
	for i := 0; i < 50; i++ {
		k := "r:" + strconv.Itoa(i)
		if n, err := c.Send("GET", k).Int(ctx); err != nil || n != int64(i) {
			t.Fatalf("GET %s from a replica = %d, %v", k, n, err)
		}
	}
	masterGets, replicaGets := 0, 0
	for _, s := range cl.Nodes {
		if s.Role() == "master" {
			masterGets += getCalls(t, s)
		} else {
			replicaGets += getCalls(t, s)
		}
	}
	if masterGets != 0 || replicaGets != 50 || calls.Load() < 50 {
		t.Fatalf("GETs: %d on masters, %d on replicas (selector called %d times); want 0 and 50", masterGets, replicaGets, calls.Load())
	}
	toMaster.Store(true)
	for i := 0; i < 10; i++ {
		if _, err := c.Send("GET", "r:"+strconv.Itoa(i)).Int(ctx); err != nil {
			t.Fatal(err)
		}
	}
	masterGets = 0
	for _, s := range cl.Masters() {
		masterGets += getCalls(t, s)
	}
	if masterGets != 10 {
		t.Fatalf("selector -1: %d GETs on masters, want 10", masterGets)
	}
}
