package sentinel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// Config describes a connection to the master of a Sentinel-managed group.
type Config struct {
	// MasterName is the name the sentinels know the master by.
	MasterName string
	// Sentinels are "host:port" of sentinels; those they know of are added.
	Sentinels []string
	// Node is the template of the master connection (auth, TLS, timeouts); its Addr,
	// Resolve and Verify are set by this package.
	Node driver.Config
	// SentinelUsername and SentinelPassword authenticate to the sentinels, apart
	// from the data nodes' Node.Username and Node.Password.
	SentinelUsername, SentinelPassword string
	// SentinelTLS, if set, is used for the connections to the sentinels (Node.TLS
	// is for the data nodes).
	SentinelTLS *tls.Config
	// CheckInterval is how often the master's address is confirmed with a
	// sentinel, besides the +switch-master messages (default 1s; negative: never).
	CheckInterval time.Duration
	// ReplicaSelector picks the replica ReplicaConnect connects to: an index into
	// replicas ("host:port" of the healthy replicas the sentinels list, never empty).
	// Nil picks one at random.
	ReplicaSelector func(replicas []string) int
}

// String describes the config without the passwords: SentinelPassword is redacted,
// and Node prints as driver.Config does, without its own.
func (c Config) String() string {
	pw := ""
	if c.SentinelPassword != "" {
		pw = " sentinel-password=<redacted>"
	}
	return fmt.Sprintf("sentinel.Config{master=%q sentinels=%v sentinel-user=%q%s sentinel-tls=%t check=%v node=%s}",
		c.MasterName, c.Sentinels, c.SentinelUsername, pw, c.SentinelTLS != nil, c.CheckInterval, c.Node.String())
}

// GoString is String, so that %#v does not print the passwords either.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb use String, so the passwords are never printed.
func (c Config) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Errors of this package.
var (
	// ErrNoSentinel is wrapped by the error of a connection attempt when no
	// sentinel answered, with each sentinel's own error (a *driver.HandshakeError
	// for a wrong SentinelPassword).
	ErrNoSentinel = errors.New("sentinel: no sentinel answered")
	// ErrUnknownMaster is returned when the sentinels that answered do not know
	// MasterName.
	ErrUnknownMaster = errors.New("sentinel: no sentinel knows the master name")
	// ErrNoReplica is returned by ReplicaConnect when the sentinels list no healthy
	// replica.
	ErrNoReplica = errors.New("sentinel: no healthy replica")
	// ErrNotReplica is the reason a node named as a replica was not used: its ROLE
	// says otherwise (it was promoted).
	ErrNotReplica = errors.New("sentinel: the node is not a replica")
	// ErrNotMaster is the reason a node the sentinels named was not used: its ROLE
	// says it is not a master (a failover is under way); discovery repeats.
	ErrNotMaster = errors.New("sentinel: the node is not a master")
)

