package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// Config describes a cluster client.
type Config struct {
	// Addrs are seed nodes, "host:port": Connect needs one of them to answer.
	Addrs []string
	// Node is the template of every node connection (auth, TLS, timeouts, ring size);
	// its Addr, Resolve, Init and OnDisconnect are set by the client.
	Node driver.Config
	// ReadFromReplicas sends commands the server's command table flags read-only to
	// a replica of the slot's master (on a connection in READONLY mode), chosen by
	// ReplicaSelector; a shard without replicas serves them from its master.
	ReadFromReplicas bool
	// ReplicaSelector picks the replica for a read: the index in replicas
	// ("host:port" of the slot's replicas, never empty), or -1 for the master. Nil
	// picks one at random. It must be fast and safe for concurrent use, and must not
	// modify replicas (the client's own slice: no allocation per read).
	ReplicaSelector func(slot int, replicas []string) int
	// MaxRedirects bounds the MOVED and ASK redirects one command follows (default
	// 5); past it the caller gets the last reply as a *driver.RedisError.
	MaxRedirects int
	// MaxRetries bounds the retries of a command whose reply proves it did not run
	// (TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN, READONLY), with a backoff from
	// 10 ms doubling to 500 ms between them (default 12: about 4 s, enough to ride
	// through a failover). It also bounds how often a command that was never written
	// is sent to another node, because the one it waited for left the map.
	MaxRetries int
	// RefreshInterval is how often the slot map is fetched again when nothing asked
	// for it (default 15s; negative: never). It is also fetched after a MOVED reply,
	// a lost node connection and a retried error; while a master's connection is
	// down, every 200 ms or so until the map changes or the node is back.
	RefreshInterval time.Duration
}

// Errors of the cluster client.
var (
	// ErrCrossSlot is returned, before anything is sent, for a command or
	// transaction whose keys hash to different slots.
	ErrCrossSlot = errors.New("cluster: keys in different hash slots (CROSSSLOT)")
	// ErrNoNode is returned for a command whose slot no node serves, after the slot
	// map was fetched again.
	ErrNoNode = errors.New("cluster: no node serves the slot")
	// ErrNoSeed is wrapped by Connect's error when no seed node answered.
	ErrNoSeed = errors.New("cluster: no seed node answered")
)

// Client is a Redis Cluster client: one driver.PairedConn per node, on the driver's
// shared event loops, with commands routed by the hash slot of their keys and
// redirects followed inside the Futures' methods. It is safe for concurrent use.
type Client struct {
	cfg  Config
	cmds commandTable // fixed after Connect
	topo atomic.Pointer[topology]

	mu    sync.Mutex
	nodes map[nodeKey]*node // every node connected or being connected
	// closed is set by Close, under mu.
	closed bool
	// pubsubs are the pub/sub connections: by slot for shard channels, noKey for
	// classic ones (see pubsub.go); under mu.
	pubsubs map[int]*driver.PubsubConn

	refreshCh chan struct{}                 // capacity 1: a refresh was asked for
	refreshed atomic.Pointer[chan struct{}] // closed after the next refresh
	refreshes atomic.Uint64
	moved     atomic.Uint64
	asked     atomic.Uint64
	retried   atomic.Uint64
	resent    atomic.Uint64
	// forgotten counts SendAndForget commands refused before they were sent, and the
	// ForgottenErrors of node connections closed once they left the map; retired
	// holds those being closed (under mu).
	forgotten atomic.Uint64
	retired   map[*driver.PairedConn]struct{}
	retiring  sync.WaitGroup // the closes of retired connections (Add under mu, not once closed)
	stop      chan struct{}
	wg        sync.WaitGroup
}

// nodeKey names a node connection: the address, and whether it is READONLY.
type nodeKey struct {
	addr    string
	replica bool
}

