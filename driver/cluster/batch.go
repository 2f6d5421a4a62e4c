package cluster

import (
	"github.com/respring/respring/driver"
	"github.com/respring/respring/parser"
)

// group is the part of a batch that goes to one node.
type group struct {
	conn  *driver.PairedConn
	batch driver.Batch
	idx   []int // positions of its commands in the caller's batch
}

// SendBatch splits b by node: each node's commands go out in order and contiguously
// (driver.PairedConn.SendBatch), and the Futures are appended to dst in b's order.
// Each command follows its own redirects. A command whose keys are in different
// slots fails with ErrCrossSlot, alone; a batch that one node's connection would
// refuse whole (an argument that cannot be encoded, a blocking command, WATCH: see
// driver.Batch.CheckShared) fails whole, none of it sent, as on one node.
func (c *Client) SendBatch(dst []driver.Future, b *driver.Batch) []driver.Future {
	n := b.Len()
	if n == 0 {
		return dst
	}
	base := len(dst)
	for i := 0; i < n; i++ {
		dst = append(dst, driver.Future{})
	}
	if err := b.CheckShared(); err != nil {
		for i := range n {
			dst[base+i] = driver.Failed(err)
		}
		return dst
	}
	var groups []*group
	b.Commands(func(i int, args []parser.Value) bool {
		as := values(args)
		slot, ro, err := c.cmds.slotOf(as)
		var conn *driver.PairedConn
		if err == nil {
			conn, err = c.route(slot, ro)
		}
		if err != nil {
			dst[base+i] = driver.Failed(err)
			return true
		}
		var g *group
		for _, x := range groups {
			if x.conn == conn {
				g = x
				break
			}
		}
		if g == nil {
			g = &group{conn: conn}
			groups = append(groups, g)
		}
		g.batch.Queue(as...)
		g.idx = append(g.idx, i)
		return true
	})
	for _, g := range groups {
		fs := g.conn.SendBatchRouted(nil, &g.batch, c)
		for k, f := range fs {
			dst[base+g.idx[k]] = f
		}
	}
	return dst
}

// SendTx sends b as one MULTI ... EXEC transaction to the node of its slot. Every
// command's keys must be in one slot (commands without keys go along); otherwise each
// Future fails with ErrCrossSlot and nothing is sent. See driver.PairedConn.SendTx
// for the errors of a transaction.
func (c *Client) SendTx(dst []driver.Future, b *driver.Batch) []driver.Future {
	n := b.Len()
	if n == 0 {
		return dst
	}
	slot, err := noKey, b.Err()
	if err == nil {
		b.Commands(func(_ int, args []parser.Value) bool {
			s, _, e := c.cmds.slotOf(values(args))
			switch {
			case e != nil:
				err = e
			case s == noKey:
			case slot == noKey:
				slot = s
			case s != slot:
				err = ErrCrossSlot
			}
			return err == nil
		})
	}
	var conn *driver.PairedConn
	if err == nil {
		conn, err = c.route(slot, false)
	}
	if err != nil {
		for i := 0; i < n; i++ {
			dst = append(dst, driver.Failed(err))
		}
		return dst
	}
	return conn.SendTxRouted(dst, b, c)
}

// values returns a command's parsed arguments as Send arguments (aliasing them).
func values(args []parser.Value) []any {
	as := make([]any, len(args))
	for j := range args {
		as[j] = args[j].Bytes()
	}
	return as
}
