package driver

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Message is one message received through a Subscription.
type Message struct {
	Channel string // the channel it was published on (also for pattern matches)
	Pattern string // the matching pattern, "" for plain subscriptions
	Payload []byte // owned by the receiver
}

// PubsubConn is a connection in subscriber mode. Each Subscribe or PSubscribe call
// gets its own Subscription; several may share a channel, and the server is told to
// unsubscribe when the last one leaves. Messages are delivered without ever blocking
// the event loop: each Subscription has a buffer of Config.MessageBuffer messages, and
// one whose reader lets it fill is ended with ErrSlowConsumer (nothing is dropped
// silently). After a broken connection PubsubConn reconnects and subscribes again to
// exactly the channels and patterns that still have subscribers; messages published
// while it was disconnected are not received (Redis pub/sub keeps no backlog).
type PubsubConn struct {
	b base

	mu     sync.Mutex // guards everything below
	pend   []byte     // commands waiting to be written
	chans  map[string]*topic
	pats   map[string]*topic
	shards map[string]*topic // SSUBSCRIBE channels
	sent   []sentCmd         // commands written or queued, oldest first, awaiting confirmations
	closed bool
	limit  int

	// movedReconnects counts the reconnects in a row that MOVED refusals of shard
	// channels caused, since a shard channel was last confirmed (see failHead).
	movedReconnects int
	movedLink       *link       // the connection movedTimer drops, nil if none
	movedTimer      *time.Timer // pending MOVED-caused reconnect (see movedReconnect)
}

// topic is one channel or pattern with its subscribers.
type topic struct {
	name      string
	pattern   bool
	shard     bool
	confirmed bool            // the server confirmed it on the current connection
	subs      []*Subscription // receiving
	waiting   []*Subscription // waiting for the confirmation
}

// sentCmd is a (P)(UN)SUBSCRIBE awaiting one confirmation per name, or one error.
type sentCmd struct {
	kind  string // "subscribe", "psubscribe", "ssubscribe" and their "un" forms
	names []string
	// topics are, for a subscription, the topics it was sent for (names[i] is
	// topics[i].name): a confirmation releases a topic's subscribers only if the
	// map still holds that topic. A topic unsubscribed while its SUBSCRIBE was on
	// the way and subscribed again is a new topic, waiting for a later SUBSCRIBE;
	// the earlier one's confirmation is followed by the UNSUBSCRIBE's.
	topics []*topic
	left   int
}

// Subscription is one subscriber's stream of messages.
type Subscription struct {
	p       *PubsubConn
	names   []string
	pattern bool
	shard   bool
	ch      chan Message
	ready   chan struct{} // closed once every name is confirmed, or on failure
	left    int           // names not yet confirmed (under p.mu)
	ended   bool          // under p.mu
	err     error         // why it ended (under p.mu)
	// refused is err if the subscription ended before every name was confirmed
	// (under p.mu): Subscribe returns it. One that ends later (its shard channel
	// dropped, a reconnect refused) is returned, ended, with its Err.
	refused error
}