// watcher finds the master through the sentinels and follows its moves for the
// connections it serves.
type watcher struct {
	cfg Config

	mu        sync.Mutex
	sentinels []string                      // in order of preference: last answering first
	conns     map[string]*driver.PairedConn // sentinel connections, by address
	// configured holds Config.Sentinels: learn never drops them, only the sentinels
	// it learnt.
	configured map[string]bool
	// resolved holds, for each entry of Config.Sentinels given by host name, the
	// "ip:port" its name resolved to when last looked up (see aliasesFor): the
	// sentinels name each other by IP, and learn must know such an address for the
	// configured entry it is, else the sentinel is listed, asked and subscribed to
	// twice. looked is when the names were last looked up.
	resolved map[string][]string
	looked   time.Time
	// served is the address the served connection was last dialled to, which events
	// and checks are compared with. The dedicated pool dials through the same Resolve,
	// and the hooks do not say which connection a dial is for; but the served
	// connection resolves only while it is down (at the first connect, and in its
	// reconnect loop), so a resolve made while it is up is a pool's and is not
	// recorded: otherwise a pool dial that already found the new master would make
	// +switch-master and the checks look like no move, and the served connection
	// would stay on the old master for good.
	served string
	up     func() bool // whether the served connection is up; nil (PubsubConnect): every dial is its own
	follow func()      // reconnects the served connection
	// replica says the served connection is ReplicaConnect's: run follows the
	// replica events and checks (replica.go). where is its Addr, the replica it is
	// on; avoid holds the replicas an event named, or that the served connection's
	// dial could not reach (see order), until when they are not chosen
	// (under mu); recheck asks for a check at once (capacity 1).
	replica bool
	checkMu sync.Mutex // serializes checkReplica
	where   func() string
	avoid   map[string]time.Time
	recheck chan struct{}
	// named is the sentinel whose answer the last resolve returned (answer, the
	// address it named), and rejected the one whose answer Verify then refused (ROLE
	// not master; for ReplicaConnect, not a replica): the next resolve asks it last,
	// so that a stale sentinel first in the list does not name the same node at
	// every attempt. unverified is set while the last answer resolve gave the
	// served connection's own dial (see ownDialLocked) has not reached Verify: the
	// next such resolve finding it still set asks named last too, the dial having
	// failed before Verify (the node named is gone: no connection; or TLS or AUTH
	// failed there). Only the served connection's dials count: they follow one
	// another, where the dedicated pool's run at once, each still under way when
	// the next resolves.
	named, answer, rejected string
	unverified              bool
	// confirmed is the last address a dial through resolve found to be the master
	// (ROLE): a sentinel's list of the others drops sentinels (see learn) only when
	// that sentinel names it, so that a stale sentinel's list drops none.
	confirmed string
	// holding is set while a sentinel fails the master over (from the moment it is
	// about to promote a replica until +switch-master or the failover's end):
	// resolve then waits for the new master instead of returning the old one, until
	// holdUntil (holdFor after the event). A hold that ran out stays set, without
	// effect on resolve, so that the event repeated starts no new hold for holdRest
	// (see event). holdFor is holdMax and holdRest holdRest; tests make them shorter.
	holding           bool
	holdUntil         time.Time
	holdFor, holdRest time.Duration
	// epoch counts the events acted on and the changes of served, for a check to
	// know that its answer was overtaken.
	epoch uint64
	// failed holds the sentinels whose last check failed: they are asked last until
	// the backoff ends, so that one that never answers does not delay every check.
	failed map[string]*failure
	// changed is signalled when learn adds or drops sentinels, for run to subscribe
	// to the new ones and stop the subscriptions to those dropped.
	changed chan struct{}
	// refreshed is when learn last had an answer; check asks again for the
	// sentinels (SENTINEL SENTINELS) once refreshEvery has passed since.
	refreshed    time.Time
	refreshEvery time.Duration
	// askTimeout bounds a question to one sentinel at a (re)connect, and
	// probeTimeout a background attempt (a subscription, a check): both askTimeout;
	// tests make them longer than themselves.
	askTimeout, probeTimeout time.Duration
	// Test hooks, if set: probed is told of the end of every background attempt,
	// asked of the end of every question of resolve and replicas, and stopped of
	// the end of every subscription goroutine (see run).
	probed  func(addr, what string, err error)
	asked   func(addr string, err error)
	stopped func(addr string)
}

// failure is a sentinel's backoff after failed checks.
type failure struct {
	wait  time.Duration
	until time.Time
}

func newWatcher(cfg Config) (*watcher, error) {
	if cfg.MasterName == "" {
		return nil, &driver.ConfigError{Field: "MasterName", Reason: "empty"}
	}
	if len(cfg.Sentinels) == 0 {
		return nil, &driver.ConfigError{Field: "Sentinels", Reason: "no sentinel"}
	}
	for _, s := range cfg.Sentinels {
		// host:port, or a unix socket path as the driver takes it.
		if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "@") {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, &driver.ConfigError{Field: "Sentinels", Reason: fmt.Sprintf("%q is not host:port", s)}
		}
	}
	// Checked here, not at the first dial to a sentinel, whose error would only be
	// one of "no sentinel answered".
	if cfg.SentinelUsername != "" && cfg.SentinelPassword == "" {
		return nil, &driver.ConfigError{Field: "SentinelPassword", Reason: "a SentinelUsername needs a SentinelPassword"}
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = time.Second
	}
	// Compared with the addresses the sentinels report, spelled as they are (see
	// addrOf); one given twice is listed once.
	configured := map[string]bool{}
	var sentinels []string
	for _, s := range cfg.Sentinels {
		if s = canonAddr(s); !configured[s] {
			configured[s] = true
			sentinels = append(sentinels, s)
		}
	}
	cfg.Sentinels = sentinels
	return &watcher{cfg: cfg, sentinels: slices.Clone(sentinels), conns: map[string]*driver.PairedConn{},
		configured: configured, resolved: map[string][]string{}, failed: map[string]*failure{}, changed: make(chan struct{}, 1),
		avoid: map[string]time.Time{}, recheck: make(chan struct{}, 1),
		refreshEvery: refreshEvery, askTimeout: askTimeout, probeTimeout: askTimeout,
		holdFor: holdMax, holdRest: holdRest}, nil
}

