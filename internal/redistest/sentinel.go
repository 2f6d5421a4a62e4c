package redistest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

// Sentinels is a master, its replicas and three sentinels watching it, on loopback,
// stopped when the test ends.
type Sentinels struct {
	Name      string    // the master's name for the sentinels
	Master    *Server   // the master as started (a failover makes another node master)
	Replicas  []*Server // replicas as started
	Sentinels []*Server
	// TLSAddrs maps a server's plain address to its TLS address
	// (StartSentinelsTLS); nil without TLS.
	TLSAddrs map[string]string
}

// DownAfter is the down-after-milliseconds of the sentinels StartSentinels makes:
// small, so that failover tests are quick.
const DownAfter = 1000

// StartSentinels starts a master named name, replicas replicas of it and three
// sentinels (quorum 2, down-after-milliseconds DownAfter, failover-timeout 3 s), and
// returns once every sentinel knows the master, its replicas and the other
// sentinels. extra are more arguments for the data nodes.
func StartSentinels(t testing.TB, name string, replicas int, extra ...string) *Sentinels {
	t.Helper()
	return StartSentinelsConf(t, name, replicas, "", extra...)
}

// StartSentinelsTLS is StartSentinels with TLS everywhere: the data nodes and the
// sentinels also listen with TLS (certs; clients not asked for certificates), the
// replicas and the sentinels reach the data nodes over TLS (tls-replication), and the
// sentinels name the master by its TLS address. TLSAddrs maps each server's plain
// address to its TLS one.
func StartSentinelsTLS(t testing.TB, certs *Certs, name string, replicas int) *Sentinels {
	t.Helper()
	tlsArgs := func() ([]string, string) {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--tls-port", strconv.Itoa(port),
			"--tls-cert-file", certs.ServerCert, "--tls-key-file", certs.ServerKey,
			"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "no",
			"--tls-client-cert-file", certs.ClientCert, "--tls-client-key-file", certs.ClientKey,
			"--tls-replication", "yes"}, "127.0.0.1:" + strconv.Itoa(port)
	}
	st := &Sentinels{Name: name, TLSAddrs: map[string]string{}}
	base := []string{"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"}
	margs, mtls := tlsArgs()
	st.Master = Start(t, append(base, margs...)...)
	st.TLSAddrs[st.Master.Addr] = mtls
	_, mport, _ := strings.Cut(mtls, ":")
	for i := 0; i < replicas; i++ {
		rargs, rtls := tlsArgs()
		r := Start(t, append(append([]string{"--replicaof", "127.0.0.1", mport}, base...), rargs...)...)
		st.Replicas = append(st.Replicas, r)
		st.TLSAddrs[r.Addr] = rtls
	}
	st.waitSynced(t)
	for i := 0; i < 3; i++ {
		sargs, stls := tlsArgs()
		conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 3000\n", name, mport, name, DownAfter, name)
		for j := 0; j+1 < len(sargs); j += 2 {
			conf += strings.TrimPrefix(sargs[j], "--") + " " + sargs[j+1] + "\n"
		}
		s, err := newServer(conf)
		if err != nil {
			t.Fatal(err)
		}
		s.t = t
		t.Cleanup(s.Close)
		st.Sentinels = append(st.Sentinels, s)
		st.TLSAddrs[s.Addr] = stls
	}
	if err := st.WaitKnown(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitSynced waits until every replica's link to the master is up.
func (st *Sentinels) waitSynced(t testing.TB) {
	t.Helper()
	for _, r := range st.Replicas {
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(r.MustDo("INFO", "replication").Text(), "master_link_status:up") {
			if time.Now().After(deadline) {
				t.Fatalf("redistest: replica %s not in sync after 30 s", r.Addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// StartSentinelsConf is StartSentinels with more lines for the sentinels'
// configuration (sentinel auth-pass, requirepass, ...).
func StartSentinelsConf(t testing.TB, name string, replicas int, sentinelConf string, extra ...string) *Sentinels {
	t.Helper()
	if os.Getenv("REDIS_TEST_ADDR") != "" {
		t.Skip("redistest: sentinels cannot use REDIS_TEST_ADDR")
	}
	st := &Sentinels{Name: name}
	// Every node may become a master that replicas sync from: no diskless sync delay
	// (5 s by default), and pings each second.
	extra = append([]string{"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"}, extra...)
	st.Master = Start(t, extra...)
	for i := 0; i < replicas; i++ {
		st.Replicas = append(st.Replicas, Start(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(st.Master.Port)}, extra...)...))
	}
	st.waitSynced(t)
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
		"sentinel down-after-milliseconds %s %d\n"+
		"sentinel failover-timeout %s 3000\n", name, st.Master.Port, name, DownAfter, name) + sentinelConf
	for i := 0; i < 3; i++ {
		s, err := newServer(conf)
		if errors.Is(err, ErrNoServer) && os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.t = t
		t.Cleanup(s.Close)
		st.Sentinels = append(st.Sentinels, s)
	}
	if err := st.WaitKnown(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return st
}

// WaitKnown waits until every running sentinel sees the running sentinels and
// replicas: SENTINEL SENTINELS and SENTINEL REPLICAS list them, with no flag of
// trouble (s_down, o_down, disconnected).
func (st *Sentinels) WaitKnown(d time.Duration) error {
	deadline := time.Now().Add(d)
	var why string
	for time.Now().Before(deadline) {
		if why = st.notKnown(); why == "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redistest: sentinels not settled after %v: %s", d, why)
}

func (st *Sentinels) notKnown() string {
	running := func(list []*Server) int {
		n := 0
		for _, s := range list {
			if s.Running() {
				n++
			}
		}
		return n
	}
	dataNodes := running(append([]*Server{st.Master}, st.Replicas...))
	sentinels := running(st.Sentinels)
	for _, s := range st.Sentinels {
		if !s.Running() {
			continue
		}
		for _, q := range []struct {
			sub  string
			want int
		}{{"SENTINELS", sentinels - 1}, {"REPLICAS", dataNodes - 1}} {
			v, err := s.Do("SENTINEL", q.sub, st.Name)
			if err != nil {
				return err.Error()
			}
			ok := 0
			for _, e := range v.Elems() {
				if flags := field(e, "flags"); !strings.Contains(flags, "down") && !strings.Contains(flags, "disconnected") {
					ok++
				}
			}
			if ok != q.want {
				return fmt.Sprintf("%s sees %d %s in good health, want %d", s.Addr, ok, strings.ToLower(q.sub), q.want)
			}
		}
	}
	return ""
}

// field returns a value of a SENTINEL reply's flat field list (or RESP3 map).
func field(v parser.Value, key string) string {
	e := v.Elems()
	for i := 0; i+1 < len(e); i += 2 {
		if e[i].Text() == key {
			return e[i+1].Text()
		}
	}
	return ""
}

// MasterAddr returns what the first running sentinel says the master's address is.
func (st *Sentinels) MasterAddr() string {
	for _, s := range st.Sentinels {
		if !s.Running() {
			continue
		}
		v, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", st.Name)
		if err == nil && len(v.Elems()) == 2 {
			return v.Elems()[0].Text() + ":" + v.Elems()[1].Text()
		}
	}
	return ""
}

// Node returns the data node (master or replica as started) at addr, or nil.
func (st *Sentinels) Node(addr string) *Server {
	for _, s := range append([]*Server{st.Master}, st.Replicas...) {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}
