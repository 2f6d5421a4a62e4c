package driver

import (
	"context"
	"reflect"
	"sync/atomic"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/ring"
)

// routeOrder keeps the routed commands of one connection in their order when they go
// again: separate Sends redirected together (a pipeline sent while its slot moved) or
// never written (the connection closed under them) are sent again in the order they
// were sent, whichever Future is read first. The first reader that follows a redirect
// of a plain routed command first follows those of the plain routed commands sent
// before it on the connection, oldest first, under lock (see ahead); each is still
// sent again once (its Memo keeps the outcome for its own Future).
//
// It applies while every routed command of the connection has one Rerouter (a cluster
// client's node connection): a command is sent again by the Rerouter of the one whose
// reader follows it, so with two Rerouters on a connection (or a kept command with
// none, Resend(nil, ...)) each command goes again when its own Future is read, as
// before. Batches and transactions are not looked at: they keep their own order (see
// SendBatchRouted).
type routeOrder struct {
	lock chan struct{} // capacity 1: full while a reader follows redirects in order
	// low is where the next look back starts: every plain routed command before it
	// was looked at and, if redirected, followed. Under lock.
	low uint64
	// first is the Rerouter of the connection's routed commands; mixed is set once
	// one came with another (or with none).
	first atomic.Pointer[Rerouter]
	mixed atomic.Bool
}

func newRouteOrder() *routeOrder { return &routeOrder{lock: make(chan struct{}, 1)} }

// note records that a routed (or kept) command is sent with r. It allocates nothing
// once the connection's first Rerouter is known.
func (o *routeOrder) note(r Rerouter) {
	if o.mixed.Load() {
		return
	}
	if p := o.first.Load(); p != nil {
		// The first one's type is comparable (setFirst), so == cannot panic: values
		// of another type are just not equal.
		if *p != r {
			o.mixed.Store(true)
		}
		return
	}
	o.setFirst(r)
}

// setFirst makes r the connection's Rerouter, unless another one was set meanwhile.
// A Rerouter whose type cannot be compared (a struct holding a slice, say) turns the
// ordering off: it could not be told from another.
func (o *routeOrder) setFirst(r Rerouter) {
	if r == nil || !reflect.TypeOf(r).Comparable() {
		o.mixed.Store(true)
		return
	}
	p := new(Rerouter)
	*p = r
	if !o.first.CompareAndSwap(nil, p) {
		o.note(r)
	}
}

// orderOf returns the routeOrder of the connection of ring rg, or nil when its
// commands are not kept in order (see routeOrder).
func orderOf(rg *ring.Ring, rr Rerouter) *routeOrder {
	o, _ := rg.Aux().(*routeOrder)
	if o == nil || o.mixed.Load() {
		return nil
	}
	if p := o.first.Load(); p == nil || *p != rr {
		return nil
	}
	return o
}

// ahead follows, in order, the redirects of the plain routed commands sent on rg
// before seq and not followed yet, by rr and within ctx, and returns with the order
// lock held: the caller follows seq's own redirect and then calls unlock, so that no
// later command's reader follows its redirect first. Errors of the commands ahead are
// theirs (their Futures get them); after one the Rerouter could not send (an error
// other than ErrNoReroute), the rest ahead are left to their own readers. ahead
// returns an error only when ctx ended, and then holds no lock. attempt is the
// redirect count given to the Rerouter: the caller's, as the commands ahead were
// redirected with it.
func (o *routeOrder) ahead(ctx context.Context, rg *ring.Ring, seq uint64, rr Rerouter, attempt int) (unlock func(), err error) {
	if err := lockCtx(ctx, o.lock); err != nil {
		return nil, err
	}
	unlock = func() { <-o.lock }
	from := o.low
	if size := uint64(rg.Size()); seq >= size && from < seq-size+1 {
		from = seq - size + 1 // older ones are parked at best: left to their readers
	}
	for e := from; e < seq; e++ {
		var red Redirect
		var rs *reroutes
		err := rg.PeekPlain(ctx, e, func(cmd []byte, v parser.Value, verr error, memo *ring.Memo) {
			if cmd == nil {
				return // not kept (not routed), or answered with no error
			}
			if un, ok := verr.(*ring.Unsent); ok {
				red = Redirect{Cmd: append([]byte(nil), cmd...), Attempt: attempt, Err: un.Err}
			} else if verr != nil || !v.IsError() || !rr.Reroutes(v.Bytes()) {
				return
			} else {
				red = Redirect{Reply: string(v.Bytes()), Cmd: append([]byte(nil), cmd...), Attempt: attempt}
			}
			rs = keepReroutes(memo, modePlain, cmd)
		})
		if err != nil && ctx != nil && ctx.Err() != nil {
			unlock()
			return nil, ctx.Err()
		}
		if rs == nil {
			continue // expired, not routed, or not redirected
		}
		_, err = rs.follow(ctx, rr, red, modePlain, 0)
		if err != nil && ctx != nil && ctx.Err() != nil {
			o.low = e // e goes again first next time
			unlock()
			return nil, ctx.Err()
		}
		if err != nil && err != ErrNoReroute {
			// The Rerouter could not send it (a node it could not reach, a client
			// closing): it would likely fail the next ones the same way, one after
			// the other, each after as long. Leave those to their own readers.
			break
		}
	}
	if seq >= o.low {
		o.low = seq + 1
	}
	return unlock, nil
}
