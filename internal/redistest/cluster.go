package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of throwaway servers on loopback, stopped when its test
// ends.
type Cluster struct {
	Nodes []*Server // in creation order: the masters first, then their replicas
	// TLSAddrs are the nodes' TLS addresses (StartClusterTLS), by node; "" without TLS.
	TLSAddrs []string
	t        testing.TB
}

// NodeTimeout is the cluster-node-timeout of the clusters StartCluster makes, in
// milliseconds: small, so that failover tests are quick.
const NodeTimeout = 1000

// StartCluster starts masters masters with replicas replicas each (redis-cli --cluster
// create ... --cluster-replicas), every slot assigned, and returns once every node
// reports cluster_state:ok and sees every other node. extra are more server arguments.
// A missing redis-server or redis-cli skips t, or fails it under CI=true.
func StartCluster(t testing.TB, masters, replicas int, extra ...string) *Cluster {
	t.Helper()
	return startCluster(t, masters, replicas, nil, extra...)
}

// StartClusterTLS is StartCluster with every node also listening with TLS (certs,
// clients not asked for certificates) and the cluster bus and replication over TLS
// (tls-cluster, tls-replication): a TLS client is then told the nodes' TLS ports.
// TLSAddrs holds each node's TLS address, by node.
func StartClusterTLS(t testing.TB, certs *Certs, masters, replicas int) *Cluster {
	t.Helper()
	return startCluster(t, masters, replicas, certs)
}

func startCluster(t testing.TB, masters, replicas int, certs *Certs, extra ...string) *Cluster {
	t.Helper()
	if os.Getenv("REDIS_TEST_ADDR") != "" {
		t.Skip("redistest: a cluster cannot use REDIS_TEST_ADDR")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-cli not installed (CI=true: this is a failure)")
		}
		t.Skip("redistest: redis-cli not installed")
	}
	c := &Cluster{t: t}
	args := append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(NodeTimeout), "--appendonly", "no",
		"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"}, extra...) // replicas sync, and show in CLUSTER SLOTS, at once
	create := []string{"--cluster", "create"}
	for i := 0; i < masters*(1+replicas); i++ {
		nodeArgs := args
		tlsAddr := ""
		if certs != nil {
			port, err := freeClusterPort()
			if err != nil {
				t.Fatal(err)
			}
			tlsAddr = "127.0.0.1:" + strconv.Itoa(port)
			nodeArgs = append(append([]string{}, args...),
				"--tls-port", strconv.Itoa(port),
				"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey,
				"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "no",
				// The bus always asks for a client certificate.
				"--tls-client-cert-file", certs.ClientCert, "--tls-client-key-file", certs.ClientKey,
				"--tls-cluster", "yes", "--tls-replication", "yes")
		}
		s := Start(t, nodeArgs...)
		c.Nodes = append(c.Nodes, s)
		c.TLSAddrs = append(c.TLSAddrs, tlsAddr)
		if certs != nil {
			// The nodes announce their TLS ports: redis-cli must meet them there,
			// or it waits for a join it never recognises.
			create = append(create, tlsAddr)
		} else {
			create = append(create, s.Addr)
		}
	}
	create = append(create, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if certs != nil {
		create = append(create, "--tls", "--cacert", certs.CAFile)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, cli, create...).CombinedOutput() // it waits for the nodes to join
	if err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(create, " "), err, out)
	}
	if err := c.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// Info returns field of the node's CLUSTER INFO ("" if missing or unreachable).
func (s *Server) clusterInfo(field string) string {
	v, err := s.Do("CLUSTER", "INFO")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(v.Text(), "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return val
		}
	}
	return ""
}

// WaitOK waits until every running node reports cluster_state:ok, knows every node,
// and all agree on the slot map (the same CLUSTER SLOTS reply), which lists every
// running node (a replica appears there once it has synchronised).
func (c *Cluster) WaitOK(d time.Duration) error {
	deadline := time.Now().Add(d)
	var why string
	for time.Now().Before(deadline) {
		why = c.notOK()
		if why == "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redistest: cluster not ok after %v: %s", d, why)
}

