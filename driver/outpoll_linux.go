package driver

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// outPoller tells links when a socket they could not finish writing to can take more
// (see link.hold): one epoll instance and one goroutine for the whole process, however
// many connections there are, since gnet tells a handler when input arrives but not
// when output may go on. A link arms it for its socket (EPOLLOUT, one-shot) when the
// socket is full; when the kernel reports it writable, the goroutine wakes the link's
// loop, which writes on. The registration of a socket ends with its last close (the
// kernel's), so nothing is removed by hand: a socket number reused by a later
// connection is registered again when that one arms it.
type outPoller struct {
	epfd  int
	mu    sync.Mutex
	links map[int32]*link // by socket, the link that armed it last
}

var (
	outPollOnce sync.Once
	outPoll     atomic.Pointer[outPoller] // set once started (forgetOut reads it)
	outPollErr  error
)

// theOutPoller returns the process's outPoller, started on first use.
func theOutPoller() (*outPoller, error) {
	outPollOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			outPollErr = err
			return
		}
		p := &outPoller{epfd: fd, links: make(map[int32]*link)}
		outPoll.Store(p)
		go p.run(parkable(fd))
	})
	return outPoll.Load(), outPollErr
}

// epollOneShot is EPOLLONESHOT (its constant in package syscall is negative, of the
// wrong type for EpollEvent.Events).
const epollOneShot = 1 << 30

// armOut asks for one wake of l when its socket fd can take more output.
func armOut(l *link, fd int) error {
	if h := armOutHook.Load(); h != nil {
		if err := (*h)(l, fd); err != nil {
			return err
		}
	}
	p, err := theOutPoller()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.links[int32(fd)] = l
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLOUT | epollOneShot, Fd: int32(fd)}
	err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
	if err == syscall.ENOENT {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		p.forget(l, fd)
	}
	return err
}

// armOutHook, if set (by tests only), runs first in armOut: an error it returns is
// armOut's, as where there is no poller (outpoll_other.go).
var armOutHook atomic.Pointer[func(l *link, fd int) error]

// forgetOut drops l's entry for socket fd, if it is still l's (l is closing).
func forgetOut(l *link, fd int) {
	if p := outPoll.Load(); p != nil {
		p.forget(l, fd)
	}
}

func (p *outPoller) forget(l *link, fd int) {
	p.mu.Lock()
	if p.links[int32(fd)] == l {
		delete(p.links, int32(fd))
	}
	p.mu.Unlock()
}

// run waits for the armed sockets and wakes their links (writable, or an error or
// hang-up, which the link's next write meets). A wake of a link that has nothing held
// any more (a closed socket's number reused) costs one look.
//
// It waits parked in Go's network poller (rc: the epoll instance is readable when a
// socket in it is ready), holding no P and no thread. Blocking in epoll_wait instead
// kept a P in a system call for as long as a socket stayed full, so the runtime's
// sysmon woke every 20 µs to hand that P over: 139 context switches per 16 MiB SET at
// 8 goroutines, against 35 parked, and a quarter of the client's CPU
// (bench/RESULTS.md). Only where the poller cannot take it (rc is nil or fails) does
// run block in epoll_wait.
func (p *outPoller) run(rc syscall.RawConn) {
	var evs [64]syscall.EpollEvent
	if rc != nil {
		// Read calls the function again each time the instance turns readable.
		_ = rc.Read(func(uintptr) bool {
			for {
				n, err := syscall.EpollWait(p.epfd, evs[:], 0)
				if n > 0 {
					p.dispatch(evs[:n])
					continue
				}
				if err == syscall.EINTR {
					continue
				}
				// Nothing ready: park (false), unless epoll_wait failed.
				return err != nil
			}
		})
	}
	for {
		n, err := syscall.EpollWait(p.epfd, evs[:], -1)
		if err != nil {
			if err != syscall.EINTR {
				time.Sleep(time.Millisecond) // not expected of our own epoll instance
			}
			continue
		}
		p.dispatch(evs[:n])
	}
}

// dispatch wakes the links of the sockets in evs, each once per arming.
func (p *outPoller) dispatch(evs []syscall.EpollEvent) {
	for i := range evs {
		fd := evs[i].Fd
		p.mu.Lock()
		l := p.links[fd]
		delete(p.links, fd)
		p.mu.Unlock()
		if l != nil {
			l.wake()
		}
	}
}

// parkable returns a RawConn over a duplicate of the epoll instance epfd, registered in
// Go's network poller, or nil. A duplicate, so that epfd stays open whatever becomes of
// the os.File (which closes its descriptor when collected).
func parkable(epfd int) syscall.RawConn {
	// Under ForkLock, as package syscall makes descriptors: a fork between the dup
	// and the close-on-exec flag would hand the copy to the child.
	syscall.ForkLock.RLock()
	fd, err := syscall.Dup(epfd)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil
	}
	if syscall.SetNonblock(fd, true) != nil {
		syscall.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "respring-outpoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	return rc
}