// maxLearnt bounds the sentinels learnt through SENTINEL SENTINELS that the list
// holds besides Config.Sentinels: a group has a handful.
const maxLearnt = 16

// refreshEvery is how often check asks a sentinel for the others (SENTINEL
// SENTINELS), besides the (re)connects: sentinels added to the group are
// subscribed to, and those removed from it are dropped, without a reconnect.
const refreshEvery = 10 * time.Second

// sentinelConfig is the driver configuration of a connection to a sentinel.
func (w *watcher) sentinelConfig(addr string) driver.Config {
	return driver.Config{
		Addr: addr, Username: w.cfg.SentinelUsername, Password: w.cfg.SentinelPassword,
		TLS: w.cfg.SentinelTLS, DialTimeout: w.cfg.Node.DialTimeout, HealthCheck: w.cfg.Node.HealthCheck,
		Protocol: 2, // sentinels speak RESP3 too, but their replies are plain arrays
		// A question still out when the connection is closed (one that resolve
		// cancelled, to a hung sentinel) is not waited for: nobody waits for its
		// answer, and learn closes the connection of a sentinel it drops in the
		// middle of a dial.
		CloseTimeout: time.Millisecond,
	}
}

// errReconnecting is the reason a sentinel whose connection is being re-established
// is passed over.
var errReconnecting = errors.New("connection being re-established")

// sentinelConn returns the connection to the sentinel at addr, dialling it if needed,
// or why there is none: the dial's error is kept (a *driver.HandshakeError for a
// wrong SentinelPassword), so that "no sentinel answered" says why.
func (w *watcher) sentinelConn(ctx context.Context, addr string) (*driver.PairedConn, error) {
	w.mu.Lock()
	c := w.conns[addr]
	w.mu.Unlock()
	if c != nil {
		if !c.Connected() {
			return nil, errReconnecting // reconnecting by itself: do not wait for it
		}
		return c, nil
	}
	c, err := driver.PairedConnect(ctx, w.sentinelConfig(addr))
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.conns[addr]; old != nil {
		c.Close()
		return old, nil
	}
	w.conns[addr] = c
	return c, nil
}

// askTimeout bounds one question to one sentinel.
const askTimeout = time.Second

// resolve asks the sentinels, in order of preference and hedged (see hedged), for
// the master's address; the one whose answer is taken moves to the front, and the
// list is refreshed with the sentinels it knows (see learn).
func (w *watcher) resolve(ctx context.Context) (string, error) {
	for {
		addr, err := w.resolveOnce(ctx)
		w.mu.Lock()
		hold := w.holding && time.Now().Before(w.holdUntil) && addr == w.served
		w.mu.Unlock()
		if err != nil || !hold {
			if err == nil {
				w.mu.Lock()
				if w.ownDialLocked() { // see served and unverified
					if w.served != addr {
						w.served = addr
						w.epoch++
					}
					w.unverified = true
				}
				w.mu.Unlock()
			}
			return addr, err
		}
		// A failover is under way and the sentinels still name the old master:
		// wait for the new one rather than write to a master being replaced.
		t := time.NewTimer(holdPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		}
	}
}

// holdPoll is how often resolve asks again while a failover is under way; holdMax
// bounds the wait (a failover that never ends: the old master is used again), and
// holdRest is how long after a hold that ran out the event starts no new one (a
// sentinel that repeats it, or a failover that never ends and was never aborted,
// does not keep the connection down).
const (
	holdPoll = 50 * time.Millisecond
	holdMax  = 10 * time.Second
	holdRest = 60 * time.Second
)

