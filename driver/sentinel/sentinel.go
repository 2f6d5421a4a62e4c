package sentinel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
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
	// served is the address the served connection was last dialled to, which events
	// and checks are compared with. The dedicated pool dials through the same Resolve,
	// and the hooks do not say which connection a dial is for; but the served
	// connection resolves only while it is down (at the first connect, and in its
	// reconnect loop), so a resolve made while it is up is a pool's and is not
	// recorded: otherwise a pool dial that already found the new master would make
	// +switch-master and the checks look like no move, and the served connection
	// would stay on the old master for good.
	served string
	up     func() bool // whether the served connection is up; nil: every dial is its own
	follow func()      // reconnects the served connection
	// named is the sentinel whose answer the last resolve returned, and rejected the
	// one whose answer Verify then refused (ROLE not master): the next resolve asks
	// it last, so that a stale sentinel first in the list does not name the same
	// replica at every attempt.
	named, rejected string
	// holding is set while a sentinel fails the master over (from the moment it is
	// about to promote a replica until +switch-master or the failover's end):
	// resolve then waits for the new master instead of returning the old one.
	holding   bool
	holdUntil time.Time
	// epoch counts the events acted on and the changes of served, for a check to
	// know that its answer was overtaken.
	epoch uint64
	// failed holds the sentinels whose last check failed: they are asked last until
	// the backoff ends, so that one that never answers does not delay every check.
	failed map[string]*failure
	// learned is signalled when learn adds sentinels, for run to subscribe to them.
	learned chan struct{}
	// probeTimeout bounds a background attempt to one sentinel (a subscription, a
	// check): askTimeout; tests make it longer than themselves.
	probeTimeout time.Duration
	// probed, if set, is told of the end of every background attempt (tests).
	probed func(addr, what string, err error)
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
	return &watcher{cfg: cfg, sentinels: append([]string(nil), cfg.Sentinels...), conns: map[string]*driver.PairedConn{},
		failed: map[string]*failure{}, learned: make(chan struct{}, 1), probeTimeout: askTimeout}, nil
}