// PubsubConnect connects to the server described by cfg for pub/sub. ctx bounds the
// first connection only.
func PubsubConnect(ctx context.Context, cfg Config) (*PubsubConn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &PubsubConn{chans: map[string]*topic{}, pats: map[string]*topic{}, shards: map[string]*topic{}, limit: cfg.MessageBuffer}
	p.b.up = p.resubscribe
	p.b.down = p.connDown
	if err := p.b.start(ctx, cfg, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Subscribe subscribes to channels and returns once the server confirmed every one
// of them, or ctx ended (then nothing stays subscribed for this call). A nil ctx is
// context.Background(). An error that ends the subscription once it was confirmed
// (even before Subscribe returned) is not Subscribe's: it returns the subscription,
// and Err tells.
func (p *PubsubConn) Subscribe(ctx context.Context, channels ...string) (*Subscription, error) {
	return p.subscribe(ctx, topicChan, channels)
}

// PSubscribe subscribes to glob-style patterns, as Subscribe.
func (p *PubsubConn) PSubscribe(ctx context.Context, patterns ...string) (*Subscription, error) {
	return p.subscribe(ctx, topicPattern, patterns)
}

// SSubscribe subscribes to shard channels (Redis 7 sharded pub/sub), as Subscribe.
// In a cluster the channels must hash to one slot, and the connection must be to the
// slot's master (driver/cluster does both). When the server ends a shard
// subscription by itself (its slot moved, SUNSUBSCRIBE with no request), the
// connection is re-established, through Config.Resolve, and subscribes again: the
// subscription goes on. A MOVED (or ASK) refusal of a subscription that was
// receiving (the node Resolve named does not own the slot yet, or any more) makes the
// connection go again, through Resolve, after a pause that grows as the reconnect
// backoff does (Config.ReconnectMin doubling up to ReconnectMax); after 10 such
// reconnects in a row with no shard channel confirmed in between, the next refusal
// ends the subscription with that *RedisError (with the default backoff, after about
// 3 to 7 s). A subscription still waiting for its first confirmation is not kept:
// SSubscribe returns the refusal (driver/cluster follows the redirect). Without
// Resolve the connection goes to Addr again, and a MOVED (or ASK) refusal there
// ends the subscription with that *RedisError at once: the same address would
// refuse it again.
func (p *PubsubConn) SSubscribe(ctx context.Context, channels ...string) (*Subscription, error) {
	return p.subscribe(ctx, topicShard, channels)
}

// Kinds of topics.
const (
	topicChan = iota
	topicPattern
	topicShard
	topicKinds
)

func (p *PubsubConn) subscribe(ctx context.Context, kind int, names []string) (*Subscription, error) {
	if ctx == nil {
		// As Conn.Recv takes it; set before anything is registered, as the wait
		// below comes only after the command was queued.
		ctx = context.Background()
	}
	pattern := kind == topicPattern
	if len(names) == 0 {
		return nil, &ConfigError{"Subscribe", "no channel given"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // ended already: nothing is sent
	}
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	s := &Subscription{p: p, names: names, pattern: pattern, shard: kind == topicShard, ch: make(chan Message, p.limit), ready: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	m := p.topics(kind)
	var fresh []string
	var freshTopics []*topic
	for _, n := range names {
		t := m[n]
		if t == nil {
			t = &topic{name: n, pattern: pattern, shard: kind == topicShard}
			m[n] = t
			fresh = append(fresh, n)
			freshTopics = append(freshTopics, t)
		}
		if t.confirmed {
			t.subs = append(t.subs, s)
		} else {
			t.waiting = append(t.waiting, s)
			s.left++
		}
	}
	if s.left == 0 {
		s.markReady()
	}
	wake := p.queue(subKinds[kind], fresh, freshTopics)
	p.mu.Unlock()
	if wake {
		p.b.wake()
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		s.Unsubscribe(context.Background())
		return nil, ctx.Err()
	}
	if subscribedHook != nil {
		subscribedHook(s)
	}
	p.mu.Lock()
	err := s.refused
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// subscribedHook, if set (tests), runs in Subscribe once the subscription is ready,
// before Subscribe looks at how it went.
var subscribedHook func(*Subscription)

// isReady reports whether Subscribe returned s already (its names were confirmed once).
func (s *Subscription) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// markReady releases Subscribe (under mu); it may be reached again after a
// resubscription, when the subscription is long since ready.
func (s *Subscription) markReady() {
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
}

// The commands (and confirmations) of each kind of topic.
var (
	subKinds   = [topicKinds]string{"subscribe", "psubscribe", "ssubscribe"}
	unsubKinds = [topicKinds]string{"unsubscribe", "punsubscribe", "sunsubscribe"}
)

// kindOf returns the kind of s's topics.
func (s *Subscription) kindOf() int {
	switch {
	case s.pattern:
		return topicPattern
	case s.shard:
		return topicShard
	}
	return topicChan
}

func (p *PubsubConn) topics(kind int) map[string]*topic {
	switch kind {
	case topicPattern:
		return p.pats
	case topicShard:
		return p.shards
	}
	return p.chans
}

// kindNamed returns the kind of topics a (un)subscribe confirmation is about.
func kindNamed(kind string) int {
	for i := range subKinds {
		if kind == subKinds[i] || kind == unsubKinds[i] {
			return i
		}
	}
	return topicChan
}

// queue appends a command for names to pend (under mu) and reports whether the loop
// must be woken. topics are those of names, for a subscription (nil for an
// unsubscription).
func (p *PubsubConn) queue(kind string, names []string, topics []*topic) bool {
	if len(names) == 0 {
		return false
	}
	first := len(p.pend) == 0
	args := make([]string, 0, len(names)+1)
	args = append(args, kind)
	args = append(args, names...)
	p.pend = writer.AppendCommand(p.pend, args...)
	p.sent = append(p.sent, sentCmd{kind: kind, names: names, topics: topics, left: len(names)})
	return first
}

// Messages returns the subscription's stream. It is closed when the subscription
// ends: after Unsubscribe, Close, or an error (see Err).
func (s *Subscription) Messages() <-chan Message { return s.ch }

// Err returns why the subscription ended: nil while it runs and after Unsubscribe,
// ErrSlowConsumer, ErrClosed, or the server's *RedisError.
func (s *Subscription) Err() error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.err
}

// Unsubscribe ends the subscription at once and closes its channel; Err returns nil
// afterwards. The server is told to unsubscribe from the channels and patterns no other
// subscription still uses; nothing waits for its confirmation, so ctx is not waited on
// and the error is always nil (it is there for API symmetry with Subscribe).
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	p := s.p
	p.mu.Lock()
	wake := p.end(s, nil)
	p.mu.Unlock()
	if wake {
		p.b.wake()
	}
	return nil
}

// end removes s from its topics and closes its channel (under mu). Topics left
// without subscribers are unsubscribed. It reports whether the loop must be woken.
func (p *PubsubConn) end(s *Subscription, err error) bool {
	if s.ended {
		return false
	}
	s.ended, s.err = true, err
	if !s.isReady() {
		s.refused = err
	}
	m := p.topics(s.kindOf())
	var gone []string
	for _, n := range s.names {
		t := m[n]
		if t == nil {
			continue
		}
		t.subs = slices.DeleteFunc(t.subs, func(x *Subscription) bool { return x == s })
		t.waiting = slices.DeleteFunc(t.waiting, func(x *Subscription) bool { return x == s })
		if len(t.subs) == 0 && len(t.waiting) == 0 {
			delete(m, n)
			gone = append(gone, n)
		}
	}
	close(s.ch)
	s.markReady()
	if p.closed {
		return false
	}
	return p.queue(unsubKinds[s.kindOf()], gone, nil)
}

// Close ends every subscription (Err returns ErrClosed) and closes the connection.
func (p *PubsubConn) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	if p.movedTimer != nil {
		p.movedTimer.Stop()
		p.movedLink, p.movedTimer = nil, nil
	}
	// Collect first, into a slice of its own: end removes each subscriber from its
	// topics' slices (and the topics from the maps), which must not shift what is
	// being ranged over (appending t.waiting to t.subs could write into t.subs's
	// spare capacity, and end would then move entries under the range).
	var all []*Subscription
	for _, m := range []map[string]*topic{p.chans, p.pats, p.shards} {
		for _, t := range m {
			all = append(all, t.subs...)
			all = append(all, t.waiting...)
		}
	}
	for _, s := range all {
		p.end(s, ErrClosed) // once per subscriber: end ignores one already ended
	}
	p.mu.Unlock()
	p.b.close()
	return nil
}

// Reconnects returns how many times the connection was re-established.
func (p *PubsubConn) Reconnects() uint64 { return p.b.reconnects.Load() }

// connDown runs on the loop when the current connection is lost: nothing is confirmed
// on the next one yet, and commands not written are rebuilt by resubscribe.
func (p *PubsubConn) connDown(error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range []map[string]*topic{p.chans, p.pats, p.shards} {
		for _, t := range m {
			t.confirmed = false
		}
	}
}

// resubscribe runs after a reconnect's handshake, before the new connection is read:
// it queues SUBSCRIBE and PSUBSCRIBE for exactly the live topics.
func (p *PubsubConn) resubscribe() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pend = p.pend[:0]
	p.sent = p.sent[:0]
	for kind := range topicKinds {
		var names []string
		m := p.topics(kind)
		for n, t := range m {
			t.confirmed = false
			t.waiting = append(t.waiting, t.subs...)
			for _, s := range t.subs {
				s.left++
			}
			t.subs = nil
			names = append(names, n)
		}
		slices.Sort(names)
		topics := make([]*topic, len(names))
		for i, n := range names {
			topics[i] = m[n]
		}
		p.queue(subKinds[kind], names, topics)
	}
}

// session: loop side.

func (p *PubsubConn) collect(dst []byte, vec [][]byte, _ int) ([]byte, [][]byte) {
	p.mu.Lock()
	dst = append(dst, p.pend...)
	p.pend = p.pend[:0]
	p.mu.Unlock()
	return dst, vec
}

func (p *PubsubConn) lost(l *link, err error) { p.b.lost(l, err) }

func (p *PubsubConn) deliver(v parser.Value) error {
	if v.IsError() {
		return p.failHead(v)
	}
	if v.Kind() != parser.Push && v.Kind() != parser.Array {
		return nil // e.g. a RESP3 attribute-only or unrelated reply
	}
	e := v.Elems()
	if len(e) < 3 {
		return nil
	}
	kind := e[0].Bytes()
	p.mu.Lock()
	wake := false
	switch {
	case bytes.EqualFold(kind, []byte("message")):
		wake = p.dispatch(p.chans[string(e[1].Bytes())], e[1].Bytes(), nil, e[2].Bytes())
	case bytes.EqualFold(kind, []byte("pmessage")) && len(e) >= 4:
		wake = p.dispatch(p.pats[string(e[1].Bytes())], e[2].Bytes(), e[1].Bytes(), e[3].Bytes())
	case bytes.EqualFold(kind, []byte("smessage")):
		wake = p.dispatch(p.shards[string(e[1].Bytes())], e[1].Bytes(), nil, e[2].Bytes())
	case bytes.EqualFold(kind, []byte("subscribe")), bytes.EqualFold(kind, []byte("psubscribe")), bytes.EqualFold(kind, []byte("ssubscribe")):
		p.confirm(string(bytes.ToLower(kind)), string(e[1].Bytes()))
	case bytes.EqualFold(kind, []byte("unsubscribe")), bytes.EqualFold(kind, []byte("punsubscribe")):
		p.ackUnsub(string(bytes.ToLower(kind)), string(e[1].Bytes()))
	case bytes.EqualFold(kind, []byte("sunsubscribe")):
		if !p.ackUnsub("sunsubscribe", string(e[1].Bytes())) {
			// Not asked for: the server dropped the shard channel (its slot moved
			// away). If it still has subscribers, reconnect (through Resolve, to
			// the slot's new owner) and subscribe again there.
			if t := p.shards[string(e[1].Bytes())]; t != nil {
				t.confirmed = false
				p.mu.Unlock()
				p.reconnectSoon()
				return nil
			}
		}
	}
	p.mu.Unlock()
	if wake {
		p.b.wake()
	}
	return nil
}

// dispatch hands a message to every subscriber of t, ending those whose buffer is full.
func (p *PubsubConn) dispatch(t *topic, channel, pattern, payload []byte) bool {
	if t == nil {
		return false
	}
	// The topic holds its name: a plain message's channel, a pattern message's
	// pattern. Only a pattern message's channel needs a new string.
	var ch, pat string
	if t.pattern {
		ch, pat = string(channel), t.name
	} else {
		ch = t.name
	}
	wake := false
	for i := 0; i < len(t.subs); i++ {
		s := t.subs[i]
		select {
		case s.ch <- Message{Channel: ch, Pattern: pat, Payload: bytes.Clone(payload)}:
		default:
			if p.end(s, ErrSlowConsumer) {
				wake = true
			}
			i-- // end removed s from t.subs
		}
	}
	return wake
}

// confirm marks a topic confirmed and releases the subscriptions waiting for it.
func (p *PubsubConn) confirm(kind, name string) {
	sentFor, ok := p.ackSub(kind, name)
	if !ok {
		return // not asked for (a broken server's): nothing to confirm or count
	}
	t := p.topics(kindNamed(kind))[name]
	if t == nil || t != sentFor {
		// Unsubscribed meanwhile; the UNSUBSCRIBE follows on the wire. If the name
		// was subscribed again, that is another topic, with a SUBSCRIBE of its own
		// behind the UNSUBSCRIBE: the server is not subscribed for it yet.
		return
	}
	t.confirmed = true
	if t.shard {
		p.movedReconnects = 0 // a node took a shard channel: Resolve found the owner
	}
	for _, s := range t.waiting {
		t.subs = append(t.subs, s)
		if s.left--; s.left == 0 {
			s.markReady()
		}
	}
	t.waiting = nil
}

// ackSub counts a subscription's confirmation for name against the oldest command of
// that kind still waiting for name's, and returns the topic that command was sent
// for name (under mu). It reports false for a confirmation no command waits for: one
// a broken server sent unasked, or twice. Counted by kind alone, such a confirmation
// would take the place of a real one, and the command's last name would then find no
// command to confirm it: its Subscribe would wait until its ctx ended (for ever with
// context.Background()).
func (p *PubsubConn) ackSub(kind, name string) (*topic, bool) {
	for i := range p.sent {
		if c := &p.sent[i]; c.kind == kind {
			if j, ok := c.take(name); ok {
				var t *topic
				if j < len(c.topics) {
					t = c.topics[j]
				}
				p.done(i)
				return t, true
			}
		}
	}
	return nil, false
}

// ackUnsub counts an unsubscription's confirmation for name against the oldest
// command of that kind, if name is one of those it still waits for, and reports
// whether it did. The server also unsubscribes by itself (a shard channel whose slot
// moved), and that push may come while our own SUNSUBSCRIBE is on the way: counted by
// kind alone it would take our command's confirmation, and its channel, which still
// has subscribers, would never be subscribed again.
func (p *PubsubConn) ackUnsub(kind, name string) bool {
	for i := range p.sent {
		if c := &p.sent[i]; c.kind == kind {
			if _, ok := c.take(name); !ok {
				return false // not ours: the server's own
			}
			p.done(i)
			return true
		}
	}
	return false
}

// take counts the confirmation of name if c still waits for it, and returns its
// index in names (and topics). names[j:] are the unconfirmed ones. The server
// confirms in the order of the arguments: the next one is name, unless it answered
// out of order (then name is looked up and moved to j, with its topic, so that the
// confirmed ones stay in front).
func (c *sentCmd) take(name string) (int, bool) {
	j := len(c.names) - c.left
	if j < 0 || j >= len(c.names) {
		return 0, false
	}
	if c.names[j] != name {
		k := slices.Index(c.names[j:], name)
		if k < 0 {
			return 0, false
		}
		c.names[j], c.names[j+k] = c.names[j+k], c.names[j]
		if j+k < len(c.topics) {
			c.topics[j], c.topics[j+k] = c.topics[j+k], c.topics[j]
		}
	}
	c.left--
	return j, true
}

// done removes the command sent[i] once it has no confirmation left to wait for.
func (p *PubsubConn) done(i int) {
	if p.sent[i].left <= 0 {
		p.sent = slices.Delete(p.sent, i, i+1)
	}
}

// errShardDropped is why a connection was dropped after the server ended a shard
// channel unasked. Unlike Reconnect's, such a loss soon after the connection was
// made counts toward the reconnect backoff (see briefRun): a node that
// confirms and drops a shard channel at every connection is not dialled in a loop.
var errShardDropped error = errors.New("respring: the server ended a shard channel: reconnecting")

// reconnectSoon drops the current connection (from the loop): the reconnect that
// follows subscribes again to every live topic.
func (p *PubsubConn) reconnectSoon() {
	if l := p.b.cur.Load(); l != nil {
		l.drop(&errShardDropped)
	}
}

// Done returns a channel closed once Close was called.
func (p *PubsubConn) Done() <-chan struct{} { return p.b.stop }

// Reconnect drops the current connection and establishes a new one (through
// Config.Resolve, if set), subscribed again to every live topic. Messages published
// meanwhile are not received. A connection being dialled meanwhile is dropped once
// made and dialled again (it may have resolved the old server), and a reconnect
// pausing between attempts (see Config.ReconnectMin) dials at once. It returns without
// waiting for the new connection; a Subscribe after it goes out on the new one.
func (p *PubsubConn) Reconnect() { p.b.requestReconnect() }

// failHead ends the subscriptions waiting on the oldest command, which the server
// refused (NOPERM, for example). It acts only on the topics that command was sent
// for, and on each only while it is still the current topic of its name: a topic
// unsubscribed while its SUBSCRIBE was on the way (its subscriber's ctx ended, or it
// unsubscribed) and subscribed again is a new topic of the same name, with a
// SUBSCRIBE of its own behind the refused one, which may well succeed.
func (p *PubsubConn) failHead(v parser.Value) error {
	p.mu.Lock()
	if len(p.sent) == 0 {
		p.mu.Unlock()
		return &protocolError{reason: "error reply with no command outstanding: " + v.String()}
	}
	cmd := p.sent[0]
	p.sent = p.sent[1:]
	wake := false
	if kind := kindNamed(cmd.kind); cmd.kind == subKinds[kind] {
		err := newRedisError(v)
		// A shard channel subscribed again after a reconnect, refused with a
		// redirect: the connection went to a node that no longer owns the slot (the
		// map Resolve used was older than the move). The subscriptions that were
		// receiving stay, and the connection goes again, through Resolve, after a
		// backoff (see movedReconnect); only those still waiting for their first
		// confirmation end (driver/cluster follows the redirect for them). Once
		// maxMovedReconnects such reconnects in a row brought no confirmation, the
		// next refusal ends them all: Resolve keeps naming a node that refuses.
		// Without Resolve the connection would go to the same address, which refuses
		// again at once (and each dial succeeds, so the reconnect backoff never
		// applies): there every subscription refused ends, with the redirect.
		redirect := kind == topicShard && isRedirect(v.Bytes()) && p.b.cfg.Resolve != nil
		moved := redirect && p.movedReconnects < maxMovedReconnects
		if redirect && !moved {
			p.movedReconnects = 0 // given up: a later subscription starts afresh
		}
		m := p.topics(kind)
		again := false
		for i, n := range cmd.names {
			if i >= len(cmd.topics) || m[n] != cmd.topics[i] {
				continue // unsubscribed since, perhaps subscribed again: not this command's
			}
			t := cmd.topics[i]
			for _, s := range append(slices.Clone(t.waiting), t.subs...) {
				if moved && s.isReady() {
					again = true
					continue
				}
				if p.end(s, err) {
					wake = true
				}
			}
		}
		if again {
			p.movedReconnect()
		}
	}
	p.mu.Unlock()
	if wake {
		p.b.wake()
	}
	return nil
}

// maxMovedReconnects bounds the reconnects in a row that MOVED (or ASK) refusals of
// shard channels cause with Config.Resolve set (see failHead): with the default
// backoff (10 ms doubling to 2 s, see movedBackoff) they span about 3 to 7 s, time
// enough for a cluster's map to catch up with a slot's move.
const maxMovedReconnects = 10

// movedReconnect counts one MOVED-caused reconnect and drops the current connection
// after movedBackoff (under mu). Resolve may name the same stale node again at once,
// and each dial succeeds, so base's backoff (which paces failed dials) never applies:
// without a pause of its own this would reconnect as fast as the network allows. A
// connection already scheduled to go is left so (and not counted again); one lost
// meanwhile is counted but not waited for (its reconnect is under way). The timer
// drops only the connection it was set for, if it is still the current one.
func (p *PubsubConn) movedReconnect() {
	l := p.b.cur.Load()
	if l != nil && l == p.movedLink {
		return
	}
	p.movedReconnects++
	if l == nil {
		return
	}
	if p.movedTimer != nil {
		p.movedTimer.Stop()
	}
	p.movedLink = l
	p.movedTimer = time.AfterFunc(movedBackoff(&p.b.cfg, p.movedReconnects), func() {
		p.mu.Lock()
		if p.movedLink != l || p.closed {
			p.mu.Unlock()
			return
		}
		p.movedLink, p.movedTimer = nil, nil
		p.mu.Unlock()
		if p.b.cur.Load() == l {
			l.drop(&errReconnect)
		}
	})
}

// movedBackoff is the pause before the nth MOVED-caused reconnect in a row (n >= 1):
// base's reconnect backoff, ReconnectMin doubling up to ReconnectMax, with the same
// jitter, in [d/2, d].
func movedBackoff(cfg *Config, n int) time.Duration {
	d := cfg.ReconnectMin
	for i := 1; i < n && d <= cfg.ReconnectMax/2; i++ {
		d *= 2
	}
	return jittered(min(d, cfg.ReconnectMax))
}

// isRedirect reports whether an error reply is a cluster redirect (MOVED or ASK).
func isRedirect(msg []byte) bool {
	return bytes.HasPrefix(msg, []byte("MOVED ")) || bytes.HasPrefix(msg, []byte("ASK "))
}

// deliverOwned is deliver: message payloads are copied for each subscriber anyway.
// hold and wrote: PubsubConn's collect never references commands in vec.
func (p *PubsubConn) hold()  {}
func (p *PubsubConn) wrote() {}

func (p *PubsubConn) deliverOwned(v parser.Value, _ []byte) (bool, error) {
	return false, p.deliver(v)
}