// Connect fetches the slot map from the first seed of cfg.Addrs that answers and
// connects to every master (and, with ReadFromReplicas, every replica). ctx bounds
// this first fetch only; later refreshes run in the background.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, &driver.ConfigError{Field: "Addrs", Reason: "no seed node"}
	}
	if cfg.MaxRedirects < 0 || cfg.MaxRetries < 0 {
		return nil, &driver.ConfigError{Field: "MaxRedirects", Reason: "negative"}
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 5
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 12
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 15 * time.Second
	}
	c := &Client{cfg: cfg, nodes: make(map[nodeKey]*node), refreshCh: make(chan struct{}, 1), stop: make(chan struct{})}
	ch := make(chan struct{})
	c.refreshed.Store(&ch)
	var errs []error
	for _, addr := range cfg.Addrs {
		conn, err := c.connFor(ctx, addr, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		ranges, err := fetchSlots(ctx, conn, addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		if v, err := conn.Do(ctx, "COMMAND"); err == nil {
			c.cmds = parseCommands(v)
		}
		c.install(ctx, ranges)
		c.wg.Add(1)
		go c.refresher()
		return c, nil
	}
	c.Close()
	return nil, fmt.Errorf("%w: %w", ErrNoSeed, errors.Join(errs...))
}

// nodeConfig is the driver configuration of a connection to addr.
func (c *Client) nodeConfig(addr string, replica bool) driver.Config {
	nc := c.cfg.Node
	nc.Addr = addr
	nc.Resolve = nil
	nc.Init = nil
	if replica {
		nc.Init = [][]string{{"READONLY"}}
	}
	nc.OnDisconnect = c.nodeLost
	return nc
}

// nodeLost runs on the event loop when a node connection broke: ask for a refresh.
func (c *Client) nodeLost(error) { c.requestRefresh() }

// connFor returns the connection to addr, connecting first if there is none.
func (c *Client) connFor(ctx context.Context, addr string, replica bool) (*driver.PairedConn, error) {
	n, err := c.nodeFor(addr, replica)
	if err != nil {
		return nil, err
	}
	return c.connect(ctx, n)
}

// nodeFor returns the node entry of addr, made if missing (not connected yet).
func (c *Client) nodeFor(addr string, replica bool) (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, driver.ErrClosed
	}
	k := nodeKey{addr, replica}
	n := c.nodes[k]
	if n == nil {
		n = &node{addr: addr, replica: replica}
		c.nodes[k] = n
	}
	return n, nil
}

// connect returns n's connection, dialling it if it has none. Racing callers may
// both dial; the first to finish wins and the other closes its connection.
func (c *Client) connect(ctx context.Context, n *node) (*driver.PairedConn, error) {
	if conn := n.conn.Load(); conn != nil {
		return conn, nil
	}
	conn, err := driver.PairedConnect(ctx, c.nodeConfig(n.addr, n.replica))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	closed := c.closed
	won := false
	if !closed {
		// A refresh may have dropped n from the nodes meanwhile (closeUnused drops
		// the nodes no map names that have no connection, such as an ASK target not
		// in the map yet): n is tracked again, so that Close closes the connection.
		k := nodeKey{n.addr, n.replica}
		switch cur := c.nodes[k]; {
		case cur == nil:
			c.nodes[k] = n
		case cur != n:
			n = cur // a newer entry for the same node takes the connection
		}
		won = n.conn.CompareAndSwap(nil, conn)
	}
	c.mu.Unlock()
	if !won {
		conn.Close()
		if closed {
			return nil, driver.ErrClosed
		}
		return n.conn.Load(), nil
	}
	return conn, nil
}

// install builds a topology from ranges, connects to its nodes (those that cannot be
// reached stay unconnected and are dialled again on use) and makes it current.
func (c *Client) install(ctx context.Context, ranges []slotRange) {
	t := &topology{}
	if old := c.topo.Load(); old != nil {
		t.epoch = old.epoch + 1
	}
	shards := make(map[string]*shard)
	t.byAddr = shards
	for _, r := range ranges {
		sh := shards[r.master]
		if sh == nil {
			m, err := c.nodeFor(r.master, false)
			if err != nil {
				return
			}
			sh = &shard{master: m}
			shards[r.master] = sh
			t.masters = append(t.masters, m)
			if c.cfg.ReadFromReplicas {
				for _, ra := range r.replicas {
					if rn, err := c.nodeFor(ra, true); err == nil {
						sh.replicas = append(sh.replicas, rn)
						sh.replicaAddrs = append(sh.replicaAddrs, ra)
					}
				}
			}
		}
		for s := r.from; s <= r.to; s++ {
			t.slots[s].Store(sh)
		}
	}
	for _, sh := range shards {
		_, _ = c.connect(ctx, sh.master)
		for _, r := range sh.replicas {
			_, _ = c.connect(ctx, r)
		}
	}
	c.topo.Store(t)
	c.refreshes.Add(1)
}

