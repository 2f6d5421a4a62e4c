package sentinel

// ReplicaConnect: a connection to a replica found through the sentinels, which moves
// to another replica when its own is promoted, down, or no longer listed.

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// verifyReplica is ReplicaConnect's Config.Verify: the function verifyReplica, and a
// node that is not a replica marks the sentinel that listed it, for the next resolve
// to ask it last (as verify does for the master).
func (w *watcher) verifyReplica(do func(args ...string) (parser.Value, error)) error {
	err := verifyReplica(do)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unverified = false
	if errors.Is(err, ErrNotReplica) {
		w.rejected = w.named
	}
	return err
}

// replicas asks the sentinels, hedged (see hedged), for the healthy replicas of the
// master (SENTINEL REPLICAS: neither down nor disconnected). A sentinel that lists
// none does not end the search; the first that lists some moves to the front, and
// the one whose list Verify refused last (see verifyReplica), or whose replica
// could not be reached (see watcher.unverified), is asked last.
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
	lctx, cancel := context.WithTimeout(ctx, w.askTimeout)
	w.learn(lctx, list[i], "") // the others join the list (none leaves: no master named)
	cancel()
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
		if strings.Contains(flags, "down") || strings.Contains(flags, "disconnected") || strings.Contains(flags, "promoted") {
			continue
		}
		if ip, port := field(e, "ip"), field(e, "port"); usableAddr(ip, port) {
			out = append(out, addrOf(ip, port))
		}
	}
	if len(out) == 0 {
		return nil, ErrNoReplica
	}
	return out, nil
}

// resolveReplica is ReplicaConnect's Config.Resolve: a replica the sentinels list,
// chosen by Config.ReplicaSelector, among those no event named lately (see usable).
func (w *watcher) resolveReplica(ctx context.Context) (string, error) {
	rs, err := w.replicas(ctx)
	if err != nil {
		return "", err
	}
	rs = w.usable(rs)
	i := -1
	if sel := w.cfg.ReplicaSelector; sel != nil {
		i = sel(rs)
	}
	if i < 0 || i >= len(rs) {
		i = rand.IntN(len(rs))
	}
	w.mu.Lock()
	w.answer = rs[i]
	if w.ownDialLocked() {
		w.unverified = true
	}
	w.mu.Unlock()
	return rs[i], nil
}

// avoidFor is how long a replica that an event named (about to be promoted,
// promoted, down for a sentinel), or that a dial could not reach, is not chosen
// while others are listed: the sentinel answering a resolve or a check may still
// list it as healthy meanwhile.
const avoidFor = 10 * time.Second

// usable returns the replicas of rs that no event named in the last avoidFor (nor a
// dial failed to reach), or rs if that leaves none.
func (w *watcher) usable(rs []string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, r := range rs {
		if !w.avoidedLocked(r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return rs
	}
	return out
}

// avoidLocked marks r avoided for avoidFor from now, dropping the marks that ran out
// (under mu).
func (w *watcher) avoidLocked(r string) {
	now := time.Now()
	for a, until := range w.avoid {
		if now.After(until) {
			delete(w.avoid, a)
		}
	}
	w.avoid[r] = now.Add(avoidFor)
}

// avoidedLocked reports whether an event named r in the last avoidFor, or a dial
// failed to reach it (under mu).
func (w *watcher) avoidedLocked(r string) bool {
	until, ok := w.avoid[r]
	return ok && time.Now().Before(until)
}

// ReplicaConnect connects to a replica of the master named cfg.MasterName, chosen
// among the healthy ones the sentinels list (SENTINEL REPLICAS: not down,
// disconnected or being promoted) by cfg.ReplicaSelector, and confirmed with ROLE;
// for reads that may lag the master. It moves to another replica when the connection
// is lost, and when its replica stops being one to read from, if another is listed:
// when a sentinel is about to promote it (+failover-state-send-slaveof-noone), has
// promoted it (+switch-master names it), or finds it down (+sdown), and when the
// periodic check (every Config.CheckInterval) no longer finds it among the healthy
// replicas. A replica an event named, or one a dial could not reach, is not chosen
// for 10 s while others are listed.
// (The dedicated pool's connections, dialled apart, are not moved: they stay until
// they are closed, idle or broken, and are made again.)
// The sentinels are subscribed to, and those they know learnt, as for PairedConnect
// (none is dropped). A sentinel that listed a node whose ROLE is not slave, or a
// replica that could not be reached, is asked last at the next attempt
// (ReplicaConnect tries again, at most once per sentinel, as for the master, or per
// replica not reached). Writes get READONLY.
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
	w.up, w.follow, w.where = c.Connected, c.Reconnect, c.Addr
	w.mu.Unlock()
	go w.run(c.Done())
	return c, nil
}

