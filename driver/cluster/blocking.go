package cluster

// Blocking commands (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, ...) run on a node's
// dedicated pool, since they may hold their connection for as long as they wait. The
// driver's Futures of those commands do not follow redirects (driver.PairedConn.
// SendRouted sends them as Send does), so Do follows them itself, with the same
// reaction to each reply as every other command (nextHop) and the same bounds: on
// MOVED the command goes to the named master's dedicated pool; on ASK, ASKING and the
// command go together on one dedicated connection of the named node, the one that
// ASKING applies to.

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// doBlocking is Do for a blocking command of slot, first sent to conn's dedicated
// pool, then wherever its redirects and retried replies send it (Reroutes: each of
// those replies proves that it did not run); past MaxRedirects (or MaxRetries) the
// caller gets the last reply as a *driver.RedisError, and a refresh of the map is
// asked for. ctx bounds it all: finding the nodes, the waits for a connection of
// their pools, the backoff of a retry, the replies.
func (c *Client) doBlocking(ctx context.Context, conn *driver.PairedConn, slot int, args []any) (parser.Value, error) {
	v, err := runBlocking(ctx, conn, false, nil, args)
	for attempt := 1; ; attempt++ {
		var re *driver.RedisError
		if err == nil || !errors.As(err, &re) || !c.Reroutes([]byte(re.Error())) {
			return v, err
		}
		h, herr := c.nextHop(ctx, re.Error(), attempt, func() (int, error) { return slot, nil })
		if errors.Is(herr, driver.ErrNoReroute) {
			c.requestRefresh() // the map is likely out of date
			return v, err
		}
		if herr != nil {
			return parser.Value{}, herr
		}
		v, err = runBlocking(ctx, h.conn, h.ask, h.n, args)
	}
}

// runBlocking runs args on a connection of conn's dedicated pool and returns its
// reply; with ask, ASKING goes first on that same connection, in one write with the
// command (ASKING applies to the next command of its connection only). n (if not nil)
// counts the command once sent, when the pool gave a connection; without one, err is
// why (ctx ended first, conn is closed). When ctx ends while the command runs, the
// wait for its reply returns ctx's error and the connection, with the command still
// in flight, is closed instead of going back to the pool (driver.PairedConn.Dedicated):
// a late reply, such as an element a BLPOP popped, is never handed to anybody, as
// for a blocking command sent through driver.PairedConn.Send.
func runBlocking(ctx context.Context, conn *driver.PairedConn, ask bool, n *atomic.Uint64, args []any) (v parser.Value, err error) {
	sent := false
	derr := conn.Dedicated(ctx, func(d *driver.DedicatedConn) error {
		if err := ctx.Err(); err != nil {
			return err // an idle connection is handed over whatever ctx: not sent
		}
		sent = true
		var f driver.Future
		if ask {
			var b driver.Batch
			b.Queue("ASKING")
			b.Queue(args...)
			var fs [2]driver.Future
			// The command's Future; ASKING's OK (or error, which the command's own
			// reply then shows) needs no look.
			f = d.SendBatch(fs[:0], &b)[1]
		} else {
			f = d.Send(args...)
		}
		if n != nil {
			n.Add(1)
		}
		v, err = f.Wait(ctx)
		return nil
	})
	if !sent {
		return parser.Value{}, derr
	}
	return v, err
}
