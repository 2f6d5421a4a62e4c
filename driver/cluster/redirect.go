package cluster

// Following redirects (driver.Rerouter): MOVED, ASK, the replies that prove a command
// did not run, and the commands a closed node connection never wrote. The reaction to
// each reply is nextHop's.

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// Reroutes is the client's driver.Rerouter test: MOVED, ASK and the replies that
// prove a command did not run.
func (c *Client) Reroutes(msg []byte) bool {
	return hasWord(msg, "MOVED") || hasWord(msg, "ASK") || isRetryable(msg)
}

// Reroute follows one redirect or retry of a command (driver.Rerouter).
func (c *Client) Reroute(ctx context.Context, r driver.Redirect) (driver.Future, error) {
	if ctx == nil {
		ctx = context.Background() // a Future read with a nil ctx waits without bound
	}
	if r.Err != nil {
		return c.resend(ctx, r)
	}
	h, err := c.nextHop(ctx, r)
	if err != nil {
		return driver.Future{}, err // not followed: not counted
	}
	// Sent within ctx: a wait for room in a full ring that ends with it sent nothing,
	// and says so.
	var f driver.Future
	if r.Tx > 0 {
		f, err = h.conn.ResendTxContext(ctx, c, r.Cmd, h.ask)
	} else {
		f, err = h.conn.ResendContext(ctx, c, r.Cmd, h.ask)
	}
	if err != nil {
		return driver.Future{}, err // not followed: not counted
	}
	// Counted once followed, so that a Reroute given up on its ctx (which the
	// Future's next reader tries again) is counted once. (After a MOVED the map was
	// updated either way: the reply says where the slot is.)
	h.n.Add(1)
	return f, nil
}

// hop is where a redirected or retried command goes next: to conn, preceded there by
// ASKING with ask; n counts it once it was sent (Stats).
type hop struct {
	conn *driver.PairedConn
	ask  bool
	n    *atomic.Uint64
}

// nextHop is where Reroute sends r's command, given its reply, the error that is
// its r.Attempt-th redirect or retry (see Reroutes).
//   - MOVED: the map is updated for the slot (and refreshed), the command goes to the
//     named master; ASK: to the named node, after ASKING, the map unchanged; both at
//     most MaxRedirects times.
//   - A retried reply (TRYAGAIN, CLUSTERDOWN, ...), or a MOVED that does not name the
//     host: after a refresh is asked for and a backoff within ctx, to the master of
//     the command's slot in the map then, at most MaxRetries times.
//
// ErrNoReroute says the command is not sent again: the caller gets the reply as it is.
// Another error (ctx's, a failed dial) ends the command with it; nothing was sent.
func (c *Client) nextHop(ctx context.Context, r driver.Redirect) (hop, error) {
	msg, attempt := r.Reply, r.Attempt
	if ask, s, addr, ok := parseRedirect(msg); ok && (addr != "" || ask) {
		if attempt > c.cfg.MaxRedirects || addr == "" {
			// Given up, or an ASK to a node whose host it does not say: the map
			// may be out of date (a refresh is rate-limited).
			c.requestRefresh()
			return hop{}, driver.ErrNoReroute
		}
		if !ask {
			c.movedTo(s, addr)
		}
		conn, err := c.connFor(ctx, addr, false)
		if err != nil {
			return hop{}, err
		}
		if ask {
			return hop{conn: conn, ask: true, n: &c.asked}, nil
		}
		return hop{conn: conn, n: &c.moved}, nil
	}
	// A retry; or a MOVED that does not say the host (unknown-endpoint) or cannot be
	// read: the slot's master in the refreshed map.
	if attempt > c.cfg.MaxRetries {
		return hop{}, driver.ErrNoReroute
	}
	c.requestRefresh()
	d := min(10*time.Millisecond<<min(attempt-1, 6), 500*time.Millisecond)
	t := time.NewTimer(jitter(d / 2))
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return hop{}, ctx.Err()
	}
	s, err := c.slotOfEncoded(r.Cmd)
	if err != nil {
		return hop{}, driver.ErrNoReroute
	}
	conn, err := c.routeCtx(ctx, s, false)
	if err != nil {
		return hop{}, err
	}
	return hop{conn: conn, n: &c.retried}, nil
}

// sendToSlot sends r's command again to the master of its slot, counting it in n.
func (c *Client) sendToSlot(ctx context.Context, r driver.Redirect, n *atomic.Uint64) (driver.Future, error) {
	slot, err := c.slotOfEncoded(r.Cmd)
	if err != nil {
		return driver.Future{}, driver.ErrNoReroute
	}
	conn, err := c.routeCtx(ctx, slot, false)
	if err != nil {
		return driver.Future{}, err
	}
	var f driver.Future
	if r.Tx > 0 {
		f, err = conn.ResendTxContext(ctx, c, r.Cmd, false)
	} else {
		f, err = conn.ResendContext(ctx, c, r.Cmd, false)
	}
	if err == nil {
		n.Add(1) // sent: a wait for room that ended with ctx sent nothing
	}
	return f, err
}

// resend sends a command that was never written (r.Err) where its slot is served now:
// the connection it waited on was closed because its node left the map (see
// closeUnused), or, for a blocking command, the node's dedicated pool closed while
// it waited for a connection, or the pool connection it was handed was lost before
// writing it; or the client is closing (then it fails with r.Err).
func (c *Client) resend(ctx context.Context, r driver.Redirect) (driver.Future, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed || r.Attempt > c.cfg.MaxRetries {
		return driver.Future{}, driver.ErrNoReroute
	}
	return c.sendToSlot(ctx, r, &c.resent)
}

// movedTo records that slot is now served by the master at addr (a MOVED reply), in
// the current map, and asks for a refresh: the rest of the map may have changed too.
func (c *Client) movedTo(slot int, addr string) {
	t := c.topo.Load()
	if sh := t.slots[slot].Load(); sh == nil || sh.master.addr != addr {
		target := t.byAddr[addr]
		if target == nil {
			if n, err := c.nodeFor(addr, false); err == nil {
				target = &shard{master: n}
			}
		}
		if target != nil {
			t.slots[slot].Store(target)
		}
	}
	c.requestRefresh()
}

// slotOfEncoded returns the slot of the keys of the encoded commands buf (one
// command, or a whole transaction).
func (c *Client) slotOfEncoded(buf []byte) (int, error) {
	slot := noKey
	for len(buf) > 0 {
		v, n, err := parser.Parse(buf)
		if err != nil {
			return noKey, err
		}
		buf = buf[n:]
		s, _, err := c.cmds.slotOf(values(v.Elems()))
		switch {
		case err != nil:
			return noKey, err
		case s == noKey:
		case slot == noKey:
			slot = s
		case s != slot:
			return noKey, ErrCrossSlot
		}
	}
	return slot, nil
}