// requestRefresh asks the refresher for a refresh (it never waits).
func (c *Client) requestRefresh() {
	select {
	case c.refreshCh <- struct{}{}:
	default:
	}
}

// waitRefresh asks for a refresh and waits until one ended after this call, or ctx ends.
func (c *Client) waitRefresh(ctx context.Context) error {
	ch := *c.refreshed.Load()
	c.requestRefresh()
	select {
	case <-ch:
		return nil
	case <-c.stop:
		return driver.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Refresh minimum spacing and the fast pace while a master is unreachable.
const (
	refreshGap  = 50 * time.Millisecond
	refreshFast = 200 * time.Millisecond
)

// refresher is the client's one background goroutine: it fetches the slot map when
// asked, periodically, and often while a master is unreachable. Refreshes are single
// flight by construction and spaced by refreshGap, with jitter, so a burst of MOVED
// replies or lost connections makes one or two refreshes, not a storm.
func (c *Client) refresher() {
	defer c.wg.Done()
	var periodic <-chan time.Time
	if c.cfg.RefreshInterval > 0 {
		tk := time.NewTicker(c.cfg.RefreshInterval)
		defer tk.Stop()
		periodic = tk.C
	}
	fast := time.NewTimer(time.Hour)
	fast.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.refreshCh:
		case <-periodic:
		case <-fast.C:
		}
		c.refresh()
		ch := make(chan struct{})
		close(*c.refreshed.Swap(&ch))
		if c.masterDown() {
			fast.Reset(jitter(refreshFast))
		}
		select {
		case <-c.stop:
			return
		case <-time.After(jitter(refreshGap)):
		}
	}
}

// jitter returns d plus up to a half of it, at random.
func jitter(d time.Duration) time.Duration { return d + rand.N(d/2+1) }

// masterDown reports whether a master of the current map has no live connection.
func (c *Client) masterDown() bool {
	t := c.topo.Load()
	for _, m := range t.masters {
		if conn := m.conn.Load(); conn == nil || !conn.Connected() {
			return true
		}
	}
	return false
}

// refresh fetches the slot map from the first node that answers (the current
// masters in random order, then the replicas of the map, then the seeds) and installs
// it.
func (c *Client) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), c.nodeDialTimeout())
	defer cancel()
	var cands []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			cands = append(cands, a)
		}
	}
	t := c.topo.Load()
	ms := append([]*node(nil), t.masters...)
	rand.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	for _, m := range ms {
		if conn := m.conn.Load(); conn != nil && conn.Connected() {
			add(m.addr)
		}
	}
	c.mu.Lock()
	for k := range c.nodes {
		add(k.addr)
	}
	c.mu.Unlock()
	for _, a := range c.cfg.Addrs {
		add(a)
	}
	for _, a := range cands {
		n, err := c.nodeFor(a, false)
		if err != nil {
			return
		}
		conn := n.conn.Load()
		if conn == nil || !conn.Connected() {
			continue // never wait for a node that is down
		}
		ranges, err := fetchSlots(ctx, conn, a)
		if err != nil || len(ranges) == 0 {
			continue
		}
		c.install(ctx, ranges)
		c.closeUnused()
		return
	}
	// No connected node answered: try to dial the candidates.
	for _, a := range cands {
		conn, err := c.connFor(ctx, a, false)
		if err != nil {
			continue
		}
		if ranges, err := fetchSlots(ctx, conn, a); err == nil && len(ranges) > 0 {
			c.install(ctx, ranges)
			return
		}
	}
}

func (c *Client) nodeDialTimeout() time.Duration {
	if d := c.cfg.Node.DialTimeout; d > 0 {
		return d
	}
	return 5 * time.Second
}

