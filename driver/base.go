package driver

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// base is the connection management shared by PairedConn, Conn and PubsubConn: the
// first dial, the current link, background reconnects with backoff, and Close.
//
// Threading: cur is read lock-free by senders; every change of cur, closed and
// reconnecting happens under mu. The reconnect goroutine exists only while a
// connection is being re-established.
type base struct {
	cfg    Config
	sess   session
	cli    *gnet.Client
	wakers map[gnet.EventLoop]*waker

	cur atomic.Pointer[link]

	mu           sync.Mutex
	closed       bool
	halted       bool // no more reconnects: the session failed for good
	reconnecting bool
	stop         chan struct{} // closed by close: ends the reconnect loop
	// kick ends a reconnect's pause (requestReconnect: dial now); capacity 1.
	kick       chan struct{}
	done       sync.WaitGroup
	proto      atomic.Int32 // protocol of the current connection
	reconnects atomic.Uint64
	// gen counts the reconnects asked for (requestReconnect): a reconnect's dial that
	// began before one (it may have resolved the old server) is dropped and made
	// again.
	gen atomic.Uint64
	// upAt is when the current link was enrolled; brief counts the links lost soon
	// after it in a row (see briefRun). Under mu.
	upAt  time.Time
	brief briefRun

	// up, if set, runs after a reconnect's handshake, before the new link is enrolled
	// (pubsub queues its SUBSCRIBE commands there).
	up func()
	// down runs on the loop when the current link is lost, before any reconnect starts.
	down func(err error)
	// hc is the health check (see health.go), nil when off.
	hc *health
}

// start validates nothing (the caller did), dials and enrolls the first connection.
func (b *base) start(ctx context.Context, cfg Config, s session) error {
	b.cfg, b.sess, b.stop, b.kick = cfg, s, make(chan struct{}), make(chan struct{}, 1)
	cli, wakers, err := sharedEngine.acquire()
	if err != nil {
		return err
	}
	b.cli, b.wakers = cli, wakers
	nc, ts, proto, addr, err := dial(ctx, &b.cfg)
	if err != nil {
		sharedEngine.release()
		return err
	}
	b.proto.Store(int32(proto))
	l := newLink(s, b.cfg.Limits, b.wakers, ts)
	l.addr = addr
	b.cur.Store(l)
	// EnrollContext blocks until the loop has opened the connection: never call it
	// from a loop callback.
	if err := enroll(cli, nc, l, l.wasOpened); err != nil {
		b.cur.Store(nil)
		sharedEngine.release()
		return err
	}
	b.mu.Lock()
	b.upAt = time.Now()
	b.mu.Unlock()
	l.wake()
	return nil
}

// wake asks the current link, if any, to flush; after a reconnect the new link
// flushes by itself.
func (b *base) wake() {
	if l := b.cur.Load(); l != nil {
		l.wake()
	}
}

// lost runs on the loop when link l is gone. Only the current link counts: a late
// close of an older link changes nothing.
func (b *base) lost(l *link, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur.Load() != l {
		return
	}
	b.cur.Store(nil)
	if b.down != nil {
		b.down(err)
	}
	if b.cfg.OnDisconnect != nil {
		b.cfg.OnDisconnect(err)
	}
	if b.closed || b.halted || b.reconnecting {
		return
	}
	b.brief.lost(&b.cfg, b.upAt, l.failed.Load() == &errReconnect)
	b.reconnecting = true
	b.done.Add(1)
	go b.reconnect(b.brief.pause(&b.cfg))
}

// briefRun counts the connections lost in a row less than ReconnectMax (the longest
// pause of the backoff) after they were made, of a base or of the dedicated pool. The
// first such loss is dialled again at once; from the second on, the dial pauses first
// as though each were a failed dial (ReconnectMin, doubling up to ReconnectMax). A
// server that accepts, answers the handshake and then drops every connection (a
// proxy, a killed client, a pubsub output limit hit at once after each
// resubscription, a shard channel dropped again at once) is then dialled at the
// backoff's pace, not as fast as the network allows. A connection that lived longer,
// or that was closed on request (Reconnect, a failover, the MOVED pause of pubsub),
// ends the run.
type briefRun int

