package sentinel

// ReplicaConnect: a connection to a replica found through the sentinels, which moves
// to another replica when its own is promoted, down, or no longer listed.

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// verifyReplica is ReplicaConnect's Config.Verify: the function verifyReplica, and a
// node that is not a replica marks the sentinel that listed it, for the next resolve
// to ask it last (as verify does for the master).
func (w *watcher) verifyReplica(do func(args ...string) (parser.Value, error)) error {
	err := verifyReplica(do)
	if errors.Is(err, ErrNotReplica) {
		w.mu.Lock()
		w.rejected = w.named
		w.mu.Unlock()
	}
	return err
}

// replicas asks the sentinels, hedged (see hedged), for the healthy replicas of the
// master (SENTINEL REPLICAS: neither down nor disconnected). A sentinel that lists
// none does not end the search; the first that lists some moves to the front, and
// the one whose list Verify refused last (see verifyReplica) is asked last.
func (w *watcher) replicas(ctx context.Context) ([]string, error) {
	list := w.order()
	i, rs, errs := hedged(ctx, list, w.askTimeout, w.askReplicas, w.asked)
	if i < 0 {
		return nil, noAnswer(list, errs, ErrNoReplica)
	}
	w.prefer(list[i])
	w.mu.Lock()
	w.named = list[i]
	w.mu.Unlock()
	return rs, nil
}

// askReplicas asks the sentinel at s for the healthy replicas: ErrNoReplica if it
// lists none.
func (w *watcher) askReplicas(ctx context.Context, s string) ([]string, error) {
	c, err := w.sentinelConn(ctx, s)
	if err != nil {
		return nil, err
	}
	v, err := c.Do(ctx, "SENTINEL", "REPLICAS", w.cfg.MasterName)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range v.Elems() {
		flags := field(e, "flags")
		if strings.Contains(flags, "down") || strings.Contains(flags, "disconnected") {
			continue
		}
		if ip, port := field(e, "ip"), field(e, "port"); ip != "" && port != "" {
			out = append(out, addrOf(ip, port))
		}
	}
	if len(out) == 0 {
		return nil, ErrNoReplica
	}
	return out, nil
}

// resolveReplica is ReplicaConnect's Config.Resolve: a replica the sentinels list,
// chosen by Config.ReplicaSelector. A dial of the served connection (made while it is
// down) records the replica as served, for the events and checks (see served).
func (w *watcher) resolveReplica(ctx context.Context) (string, error) {
	rs, err := w.replicas(ctx)
	if err != nil {
		return "", err
	}
	i := -1
	if sel := w.cfg.ReplicaSelector; sel != nil {
		i = sel(rs)
	}
	if i < 0 || i >= len(rs) {
		i = rand.IntN(len(rs))
	}
	w.mu.Lock()
	if w.up == nil || !w.up() {
		w.served = rs[i]
	}
	w.mu.Unlock()
	return rs[i], nil
}

// ReplicaConnect connects to a replica of the master named cfg.MasterName, chosen
// among the healthy ones the sentinels list (SENTINEL REPLICAS) by
// cfg.ReplicaSelector, and confirmed with ROLE; for reads that may lag the master.
// It moves to another replica when the connection is lost, and when its replica
// stops being one the sentinels would give: as a sentinel is about to promote it
// (+failover-state-send-slaveof-noone), once it was promoted (+switch-master names it),
// when a sentinel finds it down (+sdown), and when the periodic check (every
// Config.CheckInterval) finds it no longer among the healthy replicas. The sentinels
// are subscribed to as for PairedConnect. A sentinel that listed a node whose ROLE is
// not slave is asked last at the next attempt (ReplicaConnect tries again, at most
// once per sentinel, as for the master). Writes get READONLY.
func ReplicaConnect(ctx context.Context, cfg Config) (*driver.PairedConn, error) {
	w, err := newWatcher(cfg)
	if err != nil {
		return nil, err
	}
	return replicaConnect(ctx, w)
}

// replicaConnect is ReplicaConnect with the watcher w (tests set its fields).
func replicaConnect(ctx context.Context, w *watcher) (*driver.PairedConn, error) {
	nc := w.cfg.Node
	nc.Addr = w.cfg.Sentinels[0] // only a default; Resolve gives the address
	nc.Resolve = w.resolveReplica
	nc.Verify = w.verifyReplica
	w.replica = true
	c, err := dialNode(ctx, w, nc, ErrNotReplica, driver.PairedConnect)
	if err != nil {
		w.closeAll()
		return nil, err
	}
	w.mu.Lock()
	w.up, w.follow = c.Connected, c.Reconnect
	w.mu.Unlock()
	go w.run(c.Done())
	return c, nil
}

// replicaEvents are the sentinel events a ReplicaConnect follows: its replica
// promoted, about to be, or down.
var replicaEvents = []string{"+switch-master", "+failover-state-send-slaveof-noone", "+sdown"}

// replicaEvent handles one sentinel event for a ReplicaConnect: the connection moves
// off a replica promoted ("+switch-master <name> <old ip> <old port> <new ip> <new
// port>"), about to be, or down ("slave <ip:port> <ip> <port> @ <name> <master ip>
// <master port>").
func (w *watcher) replicaEvent(m driver.Message) {
	f := strings.Fields(string(m.Payload))
	switch {
	case m.Channel == "+switch-master" && len(f) == 5 && f[0] == w.cfg.MasterName:
		w.leave(addrOf(f[3], f[4]))
	case len(f) >= 4 && f[0] == "slave" && eventMaster(f) == w.cfg.MasterName:
		w.leave(addrOf(f[2], f[3]))
	}
}

// leave moves the served connection to another replica if it is on addr.
func (w *watcher) leave(addr string) {
	w.mu.Lock()
	on := addr == w.served && (w.up == nil || w.up())
	w.mu.Unlock()
	if on && w.follow != nil {
		w.follow()
	}
}

// checkReplica is check for a ReplicaConnect: the sentinels are asked, as check asks
// them, for the healthy replicas, and the connection moves if its replica is not
// among them any more (promoted, down, removed). A check that finds none (ErrNoReplica
// from every sentinel that answered) leaves it where it is: there is nowhere to go.
func (w *watcher) checkReplica(ctx context.Context) {
	_, rs, ok := hedgedCheck(ctx, w, w.askReplicas)
	if !ok {
		return
	}
	w.mu.Lock()
	served := w.served
	w.mu.Unlock()
	if served != "" && !slices.Contains(rs, served) {
		w.leave(served)
	}
}