// closeUnused closes, in the background, the connections of nodes the current map
// does not name (removed nodes), letting their commands in flight finish first.
func (c *Client) closeUnused() {
	t := c.topo.Load()
	keep := map[*node]bool{}
	for _, m := range t.masters {
		keep[m] = true
	}
	for s := range t.slots {
		if sh := t.slots[s].Load(); sh != nil {
			for _, r := range sh.replicas {
				keep[r] = true
			}
		}
	}
	var drop []*driver.PairedConn
	c.mu.Lock()
	for k, n := range c.nodes {
		if keep[n] {
			continue
		}
		if conn := n.conn.Load(); conn != nil && conn.Connected() {
			continue // alive: a seed, or a node that may come back in the map
		}
		delete(c.nodes, k)
		if conn := n.conn.Load(); conn != nil && !c.closed {
			drop = append(drop, conn)
			c.retiring.Add(1)
			if c.retired == nil {
				c.retired = map[*driver.PairedConn]struct{}{}
			}
			c.retired[conn] = struct{}{}
		}
	}
	c.mu.Unlock()
	for _, conn := range drop {
		go func() {
			defer c.retiring.Done()
			conn.Close()
			// Its count moves to forgotten, in one step for ForgottenErrors.
			c.mu.Lock()
			c.forgotten.Add(conn.ForgottenErrors())
			delete(c.retired, conn)
			c.mu.Unlock()
		}()
	}
}

// pick returns the connection for a command of slot (noKey: any master); readonly
// commands may go to a replica. It returns nil when the slot has no owner or its node
// is not connected yet.
func (c *Client) pick(slot int, readonly bool) *driver.PairedConn {
	t := c.topo.Load()
	if slot == noKey {
		if len(t.masters) == 0 {
			return nil
		}
		return t.masters[rand.IntN(len(t.masters))].conn.Load()
	}
	sh := t.slots[slot].Load()
	if sh == nil {
		return nil
	}
	if readonly && len(sh.replicas) > 0 {
		if conn := c.pickReplica(slot, sh); conn != nil {
			return conn
		}
	}
	return sh.master.conn.Load()
}

func (c *Client) pickReplica(slot int, sh *shard) *driver.PairedConn {
	i := 0
	if sel := c.cfg.ReplicaSelector; sel != nil {
		if i = sel(slot, sh.replicaAddrs); i < 0 || i >= len(sh.replicas) {
			return nil
		}
	} else {
		i = rand.IntN(len(sh.replicas))
	}
	if conn := sh.replicas[i].conn.Load(); conn != nil && conn.Connected() {
		return conn
	}
	return nil
}

// route returns the connection for a command of slot, fetching the slot map again
// (bounded by the node dial timeout) and connecting when needed.
func (c *Client) route(slot int, readonly bool) (*driver.PairedConn, error) {
	return c.routeCtx(context.Background(), slot, readonly)
}

// routeCtx is route whose slow path (a refresh, a dial) also ends with ctx.
func (c *Client) routeCtx(ctx context.Context, slot int, readonly bool) (*driver.PairedConn, error) {
	if conn := c.pick(slot, readonly && c.cfg.ReadFromReplicas); conn != nil {
		return conn, nil
	}
	return c.routeSlow(ctx, slot)
}

func (c *Client) routeSlow(parent context.Context, slot int) (*driver.PairedConn, error) {
	ctx, cancel := context.WithTimeout(parent, c.nodeDialTimeout())
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		t := c.topo.Load()
		var n *node
		if slot == noKey {
			if len(t.masters) > 0 {
				n = t.masters[rand.IntN(len(t.masters))]
			}
		} else if sh := t.slots[slot].Load(); sh != nil {
			n = sh.master
		}
		if n != nil {
			return c.connect(ctx, n)
		}
		if err := c.waitRefresh(ctx); err != nil {
			return nil, err
		}
	}
	return nil, ErrNoNode
}