// lost counts the loss of a connection made at upAt (requested: closed on request).
func (r *briefRun) lost(cfg *Config, upAt time.Time, requested bool) {
	if !requested && time.Since(upAt) < cfg.ReconnectMax {
		*r++
	} else {
		*r = 0
	}
}

// pause is how long to wait before the next dial.
func (r briefRun) pause(cfg *Config) time.Duration {
	if r < 2 {
		return 0
	}
	d := cfg.ReconnectMin
	for i := briefRun(2); i < r && d < cfg.ReconnectMax; i++ {
		d *= 2
	}
	return min(d, cfg.ReconnectMax)
}

// reconnect dials until a connection is up again or close is called, waiting an
// exponentially growing, jittered delay between attempts, and pause (jittered)
// before the first (see briefRun).
func (b *base) reconnect(pause time.Duration) {
	defer b.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait, delay := pause, b.cfg.ReconnectMin
	if pause > 0 {
		delay = min(2*pause, b.cfg.ReconnectMax)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait, delay = delay, min(2*delay, b.cfg.ReconnectMax)
		}
		if wait > 0 {
			t := time.NewTimer(jittered(wait))
			select {
			case <-b.stop:
				t.Stop()
				return
			case <-b.kick: // Reconnect: dial now
				t.Stop()
			case <-t.C:
			}
		}
		gen := b.gen.Load()
		nc, ts, proto, addr, err := dial(ctx, &b.cfg)
		if err != nil {
			continue
		}
		l := newLink(b.sess, b.cfg.Limits, b.wakers, ts)
		l.addr = addr
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			nc.Close()
			return
		}
		if b.gen.Load() != gen {
			// A reconnect was asked for while this dial was under way (a failover
			// followed: the dial may have reached the old server). Dial again.
			b.mu.Unlock()
			nc.Close()
			continue
		}
		b.cur.Store(l)
		b.mu.Unlock()
		if b.up != nil {
			b.up()
		}
		if err := enroll(b.cli, nc, l, l.wasOpened); err != nil {
			b.mu.Lock()
			b.cur.CompareAndSwap(l, nil)
			b.mu.Unlock()
			continue
		}
		b.mu.Lock()
		if b.cur.Load() != l { // lost while opening
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return
			}
			continue
		}
		b.proto.Store(int32(proto))
		b.reconnecting = false
		select { // a kick for this reconnect is spent
		case <-b.kick:
		default:
		}
		b.upAt = time.Now()
		b.reconnects.Add(1)
		b.mu.Unlock()
		l.wake()
		return
	}
}

// requestReconnect closes the current link, if any, so that a new one is dialled;
// one being dialled already is dropped and dialled again (see gen).
func (b *base) requestReconnect() {
	b.mu.Lock()
	b.gen.Add(1)
	if b.reconnecting {
		select { // a reconnect pausing between dials dials now
		case b.kick <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	if l := b.cur.Load(); l != nil {
		l.drop(&errReconnect)
	}
}

// close stops reconnecting, closes the current link and releases the engine. The
// caller has already finished or failed what was in flight.
func (b *base) close() bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.closed = true
	b.stopHealth()
	close(b.stop)
	l := b.cur.Swap(nil)
	b.mu.Unlock()
	b.done.Wait()
	if l != nil {
		l.close()
	}
	sharedEngine.release()
	return true
}

// address returns the address the current connection was dialled to, "" while none
// is up. Lock-free (OnDisconnect may call it, under mu).
func (b *base) address() string {
	if l := b.cur.Load(); l != nil && l.isOpen.Load() {
		return l.addr
	}
	return ""
}

// connected reports whether a connection is up (not lost, not being re-established).
func (b *base) connected() bool {
	l := b.cur.Load()
	return l != nil && l.isOpen.Load()
}

// halt stops reconnecting after the current link is lost (the session failed for
// good, e.g. a slow consumer); Close is still needed to release resources.
func (b *base) halt() {
	b.mu.Lock()
	b.halted = true
	b.mu.Unlock()
}

// jittered is a reconnect pause of about d: uniform in [d/2, d].
func jittered(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
