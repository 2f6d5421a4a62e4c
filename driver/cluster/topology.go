package cluster

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// The slot map comes from CLUSTER SLOTS. CLUSTER SHARDS (Redis 7) describes the same
// map with node health, but servers before 7.2 have bugs in it that peers hit: wrong
// or missing nodes after a failover or during a migration (redis #13414, valkey #784;
// rueidis uses it only on servers from 8 on). CLUSTER SLOTS is still answered by every
// server in use and leaves out failed replicas; a failed master keeps its slots in it
// until a replica is promoted, which is what a client must see anyway. Hostnames the
// nodes announce (cluster-announce-hostname) are used when present; with TLS on, the
// server gives its TLS port there (tls-cluster).

// node is one server of the cluster and the client's connection to it.
type node struct {
	addr    string
	replica bool // connected with READONLY, for reads from replicas
	conn    atomic.Pointer[driver.PairedConn]
}

// shard is a master and its replicas: the owner of some slots.
type shard struct {
	master       *node
	replicas     []*node
	replicaAddrs []string // the replicas' addresses, for Config.ReplicaSelector
}

// topology is one slot map. Slots can be moved to another shard in place (a MOVED
// reply) without copying the map.
type topology struct {
	slots   [Slots]atomic.Pointer[shard]
	masters []*node
	byAddr  map[string]*shard // the shards by master address (read-only once installed)
	epoch   uint64            // counts refreshes
}

// slotRange is one entry of CLUSTER SLOTS: slots from..to, the master's address and
// the replicas'.
type slotRange struct {
	from, to int
	master   string
	replicas []string
}

// parseSlots reads a CLUSTER SLOTS reply. asked is the address the reply came from, for
// nodes that report no address of their own ("" or "?").
func parseSlots(v parser.Value, asked string) ([]slotRange, error) {
	if v.IsError() {
		return nil, errors.New("cluster: CLUSTER SLOTS: " + v.Text())
	}
	if v.Kind() != parser.Array {
		return nil, errors.New("cluster: CLUSTER SLOTS: not an array")
	}
	var out []slotRange
	for _, e := range v.Elems() {
		f := e.Elems()
		if len(f) < 3 {
			return nil, errors.New("cluster: CLUSTER SLOTS: short entry")
		}
		r := slotRange{from: int(f[0].Int()), to: int(f[1].Int())}
		if f[0].Kind() != parser.Integer || f[1].Kind() != parser.Integer || r.from < 0 || r.to >= Slots || r.from > r.to {
			return nil, errors.New("cluster: CLUSTER SLOTS: bad slot range")
		}
		for i, n := range f[2:] {
			addr, ok := nodeAddr(n, asked)
			if !ok {
				if i == 0 {
					return nil, errors.New("cluster: CLUSTER SLOTS: bad node entry")
				}
				continue
			}
			if i == 0 {
				r.master = addr
			} else {
				r.replicas = append(r.replicas, addr)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// nodeAddr returns "host:port" of a CLUSTER SLOTS node entry: [ip, port, id,
// metadata]; a hostname in the metadata wins over the ip.
func nodeAddr(n parser.Value, asked string) (string, bool) {
	f := n.Elems()
	if len(f) < 2 {
		return "", false
	}
	host, port := f[0].Text(), int(f[1].Int())
	if port <= 0 || port > 65535 {
		return "", false
	}
	if len(f) > 3 {
		if h := field(f[3], "hostname").Text(); h != "" {
			host = h
		}
	}
	if host == "" || host == "?" {
		h, _, err := net.SplitHostPort(asked)
		if err != nil {
			return "", false
		}
		host = h
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), true
}

// fetchSlots asks the node at conn for the slot map.
func fetchSlots(ctx context.Context, conn *driver.PairedConn, addr string) ([]slotRange, error) {
	v, err := conn.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	return parseSlots(v, addr)
}

// isRetryable reports whether an error reply proves the command did not run and may
// be sent again later: the cluster is changing (TRYAGAIN during a migration,
// CLUSTERDOWN, MASTERDOWN), the node is loading, or it is no longer a master
// (READONLY after a failover).
func isRetryable(msg []byte) bool {
	for _, p := range []string{"TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY"} {
		if hasWord(msg, p) {
			return true
		}
	}
	return false
}

// hasWord reports whether msg starts with the word w.
func hasWord(msg []byte, w string) bool {
	return len(msg) >= len(w) && string(msg[:len(w)]) == w && (len(msg) == len(w) || msg[len(w)] == ' ')
}

// parseRedirect reads "MOVED 3999 127.0.0.1:6381" or "ASK ...". The address comes
// back as host:port with an IPv6 host in brackets, as the slot map keeps it: redis
// writes an IPv6 address bare ("MOVED 3999 ::1:6381"), so the port is what follows
// the last colon. An empty host (cluster-preferred-endpoint-type unknown-endpoint,
// "MOVED 3999 :6381": the replying node's own host, which Reroute does not know)
// gives an empty addr.
func parseRedirect(msg string) (ask bool, slot int, addr string, ok bool) {
	f := strings.Fields(msg)
	if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
		return false, 0, "", false
	}
	slot, err := strconv.Atoi(f[1])
	if err != nil || slot < 0 || slot >= Slots {
		return false, 0, "", false
	}
	i := strings.LastIndexByte(f[2], ':')
	if i < 0 {
		return false, 0, "", false
	}
	host, port := f[2][:i], f[2][i+1:]
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return false, 0, "", false
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if host != "" {
		addr = net.JoinHostPort(host, port)
	}
	return f[0] == "ASK", slot, addr, true
}