// Send queues one command on the node that serves its keys' slot and returns its
// Future (see driver.PairedConn.Send). Redirects (MOVED, ASK) and retryable replies
// (TRYAGAIN, CLUSTERDOWN, ...) are followed inside the Future's methods, within the
// caller's context; the happy path allocates nothing. A command whose keys are in
// different slots fails with ErrCrossSlot and is not sent. Blocking commands (BLPOP,
// XREAD BLOCK, WAIT, ...) run on the node's dedicated pool, and their Futures follow
// redirects as the others' do: after MOVED on the new master's pool, after ASK on one
// connection of the named node's pool, ASKING first. A reader whose ctx ends while
// the command waits on a server closes that pool connection, as for a blocking
// command sent with driver.PairedConn.Send.
func (c *Client) Send(args ...any) driver.Future {
	slot, ro, err := c.cmds.slotOf(args)
	if err != nil {
		return driver.Failed(err)
	}
	conn, err := c.route(slot, ro)
	if err != nil {
		return driver.Failed(err)
	}
	return conn.SendRouted(c, args...)
}

// SendAndForget queues one command whose reply nobody reads, on the node of its
// slot. Its redirects are followed as a Send's are, in the background (see
// driver.PairedConn.SendRoutedAndForget), without an order among forgotten commands
// redirected together; so is one never written to a node that left the map. Its
// failure is counted in ForgottenErrors: an error reply (the last one, after the
// redirects), a lost connection, a command refused before it was sent (ErrCrossSlot,
// no node for its slot). A large []byte argument is copied (a redirect may send it
// again), where PairedConn.SendAndForget lends it.
func (c *Client) SendAndForget(args ...any) {
	slot, ro, err := c.cmds.slotOf(args)
	if err != nil {
		c.forgotten.Add(1)
		return
	}
	conn, err := c.route(slot, ro)
	if err != nil {
		c.forgotten.Add(1)
		return
	}
	conn.SendRoutedAndForget(c, args...)
}

// Do sends one command and waits for its reply, redirects included; ctx bounds it
// all: finding the node (a refresh, a dial), the wait for room in its connection's
// ring, the redirects (each one's wait for room in the ring it goes to), and the
// reply. A blocking command (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, ...) runs on the
// dedicated pool of its node and follows its redirects there, within the same bounds
// (see Send). When ctx ends while it waits on the server, its connection is closed:
// it takes nothing the server gets afterwards (an RPUSH) that nobody would read.
func (c *Client) Do(ctx context.Context, args ...any) (parser.Value, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	slot, ro, err := c.cmds.slotOf(args)
	if err != nil {
		return parser.Value{}, err
	}
	conn, err := c.routeCtx(ctx, slot, ro)
	if err != nil {
		return parser.Value{}, err
	}
	v, err := conn.SendRoutedContext(ctx, c, args...).Wait(ctx)
	var re *driver.RedisError
	if err != nil && errors.As(err, &re) && c.Reroutes([]byte(re.Error())) {
		// A redirect left to the caller (one past MaxRedirects): the map is likely
		// out of date.
		c.requestRefresh()
	}
	return v, err
}

// ForgottenErrors returns how many SendAndForget commands failed: those refused
// before they were sent, and the ForgottenErrors of the node connections, those of
// nodes that left the map included.
func (c *Client) ForgottenErrors() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.forgotten.Load()
	for _, nd := range c.nodes {
		if conn := nd.conn.Load(); conn != nil {
			n += conn.ForgottenErrors()
		}
	}
	for conn := range c.retired {
		n += conn.ForgottenErrors()
	}
	return n
}

// Stats counts what the client did beyond sending commands.
type Stats struct {
	Refreshes uint64 // slot maps installed, the first fetch included
	Moved     uint64 // MOVED redirects followed
	Asked     uint64 // ASK redirects followed
	Retried   uint64 // commands sent again after TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN or READONLY
	Resent    uint64 // commands never written (to a node that left the map; a blocking one, by its node's pool), sent where their slot is served now
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Refreshes: c.refreshes.Load(), Moved: c.moved.Load(), Asked: c.asked.Load(), Retried: c.retried.Load(), Resent: c.resent.Load()}
}

