package cluster

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/respring/respring/driver"
)

// Pub/sub. Classic channels are cluster-wide: any node delivers every message, so
// Subscribe uses one PubsubConn to some master, and when that node is lost it
// reconnects, through Config.Resolve, to a master that is up, and subscribes again.
// Shard channels (SSUBSCRIBE, Redis 7) live on their slot's master: SSubscribe uses
// one PubsubConn per slot whose Resolve names the slot's current owner, so a failover
// or a migration of the slot (the server then ends the subscription with an
// unrequested sunsubscribe, which the driver answers by reconnecting) moves the
// subscription to the new owner. Messages published while a subscription moves are
// not received: Redis pub/sub keeps no backlog.

// Subscribe subscribes to classic channels (see driver.PubsubConn.Subscribe).
func (c *Client) Subscribe(ctx context.Context, channels ...string) (*driver.Subscription, error) {
	p, err := c.pubsubFor(ctx, noKey)
	if err != nil {
		return nil, err
	}
	return p.Subscribe(ctx, channels...)
}

// PSubscribe subscribes to classic channel patterns (see driver.PubsubConn.PSubscribe).
func (c *Client) PSubscribe(ctx context.Context, patterns ...string) (*driver.Subscription, error) {
	p, err := c.pubsubFor(ctx, noKey)
	if err != nil {
		return nil, err
	}
	return p.PSubscribe(ctx, patterns...)
}

// SSubscribe subscribes to shard channels, which must all hash to one slot (else
// ErrCrossSlot), on that slot's master; the subscription follows the slot through
// migrations and failovers.
func (c *Client) SSubscribe(ctx context.Context, channels ...string) (*driver.Subscription, error) {
	if len(channels) == 0 {
		return nil, &driver.ConfigError{Field: "SSubscribe", Reason: "no channel given"}
	}
	slot := KeySlotString(channels[0])
	for _, ch := range channels[1:] {
		if KeySlotString(ch) != slot {
			return nil, ErrCrossSlot
		}
	}
	p, err := c.pubsubFor(ctx, slot)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, err := p.SSubscribe(ctx, channels...)
		var re *driver.RedisError
		if err == nil || !errors.As(err, &re) || attempt >= c.cfg.MaxRedirects {
			return s, err
		}
		ask, _, addr, ok := parseRedirect(re.Error())
		if !ok || ask {
			return nil, err
		}
		// The map was stale: follow the MOVED and subscribe there (with no host in
		// it, where the refreshed map says).
		if addr != "" {
			c.movedTo(slot, addr)
		} else if err := c.waitRefresh(ctx); err != nil {
			return nil, err
		}
		p.Reconnect()
	}
}

// pubsubFor returns the PubsubConn for slot (noKey: the classic one), made on first
// use.
func (c *Client) pubsubFor(ctx context.Context, slot int) (*driver.PubsubConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, driver.ErrClosed
	}
	if c.pubsubs == nil {
		c.pubsubs = make(map[int]*driver.PubsubConn)
	}
	if p := c.pubsubs[slot]; p != nil {
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	var reconnect atomic.Bool
	cfg := c.cfg.Node
	cfg.Init, cfg.OnDisconnect = nil, c.nodeLost
	cfg.Resolve = func(ctx context.Context) (string, error) {
		if reconnect.Swap(true) {
			// A reconnect: the node may be gone or the slot moved; look again.
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = c.waitRefresh(wctx)
			cancel()
		}
		return c.pubsubAddr(slot)
	}
	p, err := driver.PubsubConnect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		p.Close()
		return nil, driver.ErrClosed
	}
	if q := c.pubsubs[slot]; q != nil {
		p.Close()
		return q, nil
	}
	c.pubsubs[slot] = p
	return p, nil
}

// pubsubAddr returns where a pub/sub connection for slot goes: its master, or, for
// classic channels (noKey), a master that is up.
func (c *Client) pubsubAddr(slot int) (string, error) {
	t := c.topo.Load()
	if slot != noKey {
		if sh := t.slots[slot].Load(); sh != nil {
			return sh.master.addr, nil
		}
		return "", ErrNoNode
	}
	if len(t.masters) == 0 {
		return "", ErrNoNode
	}
	off := rand.IntN(len(t.masters))
	for i := range t.masters {
		m := t.masters[(off+i)%len(t.masters)]
		if conn := m.conn.Load(); conn != nil && conn.Connected() {
			return m.addr, nil
		}
	}
	return t.masters[off].addr, nil
}
