package sentinel

// Following the master (or a ReplicaConnect's replica, replica.go): the sentinel
// events, the background subscriptions and checks, and the watcher's reaction to
// them (run).

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/respring/respring/driver"
)

// The sentinel events the watcher follows. Only the sentinel leading a failover
// publishes the failover-state events, so the watcher listens to every sentinel.
var events = []string{
	"+switch-master",
	"+failover-state-send-slaveof-noone",
	"+failover-end", "+failover-end-for-timeout",
	"-failover-abort-not-elected", "-failover-abort-no-good-slave", "-failover-abort-slave-timeout",
}

// run follows the master for the connection whose Done channel is done: when a
// sentinel is about to promote a replica (+failover-state-send-slaveof-noone), the
// connection is dropped at once and held until the new master is known, so that no
// write lands on a master being replaced; on +switch-master, and when a periodic
// check finds another address, the connection moves. It ends with done, once the
// goroutines it started have, closing the sentinel connections.
//
// run itself does no network I/O: an event waits for nothing but the ones before it.
// Each sentinel is subscribed to by a goroutine of its own (subscribe), and the
// checks run in another (checkLoop): a sentinel that accepts connections and never
// answers, or a dead one learnt through SENTINEL SENTINELS, costs its own goroutine
// a timeout per attempt, not the event that starts a hold.
func (w *watcher) run(done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer w.closeAll() // last: the goroutines below dial sentinels until they end
	defer wg.Wait()
	defer cancel()
	msgs := make(chan driver.Message, 64)
	// One goroutine per sentinel in the list, however often it fails: started when
	// the sentinel joins the list, stopped when learn drops it (a sentinel removed
	// from the group), so they are bounded by the sentinels the group has now.
	listening := map[string]context.CancelFunc{}
	listen := func() {
		w.mu.Lock()
		list := append([]string(nil), w.sentinels...)
		w.mu.Unlock()
		in := make(map[string]bool, len(list))
		for _, addr := range list {
			in[addr] = true
			if listening[addr] != nil {
				continue
			}
			sctx, stop := context.WithCancel(ctx)
			listening[addr] = stop
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.subscribe(sctx, addr, msgs)
				if w.stopped != nil {
					w.stopped(addr)
				}
			}()
		}
		for addr, stop := range listening {
			if !in[addr] {
				stop()
				delete(listening, addr)
			}
		}
	}
	listen()
	if w.cfg.CheckInterval > 0 || w.replica {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.checkLoop(ctx)
		}()
	}
	for {
		select {
		case <-done:
			return
		case m := <-msgs:
			w.event(m)
		case <-w.changed:
			listen()
		}
	}
}

// The wait before a sentinel is tried again in the background, doubled at each
// failure in a row: a dead sentinel is not retried in a tight loop, and a restarted
// one is back within retryMax.
const (
	retryMin = 250 * time.Millisecond
	retryMax = 30 * time.Second
)

// subscribe keeps a subscription to the events on the sentinel at addr, forwarding
// them to msgs, until ctx ends. The PubsubConn re-establishes a broken connection by
// itself; an attempt that failed, or a subscription that ended (a slow consumer), is
// tried again after a backoff.
func (w *watcher) subscribe(ctx context.Context, addr string, msgs chan<- driver.Message) {
	wait := retryMin
	for {
		p, sub, err := w.subscribeOnce(ctx, addr)
		w.probe(addr, "subscribe", err)
		if err == nil {
			w.forward(ctx, sub, msgs)
			p.Close()
			wait = retryMin // it was subscribed: not a failure in a row
		}
		if !sleep(ctx, wait) {
			return
		}
		if err != nil {
			wait = min(2*wait, retryMax)
		}
	}
}

// subscribeOnce connects to the sentinel at addr and subscribes to the events, within
// probeTimeout.
func (w *watcher) subscribeOnce(ctx context.Context, addr string) (*driver.PubsubConn, *driver.Subscription, error) {
	ctx, cancel := context.WithTimeout(ctx, w.probeTimeout)
	defer cancel()
	p, err := driver.PubsubConnect(ctx, w.sentinelConfig(addr))
	if err != nil {
		return nil, nil, err
	}
	list := events
	if w.replica {
		list = replicaEvents
	}
	sub, err := p.Subscribe(ctx, list...)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, sub, nil
}