// Close closes every node connection (each waits for its commands in flight as
// driver.PairedConn.Close does) and stops the background refresh.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return driver.ErrClosed
	}
	c.closed = true
	var conns []*driver.PairedConn
	for _, n := range c.nodes {
		if conn := n.conn.Load(); conn != nil {
			conns = append(conns, conn)
		}
	}
	pubsubs := c.pubsubs
	c.mu.Unlock()
	for _, p := range pubsubs {
		p.Close()
	}
	close(c.stop)
	c.wg.Wait()
	c.retiring.Wait() // connections that left the map, and their redirects being followed
	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); conn.Close() }()
	}
	wg.Wait()
	return nil
}

// Dedicated runs fn with a connection of its own (see driver.PairedConn.Dedicated) on
// the master that serves key's slot: WATCH, MULTI/EXEC and blocking commands on keys
// of that slot. Blocking commands sent with Send or Do go to their slot's node and run
// on its dedicated pool by themselves (following their redirects).
//
// Commands sent on d follow no redirect: fn may have done something on the node
// already, and running it again elsewhere could do it twice. A MOVED reply reaches fn
// as a *driver.RedisError (inside SendTx, among a *driver.TxError's replies); when
// fn's error holds one (Moved), the client's map is updated from it before Dedicated
// returns and a refresh is asked for, so that calling Dedicated again normally runs fn
// on the slot's new master. (For a MOVED that names no host, Dedicated waits within
// ctx for that refresh; a refresh from a node that has not heard of the move yet can
// undo the update: a caller that tries again after a MOVED should allow for another
// one.) An ASK (the slot is being migrated) changes nothing: the keys fn needs may be
// on either node until the migration ends.
func (c *Client) Dedicated(ctx context.Context, key string, fn func(d *driver.DedicatedConn) error) error {
	conn, err := c.route(KeySlotString(key), false)
	if err != nil {
		return err
	}
	err = conn.Dedicated(ctx, fn)
	c.learnMoved(ctx, err)
	return err
}

// learnMoved updates the map from the MOVED replies in err's tree (the error of fn in
// Dedicated, whose commands follow no redirect), and asks for a refresh. A MOVED that
// names no host (cluster-preferred-endpoint-type unknown-endpoint: "MOVED 3999 :7001")
// says nothing the map can take as it is: then it waits, within ctx, for that refresh.
func (c *Client) learnMoved(ctx context.Context, err error) {
	found, hostless := false, false
	eachRedisError(err, 0, func(re *driver.RedisError) {
		if re.Code() != "MOVED" {
			return
		}
		if ask, s, addr, ok := parseRedirect(re.Error()); ok && !ask && addr != "" {
			c.movedTo(s, addr)
		} else {
			hostless = true
		}
		found = true
	})
	switch {
	case hostless:
		_ = c.waitRefresh(ctx) // an error (ctx's, Close) is fn's caller's to see
	case found:
		c.requestRefresh()
	}
}

// Moved reports whether err holds a MOVED reply: as itself, wrapped, among the
// replies of a *driver.TxError, or behind an error's As method (as errors.As finds
// it). In the error of Dedicated's fn it says that the slot moved, that the command
// which got it did not run (nor did its transaction; fn's other commands may have),
// and that Dedicated called again normally runs fn on the slot's new master (see
// Dedicated).
func Moved(err error) bool {
	found := false
	eachRedisError(err, 0, func(re *driver.RedisError) { found = found || re.Code() == "MOVED" })
	return found
}

// eachRedisError calls fn with every *driver.RedisError in err's tree (errors.As
// finds the first only: a TxError's EXECABORT comes before the replies that caused
// it); depth bounds the walk. As errors.As does, it takes an error whose As method
// yields a *driver.RedisError for that one, and looks no deeper under it.
func eachRedisError(err error, depth int, fn func(*driver.RedisError)) {
	if err == nil || depth > 16 {
		return
	}
	if re, ok := err.(*driver.RedisError); ok {
		if re != nil {
			fn(re)
		}
		return
	}
	if x, ok := err.(interface{ As(any) bool }); ok {
		var re *driver.RedisError
		if x.As(&re) {
			if re != nil {
				fn(re)
			}
			return
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		eachRedisError(u.Unwrap(), depth+1, fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			eachRedisError(e, depth+1, fn)
		}
	}
}