// notOK says why the cluster is not settled, or "".
func (c *Cluster) notOK() string {
	var slots string
	n := 0
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		n++
	}
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		if st := s.clusterInfo("cluster_state"); st != "ok" {
			return s.Addr + " cluster_state:" + st
		}
		if k := s.clusterInfo("cluster_known_nodes"); k != strconv.Itoa(len(c.Nodes)) {
			return s.Addr + " knows " + k + " nodes"
		}
		v, err := s.Do("CLUSTER", "SLOTS")
		if err != nil {
			return err.Error()
		}
		got := v.String()
		nodes := map[string]bool{}
		for _, e := range v.Elems() {
			for _, nd := range e.Elems()[2:] {
				nodes[nd.String()] = true
			}
		}
		if listed := len(nodes); listed != n {
			return s.Addr + ": CLUSTER SLOTS lists " + strconv.Itoa(listed) + " of " + strconv.Itoa(n) + " running nodes"
		}
		if slots == "" {
			slots = got
		} else if got != slots {
			return "nodes disagree on CLUSTER SLOTS"
		}
	}
	if n == 0 {
		return "no node running"
	}
	return ""
}

// Running reports whether a started server's process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Role returns "master" or "slave" as the node reports it (ROLE), or "" if it does not
// answer.
func (s *Server) Role() string {
	v, err := s.Do("ROLE")
	if err != nil || len(v.Elems()) == 0 {
		return ""
	}
	return v.Elems()[0].Text()
}

// Masters returns the running nodes that are masters.
func (c *Cluster) Masters() []*Server {
	var m []*Server
	for _, s := range c.Nodes {
		if s.Running() && s.Role() == "master" {
			m = append(m, s)
		}
	}
	return m
}

// NodeID returns the node's cluster id (CLUSTER MYID).
func (s *Server) NodeID() string { return s.MustDo("CLUSTER", "MYID").Text() }

// ReplicaOf returns a running replica of master m, or nil.
func (c *Cluster) ReplicaOf(m *Server) *Server {
	id := m.NodeID()
	for _, s := range c.Nodes {
		if s == m || !s.Running() {
			continue
		}
		v, err := s.Do("ROLE")
		if err != nil || len(v.Elems()) < 3 || v.Elems()[0].Text() != "slave" {
			continue
		}
		if nodes := s.MustDo("CLUSTER", "NODES").Text(); strings.Contains(nodes, "myself,slave "+id) {
			return s
		}
	}
	return nil
}

// Reshard moves n slots from the master from to the master to with redis-cli
// --cluster reshard (MIGRATING/IMPORTING, then MIGRATE of their keys: clients see ASK
// and then MOVED), and waits for the cluster to settle.
//
// With a node timeout this short, a node starved of CPU for a second (-race, and a
// load on two cores) can make the cluster report CLUSTERDOWN for a moment, and
// redis-cli then gives up half-way. Reshard then waits for the cluster, closes the
// slot left half-way (redis-cli --cluster fix) and moves the slots still to move, at
// most three times.
func (c *Cluster) Reshard(from, to *Server, n int) error {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return err
	}
	want := slotsOwned(to) + n
	for attempt := 1; ; attempt++ {
		left := want - slotsOwned(to)
		if left <= 0 {
			break
		}
		out, err := runCLI(cli, "--cluster", "reshard", from.Addr,
			"--cluster-from", from.NodeID(), "--cluster-to", to.NodeID(),
			"--cluster-slots", strconv.Itoa(left), "--cluster-yes", "--cluster-pipeline", "10")
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(string(out), "CLUSTERDOWN") {
			return fmt.Errorf("redistest: reshard: %v\n%s", err, out)
		}
		c.t.Logf("redistest: reshard interrupted by CLUSTERDOWN (attempt %d), fixing and going on", attempt)
		if err := c.WaitOK(30 * time.Second); err != nil {
			// A slot left half-way keeps the slot maps apart: fix it first.
			c.t.Logf("redistest: %v", err)
		}
		if out, err := runCLI(cli, "--cluster", "fix", from.Addr, "--cluster-yes"); err != nil {
			return fmt.Errorf("redistest: reshard: fix after CLUSTERDOWN: %v\n%s", err, out)
		}
		if err := c.WaitOK(30 * time.Second); err != nil {
			return err
		}
	}
	return c.WaitOK(30 * time.Second)
}

// runCLI runs redis-cli with args, for at most two minutes.
func runCLI(cli string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, cli, args...).CombinedOutput()
}

// slotsOwned returns how many slots s serves (CLUSTER NODES, its own line; slots
// being imported or migrated, in brackets, not counted).
func slotsOwned(s *Server) int {
	v, err := s.Do("CLUSTER", "NODES")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(v.Text(), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "myself") {
			continue
		}
		n := 0
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && b >= a {
				n += b - a + 1
			}
		}
		return n
	}
	return 0
}