// forward hands sub's messages to msgs until sub ends or ctx does.
func (w *watcher) forward(ctx context.Context, sub *driver.Subscription, msgs chan<- driver.Message) {
	for {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// sleep waits for d, or reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// probe tells the test hook of the end of a background attempt.
func (w *watcher) probe(addr, what string, err error) {
	if w.probed != nil {
		w.probed(addr, what, err)
	}
}

// checkLoop runs check every CheckInterval (if above 0), and whenever an event asks
// for one (recheck: a ReplicaConnect's replica named), until ctx ends. A check that
// takes longer than the interval (sentinels that time out) delays the next, which is
// not queued: there is never more than one.
func (w *watcher) checkLoop(ctx context.Context) {
	var tick <-chan time.Time
	if w.cfg.CheckInterval > 0 {
		t := time.NewTicker(w.cfg.CheckInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-w.recheck:
		}
		w.check(ctx)
	}
}

// event handles one sentinel event.
func (w *watcher) event(m driver.Message) {
	if w.replica {
		w.replicaEvent(m)
		return
	}
	f := strings.Fields(string(m.Payload))
	switch m.Channel {
	case "+switch-master":
		// "<name> <old ip> <old port> <new ip> <new port>"
		if len(f) == 5 && f[0] == w.cfg.MasterName && usableAddr(f[3], f[4]) {
			w.mu.Lock()
			w.holding = false
			w.epoch++
			w.mu.Unlock()
			w.moved(addrOf(f[3], f[4]))
		}
	case "+failover-state-send-slaveof-noone":
		// "slave <ip:port> <ip> <port> @ <name> <master ip> <master port>"
		if eventMaster(f) != w.cfg.MasterName {
			break
		}
		// The event again during a hold (a sentinel repeating it), or within
		// holdRest after one that ran out with no end of the failover seen, starts
		// no hold: at most one drop and one wait per failover.
		now := time.Now()
		w.mu.Lock()
		start := !w.holding || !now.Before(w.holdUntil.Add(w.holdRest))
		if start {
			w.holding, w.holdUntil = true, now.Add(w.holdFor)
			w.epoch++
		}
		w.mu.Unlock()
		if start && w.follow != nil {
			w.follow()
		}
	default: // the failover ended or was aborted
		if eventMaster(f) == w.cfg.MasterName {
			w.mu.Lock()
			w.holding = false
			w.mu.Unlock()
		}
	}
}

// eventMaster returns the master name an event's instance fields name: "master
// <name> <ip> <port>", or "<type> <name> <ip> <port> @ <master name> <ip> <port>"
// for a replica or a sentinel.
func eventMaster(f []string) string {
	for i, x := range f {
		if x == "@" && i+1 < len(f) {
			return f[i+1]
		}
	}
	if len(f) >= 2 && f[0] == "master" {
		return f[1]
	}
	return ""
}

// check asks the sentinels (hedgedCheck) where the master is, and follows it if it
// moved: a sentinel that hangs holds up the check by hedgeDelay, not by
// probeTimeout. For a ReplicaConnect, checkReplica runs instead. An answer overtaken by an event or by a dial of the served connection (epoch) is
// dropped: it may be from before the move, and following it would move the
// connection back. Every refreshEvery, the sentinel that answered is also asked for
// the others (see learn).
func (w *watcher) check(ctx context.Context) {
	if w.replica {
		w.checkReplica(ctx)
		return
	}
	w.mu.Lock()
	epoch := w.epoch
	w.mu.Unlock()
	s, addr, ok := hedgedCheck(ctx, w, w.ask)
	if !ok {
		return
	}
	w.mu.Lock()
	move := w.epoch == epoch && addr != w.served
	refresh := time.Since(w.refreshed) >= w.refreshEvery
	w.mu.Unlock()
	if move && w.follow != nil {
		w.follow()
	}
	if refresh {
		lctx, cancel := context.WithTimeout(ctx, w.probeTimeout)
		w.learn(lctx, s, addr)
		cancel()
	}
}

// hedgedCheck asks the sentinels with ask for a periodic check, hedged (see hedged),
// in order of preference but those that failed a check lately last. One that failed,
// or was overtaken (asked before the one that answered, and silent still), is put
// last for a while (a backoff of its own); the one that answered is not. It returns
// that sentinel and its answer, ok false if none answered.
func hedgedCheck[T any](ctx context.Context, w *watcher, ask func(context.Context, string) (T, error)) (s string, v T, ok bool) {
	w.mu.Lock()
	now := time.Now()
	var list, late []string
	for _, s := range w.sentinels {
		if f := w.failed[s]; f != nil && now.Before(f.until) {
			late = append(late, s)
		} else {
			list = append(list, s)
		}
	}
	w.mu.Unlock()
	list = append(list, late...)
	i, v, errs := hedged(ctx, list, w.probeTimeout, ask, func(s string, err error) { w.probe(s, "check", err) })
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() == nil {
		for j, err := range errs {
			if err == nil && (i < 0 || j >= i) {
				continue // not asked, cancelled after the answer, or the answer
			}
			// Failed, or overtaken: asked before the one that answered, and
			// still silent (hung, or slower than hedgeDelay).
			f := w.failed[list[j]]
			if f == nil {
				f = &failure{wait: retryMin / 2}
				w.failed[list[j]] = f
			}
			f.wait = min(2*f.wait, retryMax)
			f.until = time.Now().Add(f.wait)
		}
	}
	if i < 0 {
		return "", v, false
	}
	delete(w.failed, list[i])
	return list[i], v, true
}

// moved follows the master to addr if that is not where the served connection is.
func (w *watcher) moved(addr string) {
	w.mu.Lock()
	same := addr == w.served
	w.mu.Unlock()
	if !same && w.follow != nil {
		w.follow()
	}
}