// replicaEvents are the sentinel events a ReplicaConnect follows: its replica
// promoted, about to be, or down.
var replicaEvents = []string{"+switch-master", "+failover-state-send-slaveof-noone", "+sdown"}

// replicaEvent handles one sentinel event for a ReplicaConnect: a replica promoted
// ("+switch-master <name> <old ip> <old port> <new ip> <new port>"), about to be, or
// down for a sentinel ("slave <ip:port> <ip> <port> @ <name> <master ip> <master
// port>") is avoided for a while (see usable); if the connection is on it, a check
// runs at once (see checkReplica, which moves it only if there is another replica
// to go to). run does no network I/O itself: recheck wakes checkLoop, which does.
func (w *watcher) replicaEvent(m driver.Message) {
	f := strings.Fields(string(m.Payload))
	var addr string
	switch {
	case m.Channel == "+switch-master" && len(f) == 5 && f[0] == w.cfg.MasterName:
		addr = addrOf(f[3], f[4])
	case len(f) >= 4 && f[0] == "slave" && eventMaster(f) == w.cfg.MasterName:
		addr = addrOf(f[2], f[3])
	default:
		return
	}
	w.mu.Lock()
	w.avoidLocked(addr)
	where := w.where
	w.mu.Unlock()
	if where != nil && where() == addr {
		select { // a check already due covers this one
		case w.recheck <- struct{}{}:
		default:
		}
	}
}

// checkReplica is check for a ReplicaConnect: the sentinels are asked, as check asks
// them (hedgedCheck), for the healthy replicas, and the connection moves if its
// replica is no longer among them (removed, down) or an event named it lately
// (promoted, about to be, down for a sentinel), and another replica is listed. With
// no other replica to go to, it stays: a working connection is not dropped for one
// that cannot be made. Every refreshEvery the sentinel that answered is also asked
// for the others (see learn; none is dropped, no master being confirmed here).
func (w *watcher) checkReplica(ctx context.Context) {
	// One at a time (checkLoop's, and a direct call's): a second one must see where
	// the first moved the connection, not move it again.
	w.checkMu.Lock()
	defer w.checkMu.Unlock()
	s, rs, ok := hedgedCheck(ctx, w, w.askReplicas)
	if !ok {
		return
	}
	w.mu.Lock()
	where := w.where
	w.mu.Unlock()
	cur := ""
	if where != nil {
		cur = where() // not under mu: it takes the connection's lock
	}
	w.mu.Lock()
	refresh := time.Since(w.refreshed) >= w.refreshEvery
	// Off a replica no longer listed, to any other; off one an event named, only
	// to one no event named (else each check would move it again, for 10 s).
	listed := slices.Contains(rs, cur)
	move := cur != "" && (!listed || w.avoidedLocked(cur)) && slices.ContainsFunc(rs, func(r string) bool {
		return r != cur && (!listed || !w.avoidedLocked(r))
	})
	w.mu.Unlock()
	if move && w.follow != nil {
		w.follow()
	}
	if refresh {
		lctx, cancel := context.WithTimeout(ctx, w.probeTimeout)
		w.learn(lctx, s, "")
		cancel()
	}
}