// resolveOnce asks the sentinels once (see resolve), hedged (see hedged): a sentinel
// that hangs does not hold up the answer of the next.
func (w *watcher) resolveOnce(ctx context.Context) (string, error) {
	list := w.order()
	i, addr, errs := hedged(ctx, list, w.askTimeout, w.ask, w.asked)
	if i < 0 {
		return "", noAnswer(list, errs, ErrUnknownMaster)
	}
	s := list[i]
	w.prefer(s)
	lctx, cancel := context.WithTimeout(ctx, w.askTimeout)
	w.learn(lctx, s, addr)
	cancel()
	w.mu.Lock()
	w.named, w.answer = s, addr
	w.mu.Unlock()
	return addr, nil
}

// order returns the sentinels in the order to ask them, the one whose answer Verify
// refused last, or whose answer the served connection's last dial never brought to
// Verify (see unverified), moved to the back.
func (w *watcher) order() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unverified && w.ownDialLocked() {
		w.unverified = false
		if w.rejected == "" {
			w.rejected = w.named
		}
		if w.replica {
			w.avoidLocked(w.answer) // chosen last (see usable)
		}
	}
	if s := w.rejected; s != "" {
		w.rejected = ""
		w.demoteLocked(s)
	}
	return append([]string(nil), w.sentinels...)
}

// ownDialLocked reports whether a dial through resolve (or resolveReplica) now is the
// served connection's own: it is down (at the first connect, and in its reconnect
// loop), else the dial is one of its dedicated pool's (under mu).
func (w *watcher) ownDialLocked() bool { return w.up == nil || !w.up() }

// noAnswer is the error of a question of hedged that no sentinel answered: unknown
// (ErrUnknownMaster, ErrNoReplica) if a sentinel said so, else ErrNoSentinel with
// each sentinel's error.
func noAnswer(list []string, errs []error, unknown error) error {
	var all []error
	said := false
	for i, err := range errs {
		switch {
		case err == nil: // not asked
		case errors.Is(err, unknown):
			said = true
		default:
			all = append(all, fmt.Errorf("%s: %w", list[i], err))
		}
	}
	if said {
		return unknown
	}
	if len(all) == 0 {
		return ErrNoSentinel
	}
	return fmt.Errorf("%w: %w", ErrNoSentinel, errors.Join(all...))
}

// ask asks the sentinel at s for the master's address.
func (w *watcher) ask(ctx context.Context, s string) (string, error) {
	c, err := w.sentinelConn(ctx, s)
	if err != nil {
		return "", err
	}
	v, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", w.cfg.MasterName)
	if err != nil {
		return "", err
	}
	if v.IsNull() {
		return "", ErrUnknownMaster
	}
	e := v.Elems()
	if len(e) != 2 || !usableAddr(e[0].Text(), e[1].Text()) {
		return "", fmt.Errorf("malformed GET-MASTER-ADDR-BY-NAME reply: %v", v)
	}
	return addrOf(e[0].Text(), e[1].Text()), nil
}

// usableAddr reports whether a sentinel's host and port make an address to dial: a
// host, and a port from 1 to 65535. A sentinel that names anything else failed to
// answer (the next one is asked), rather than naming a master nobody can reach.
func usableAddr(host, port string) bool {
	p, err := strconv.Atoi(port)
	return host != "" && err == nil && p > 0 && p <= 65535
}

// prefer moves s to the front of the list.
func (w *watcher) prefer(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.sentinels {
		if x == s {
			copy(w.sentinels[1:i+1], w.sentinels[:i])
			w.sentinels[0] = s
			return
		}
	}
}

// demoteLocked moves s to the back of the list.
func (w *watcher) demoteLocked(s string) {
	for i, x := range w.sentinels {
		if x == s {
			copy(w.sentinels[i:], w.sentinels[i+1:])
			w.sentinels[len(w.sentinels)-1] = s
			return
		}
	}
}

