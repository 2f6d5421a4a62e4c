package driver

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// engine is the process-wide gnet client: one event loop per core, multiplexing every
// connection of every PairedConn, Conn and PubsubConn. It starts with the first
// connection and stops when the last one is closed, so an idle process runs no
// goroutine of ours.
type engine struct {
	mu     sync.Mutex
	cli    *gnet.Client
	users  int
	wakers map[gnet.EventLoop]*waker // one per loop; built before cli is handed out, then read-only
}

var sharedEngine engine

// acquire returns the running client and its wakers (a map never written again, safe
// to read from any goroutine), starting it if needed; release must follow.
func (e *engine) acquire() (*gnet.Client, map[gnet.EventLoop]*waker, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cli == nil {
		cli, err := gnet.NewClient(&loopHandler{},
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(runtime.GOMAXPROCS(0)),
			gnet.WithLogger(quietLogger{}),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithReadBufferCap(64<<10),
			gnet.WithWriteBufferCap(64<<10),
		)
		if err != nil {
			return nil, nil, err
		}
		if err := cli.Start(); err != nil {
			return nil, nil, err
		}
		wakers := map[gnet.EventLoop]*waker{}
		for i := 0; i < runtime.GOMAXPROCS(0); i++ {
			w, err := newWaker(cli)
			if err != nil {
				break // links without a waker fall back to gnet's Wake
			}
			if wakers[w.loop] != nil {
				w.close()
				continue
			}
			wakers[w.loop] = w
		}
		e.cli, e.wakers = cli, wakers
		// The output poller starts with the engine (one parked goroutine): started
		// on first use, its allocations came in the middle of the first large write
		// that filled a socket, and counted against that write (TestAllocLargeSet
		// saw one per SET under load).
		_, _ = theOutPoller()
	}
	e.users++
	return e.cli, e.wakers, nil
}

// release drops one user; the last one stops the event loops and waits for them.
func (e *engine) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users--
	if e.users == 0 && e.cli != nil {
		_ = e.cli.Stop()
		for _, w := range e.wakers {
			w.close()
		}
		e.cli, e.wakers = nil, nil
	}
}

// errNotEnrolled is the error of a socket the event loop did not take. gnet's
// EnrollContext reports success once the loop ran its registration task, even when
// that task failed (epoll_ctl refused the socket: ENOMEM, or ENOSPC at
// fs.epoll.max_user_watches): the loop closed the socket and never opened the
// connection, so no OnOpen and no OnClose follow. A link waiting for either would
// wait forever (and, as a base's current link, keep every command waiting).
var errNotEnrolled = errors.New("respring: the event loop could not register the connection")

// enroll hands nc to a loop with ctx (a *link or *waker) as its context and reports
// whether the loop opened it: opened, read after EnrollContext returned (the loop
// ran OnOpen, if at all, before it let EnrollContext return), says so. nc is closed
// either way (gnet works on a duplicate of its socket).
func enroll(cli *gnet.Client, nc net.Conn, ctx any, opened func() bool) error {
	enrollContext := cli.EnrollContext
	if h := enrollHook.Load(); h != nil {
		enrollContext = func(nc net.Conn, ctx any) (gnet.Conn, error) { return (*h)(cli, nc, ctx) }
	}
	if _, err := enrollContext(nc, ctx); err != nil {
		return err
	}
	if !opened() {
		return errNotEnrolled
	}
	return nil
}

// enrollHook, if set (by tests only), runs in place of gnet's EnrollContext.
var enrollHook atomic.Pointer[func(cli *gnet.Client, nc net.Conn, ctx any) (gnet.Conn, error)]

// loopHandler routes gnet events to the link stored in each connection's context.
type loopHandler struct{ gnet.BuiltinEventEngine }

func (loopHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *link:
		if !x.opened(c) {
			return nil, gnet.Close
		}
	case *waker:
		x.up, x.loop = true, c.EventLoop()
	}
	return nil, gnet.None
}

func (loopHandler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *link:
		return x.traffic(c)
	case *waker:
		return x.run(c)
	}
	return gnet.Close
}

func (loopHandler) OnClose(c gnet.Conn, err error) gnet.Action {
	if l, ok := c.Context().(*link); ok {
		l.closed(err)
	}
	return gnet.None
}

// quietLogger keeps gnet from printing: NewClient installs its logger process-wide.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(string, ...any) {}
