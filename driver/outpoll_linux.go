package driver

import (
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
		go p.run()
	})
	return outPoll.Load(), outPollErr
}

// epollOneShot is EPOLLONESHOT (its constant in package syscall is negative, of the
// wrong type for EpollEvent.Events).
const epollOneShot = 1 << 30

// armOut asks for one wake of l when its socket fd can take more output.
func armOut(l *link, fd int) error {
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
func (p *outPoller) run() {
	var evs [64]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(p.epfd, evs[:], -1)
		if err != nil {
			if err != syscall.EINTR {
				time.Sleep(time.Millisecond) // not expected of our own epoll instance
			}
			continue
		}
		for i := range evs[:n] {
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
}