// learn refreshes the list with the sentinels that sentinel s knows (SENTINEL
// SENTINELS), s having named addr as the master: those it names join the list (run
// subscribes to them). If addr is the master a dial confirmed last (confirmed), those
// learnt before that it no longer names leave the list, with their connection (run
// ends their subscription): a sentinel removed from the group is not tried for
// good. The sentinels of Config.Sentinels, and s, always stay; a stale sentinel (it
// names another master) drops none, nor does a reply with an entry without a usable
// address. An address that a host name of Config.Sentinels resolves to (see
// aliasesFor) is that entry, not a sentinel of its own: it never joins the list,
// and leaves it if it joined before the name was resolved.
//
// At most maxLearnt sentinels learnt are listed, the first named (a sentinel that
// names hundreds does not make as many connections and goroutines): those beyond
// join as others leave.
func (w *watcher) learn(ctx context.Context, s, addr string) {
	c, err := w.sentinelConn(ctx, s)
	if err != nil {
		return
	}
	v, err := c.Do(ctx, "SENTINEL", "SENTINELS", w.cfg.MasterName)
	if err != nil || v.Kind() != parser.Array {
		return
	}
	named := map[string]bool{s: true}
	var found []string
	whole := true
	for _, e := range v.Elems() {
		ip, port := field(e, "ip"), field(e, "port")
		if !usableAddr(ip, port) {
			whole = false
			continue
		}
		a := addrOf(ip, port)
		if !named[a] {
			named[a] = true
			found = append(found, a)
		}
	}
	w.aliasesFor(ctx, found)
	w.mu.Lock()
	w.refreshed = time.Now()
	changed := false
	learnt := 0
	for _, x := range w.sentinels {
		if !w.configured[x] {
			learnt++
		}
	}
	for _, a := range found {
		if x := w.aliasLocked(a); x != "" {
			named[x] = true
			continue
		}
		if learnt < maxLearnt && !slices.Contains(w.sentinels, a) {
			w.sentinels = append(w.sentinels, a)
			learnt++
			changed = true
		}
	}
	prune := whole && addr != "" && addr == w.confirmed
	kept := make([]string, 0, len(w.sentinels))
	var drop []*driver.PairedConn
	for _, x := range w.sentinels {
		alias := !w.configured[x] && w.aliasLocked(x) != ""
		if !alias && (!prune || named[x] || w.configured[x]) {
			kept = append(kept, x)
			continue
		}
		changed = true
		if c := w.conns[x]; c != nil {
			drop = append(drop, c)
			delete(w.conns, x)
		}
		delete(w.failed, x)
	}
	w.sentinels = kept
	if changed {
		select { // run acts on it; a signal already pending covers this one
		case w.changed <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
}

// field returns a value of a SENTINEL reply's flat field list.
func field(v parser.Value, key string) string {
	e := v.Elems()
	for i := 0; i+1 < len(e); i += 2 {
		if e[i].Text() == key {
			return e[i+1].Text()
		}
	}
	return ""
}

// verify is the master connection's Config.Verify: ROLE must say master.
func verify(do func(args ...string) (parser.Value, error)) error {
	return verifyRole(do, "master", ErrNotMaster)
}

// verifyReplica is verify for ReplicaConnect: ROLE must say slave.
func verifyReplica(do func(args ...string) (parser.Value, error)) error {
	return verifyRole(do, "slave", ErrNotReplica)
}

// verifyRole checks that ROLE says role, else returns wrong.
func verifyRole(do func(args ...string) (parser.Value, error), role string, wrong error) error {
	v, err := do("ROLE")
	if err != nil {
		return err
	}
	if v.IsError() {
		return errors.New("ROLE: " + v.Text())
	}
	if e := v.Elems(); len(e) == 0 || !strings.EqualFold(e[0].Text(), role) {
		return wrong
	}
	return nil
}

// verify is verify for a dial through resolve: a node that is not the master marks
// the sentinel that named it, for the next resolve to ask it last, and the master
// found is confirmed (see learn). Dials may run at once (the dedicated pool's), so
// the mark may fall on another sentinel that answered meanwhile: it is only an order
// of asking, which the next answer sets again; a confirmed address that was not
// the master lets a sentinel's list drop others until the next dial confirms the
// master, and the next refresh adds those back.
func (w *watcher) verify(do func(args ...string) (parser.Value, error)) error {
	err := verify(do)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unverified = false
	switch {
	case err == nil:
		w.confirmed = w.answer
	case errors.Is(err, ErrNotMaster):
		w.rejected = w.named
	}
	return err
}

// nodeConfig is the master connection's configuration.
func (w *watcher) nodeConfig() driver.Config {
	nc := w.cfg.Node
	nc.Addr = w.cfg.Sentinels[0] // only a default; Resolve gives the address
	nc.Resolve = w.resolve
	nc.Verify = w.verify
	return nc
}

func (w *watcher) closeAll() {
	w.mu.Lock()
	conns := w.conns
	w.conns = map[string]*driver.PairedConn{}
	w.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// PairedConnect connects to the master named cfg.MasterName, found through the
// sentinels and confirmed with ROLE, and returns a driver.PairedConn that follows it
// through failovers (see the package doc). ctx bounds the first connection only.
func PairedConnect(ctx context.Context, cfg Config) (*driver.PairedConn, error) {
	w, c, err := pairedConnect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	go w.run(c.Done())
	return c, nil
}

// pairedConnect is PairedConnect without the goroutine that follows the master
// (tests drive the watcher's event and check themselves).
func pairedConnect(ctx context.Context, cfg Config) (*watcher, *driver.PairedConn, error) {
	w, err := newWatcher(cfg)
	if err != nil {
		return nil, nil, err
	}
	c, err := masterConnect(ctx, w)
	return w, c, err
}

// masterConnect is pairedConnect with the watcher w (tests set its fields).
func masterConnect(ctx context.Context, w *watcher) (*driver.PairedConn, error) {
	c, err := dialMaster(ctx, w, driver.PairedConnect)
	if err != nil {
		w.closeAll()
		return nil, err
	}
	w.mu.Lock()
	w.up, w.follow = c.Connected, c.Reconnect
	w.mu.Unlock()
	return c, nil
}

// dialMaster makes the first connection with dial, again while the node named was
// not a master, or could not be used (no connection; TLS or the handshake failed:
// another server, with another password), and a sentinel remains that was not asked
// first: each attempt asks the sentinel that named that node last (see
// watcher.rejected and watcher.unverified), so a stale sentinel first in the list
// does not fail the connect. A failover under way, when every sentinel names the old
// master, still ends in ErrNotMaster (or the dial error, the old master gone); a
// wrong password, the master's error.
func dialMaster[C any](ctx context.Context, w *watcher, dial func(context.Context, driver.Config) (C, error)) (C, error) {
	return dialNode(ctx, w, w.nodeConfig(), ErrNotMaster, dial)
}

// dialNode is dialMaster with the configuration nc, dialled again while Verify
// refuses the node with wrong (ErrNotMaster, ErrNotReplica), at most once per
// sentinel, or the node a sentinel named could not be used before Verify, once per
// address and at most twice more than there are sentinels (a sentinel lists several
// replicas): when every sentinel names the same node that is gone (a master down,
// not yet failed over) or refuses the password, it is dialled twice, not once per
// sentinel.
func dialNode[C any](ctx context.Context, w *watcher, nc driver.Config, wrong error, dial func(context.Context, driver.Config) (C, error)) (C, error) {
	var gone []string
	for tries := 1; ; tries++ {
		c, err := dial(ctx, nc)
		w.mu.Lock()
		n := len(w.sentinels)
		// unverified: Resolve gave an address, and the dial failed before Verify
		// (nothing else dials through w before PairedConnect returns); a Resolve
		// that failed (ErrNoSentinel) leaves it unset.
		missed := w.unverified && err != nil
		addr := w.answer
		w.mu.Unlock()
		limit := n
		if missed {
			if slices.Contains(gone, addr) {
				return c, err
			}
			gone = append(gone, addr)
			limit = n + 2 // a sentinel lists several replicas
		}
		if !(errors.Is(err, wrong) || missed) || tries >= limit || ctx.Err() != nil {
			return c, err
		}
	}
}

// PubsubConnect is PairedConnect for a driver.PubsubConn: its subscriptions move to
// the new master after a failover.
func PubsubConnect(ctx context.Context, cfg Config) (*driver.PubsubConn, error) {
	w, err := newWatcher(cfg)
	if err != nil {
		return nil, err
	}
	p, err := dialMaster(ctx, w, driver.PubsubConnect)
	if err != nil {
		w.closeAll()
		return nil, err
	}
	// w.up stays nil: a PubsubConn has no pool, every dial through resolve is its own.
	w.mu.Lock()
	w.follow = p.Reconnect
	w.mu.Unlock()
	go w.run(p.Done())
	return p, nil
}