// sentinelConfig is the driver configuration of a connection to a sentinel.
func (w *watcher) sentinelConfig(addr string) driver.Config {
	return driver.Config{
		Addr: addr, Username: w.cfg.SentinelUsername, Password: w.cfg.SentinelPassword,
		TLS: w.cfg.SentinelTLS, DialTimeout: w.cfg.Node.DialTimeout, HealthCheck: w.cfg.Node.HealthCheck,
		Protocol: 2, // sentinels speak RESP3 too, but their replies are plain arrays
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

// resolve asks the sentinels, in order, for the master's address; the first that
// answers moves to the front, and the sentinels it knows are added to the list.
func (w *watcher) resolve(ctx context.Context) (string, error) {
	for {
		addr, err := w.resolveOnce(ctx)
		w.mu.Lock()
		hold := w.holding && time.Now().Before(w.holdUntil) && addr == w.served
		w.mu.Unlock()
		if err != nil || !hold {
			if err == nil {
				w.mu.Lock()
				if (w.up == nil || !w.up()) && w.served != addr { // the served connection's own dial (see served)
					w.served = addr
					w.epoch++
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
// bounds the wait (a failover that never ends: the old master is used again).
const (
	holdPoll = 50 * time.Millisecond
	holdMax  = 10 * time.Second
)

// resolveOnce asks the sentinels once (see resolve).
func (w *watcher) resolveOnce(ctx context.Context) (string, error) {
	w.mu.Lock()
	if s := w.rejected; s != "" {
		w.rejected = ""
		w.demoteLocked(s)
	}
	list := append([]string(nil), w.sentinels...)
	w.mu.Unlock()
	unknown := false
	var errs []error
	for _, s := range list {
		actx, cancel := context.WithTimeout(ctx, askTimeout)
		addr, err := w.ask(actx, s)
		cancel()
		if errors.Is(err, ErrUnknownMaster) {
			unknown = true
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		w.prefer(s)
		w.learn(ctx, s)
		w.mu.Lock()
		w.named = s
		w.mu.Unlock()
		return addr, nil
	}
	if unknown {
		return "", ErrUnknownMaster
	}
	return "", fmt.Errorf("%w: %w", ErrNoSentinel, errors.Join(errs...))
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
	if len(e) != 2 {
		return "", errors.New("malformed GET-MASTER-ADDR-BY-NAME reply")
	}
	return net.JoinHostPort(e[0].Text(), e[1].Text()), nil
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

// learn adds the sentinels that sentinel s knows (SENTINEL SENTINELS) to the list.
func (w *watcher) learn(ctx context.Context, s string) {
	c, err := w.sentinelConn(ctx, s)
	if err != nil {
		return
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	v, err := c.Do(actx, "SENTINEL", "SENTINELS", w.cfg.MasterName)
	if err != nil {
		return
	}
	for _, e := range v.Elems() {
		ip, port := field(e, "ip"), field(e, "port")
		if ip == "" || port == "" {
			continue
		}
		addr := net.JoinHostPort(ip, port)
		w.mu.Lock()
		known := false
		for _, x := range w.sentinels {
			known = known || x == addr
		}
		if !known {
			w.sentinels = append(w.sentinels, addr)
			select { // run subscribes to it; a signal already pending covers this one
			case w.learned <- struct{}{}:
			default:
			}
		}
		w.mu.Unlock()
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
	v, err := do("ROLE")
	if err != nil {
		return err
	}
	if v.IsError() {
		return errors.New("ROLE: " + v.Text())
	}
	if e := v.Elems(); len(e) == 0 || !strings.EqualFold(e[0].Text(), "master") {
		return ErrNotMaster
	}
	return nil
}

// verify is verify for a dial through resolve: a node that is not the master marks
// the sentinel that named it, for the next resolve to ask it last. Dials may run at
// once (the dedicated pool's), so the mark may fall on another sentinel that answered
// meanwhile: it is only an order of asking, which the next answer sets again.
func (w *watcher) verify(do func(args ...string) (parser.Value, error)) error {
	err := verify(do)
	if errors.Is(err, ErrNotMaster) {
		w.mu.Lock()
		w.rejected = w.named
		w.mu.Unlock()
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
	c, err := dialMaster(ctx, w, driver.PairedConnect)
	if err != nil {
		w.closeAll()
		return nil, nil, err
	}
	w.mu.Lock()
	w.up, w.follow = c.Connected, c.Reconnect
	w.mu.Unlock()
	return w, c, nil
}

// dialMaster makes the first connection with dial, again while the node named was
// not a master and a sentinel remains that was not asked first: each attempt asks the
// sentinel that named a non-master last (see watcher.rejected), so a stale sentinel
// first in the list does not fail the connect. A failover under way, when every
// sentinel names the old master, still ends in ErrNotMaster.
func dialMaster[C any](ctx context.Context, w *watcher, dial func(context.Context, driver.Config) (C, error)) (C, error) {
	for tries := 1; ; tries++ {
		c, err := dial(ctx, w.nodeConfig())
		w.mu.Lock()
		n := len(w.sentinels)
		w.mu.Unlock()
		if !errors.Is(err, ErrNotMaster) || tries >= n || ctx.Err() != nil {
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

// replicas asks the sentinels for the healthy replicas of the master (SENTINEL
// REPLICAS: neither down nor disconnected).
func (w *watcher) replicas(ctx context.Context) ([]string, error) {
	w.mu.Lock()
	list := append([]string(nil), w.sentinels...)
	w.mu.Unlock()
	var errs []error
	for _, s := range list {
		c, err := w.sentinelConn(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		actx, cancel := context.WithTimeout(ctx, askTimeout)
		v, err := c.Do(actx, "SENTINEL", "REPLICAS", w.cfg.MasterName)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		var out []string
		for _, e := range v.Elems() {
			flags := field(e, "flags")
			if strings.Contains(flags, "down") || strings.Contains(flags, "disconnected") {
				continue
			}
			if ip, port := field(e, "ip"), field(e, "port"); ip != "" && port != "" {
				out = append(out, net.JoinHostPort(ip, port))
			}
		}
		if len(out) == 0 {
			return nil, ErrNoReplica
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrNoSentinel, errors.Join(errs...))
}

// ReplicaConnect connects to a replica of the master named cfg.MasterName, chosen
// among the healthy ones the sentinels list (SENTINEL REPLICAS) by
// cfg.ReplicaSelector, and confirmed with ROLE; for reads that may lag the master. When
// the connection is lost, or the replica is promoted (ROLE no longer says slave at
// the next connect), it moves to another replica. Writes get READONLY.
func ReplicaConnect(ctx context.Context, cfg Config) (*driver.PairedConn, error) {
	w, err := newWatcher(cfg)
	if err != nil {
		return nil, err
	}
	nc := w.cfg.Node
	nc.Addr = w.cfg.Sentinels[0]
	nc.Resolve = func(ctx context.Context) (string, error) {
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
		return rs[i], nil
	}
	nc.Verify = func(do func(args ...string) (parser.Value, error)) error {
		v, err := do("ROLE")
		if err != nil {
			return err
		}
		if e := v.Elems(); len(e) == 0 || !strings.EqualFold(e[0].Text(), "slave") {
			return ErrNotReplica
		}
		return nil
	}
	c, err := driver.PairedConnect(ctx, nc)
	if err != nil {
		w.closeAll()
		return nil, err
	}
	go func() { <-c.Done(); w.closeAll() }()
	return c, nil
}
