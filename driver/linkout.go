package driver

// The write side of a link: a batch of commands gathered from the session and written
// to the socket, large commands from their own buffers (writev), what the socket did
// not take held until it can (the output poller), TLS encrypted whole.

import (
	"syscall"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
)

// write sends what the session has pending, in one write. The batch is gathered in
// the loop's buffer (waker.out), which every link of the loop shares since the loop
// writes one link at a time: an idle connection holds no output buffer, and large
// batches (512 SETs of 1 KiB make 540 KiB) reuse one buffer instead of regrowing one
// each time. gnet copies what the socket does not take at once, so the buffer is free
// again when Write returns. bytebufferpool is kept for links without a waker only: its
// size calibration (every 42,000 Puts) made it drop and regrow such large batches
// after a run of small ones (bench/RESULTS.md).
//
// Over plain sockets a command of vecMin bytes or more (a large SET) is not copied
// into the batch: the batch goes out as a vector of buffers that references the
// command's own buffer (and its attached or lent arguments), and what the socket
// does not take at once stays where it is, held until the socket takes more (see
// sendVec); the next batch waits for it.
func (l *link) write(c gnet.Conn) gnet.Action {
	l.writing.Store(true)
	defer l.wroteOut(c)
	if l.failed.Load() != nil {
		// Dropped (see drop) or failed: what waits goes to the next connection.
		return gnet.None
	}
	if l.heldAt < len(l.held) {
		// The rest of the last batch goes first (see hold); nothing else until then.
		if act := l.writeHeld(c); act != gnet.None || l.heldAt < len(l.held) {
			return act
		}
	}
	if l.bounded && c.OutboundBuffered() > 0 && armOut(l, c.Fd()) == nil {
		// A Conn's commands wait in its own buffer, which Send bounds, until gnet
		// has written out what it holds; the poller wakes the loop when the socket
		// can take more (gnet's own write may come just after that wake: the next
		// look arms the poller again). Elsewhere (no poller) gnet takes them.
		return gnet.None
	}
	if l.tls != nil && l.holdBack() {
		return gnet.None // held back while the server is behind (tlsbatch.go)
	}
	if w := l.waker; w != nil {
		big := vecMin
		if l.tls != nil || !directIO {
			big = 0 // encrypted whole, or gnet writes: nothing to reference
		}
		w.out, w.vec = l.sess.collect(w.out[:0], w.vec[:0], big)
		var act gnet.Action
		if len(w.vec) > 0 {
			act = l.sendVec(c, w.vec, w.out)
			clear(w.vec) // let the large buffers go
		} else {
			act = l.send(c, w.out)
		}
		w.trimOut()
		if l.tls != nil && act == gnet.None {
			l.wroteBatch()
		}
		return act
	}
	bb := bytebufferpool.Get()
	defer bytebufferpool.Put(bb)
	bb.B, _ = l.sess.collect(bb.B[:0], nil, 0)
	act := l.send(c, bb.B)
	if l.tls != nil && act == gnet.None {
		l.wroteBatch()
	}
	return act
}

// vecMin is the command size from which a plain link writes the command from its
// own buffer instead of copying it into the batch (see write).
const vecMin = 64 << 10

// A gnet c.Write that fails closes the connection before it returns: gnet runs
// OnClose (closed, and the session's lost, which may start a reconnect whose new link
// uses the session from another loop) inside it. So once a write through writeOut,
// sendRaw or send failed, nothing touches the session any more unless the link is
// still open (isOpen: the error was our own raw write's, or TLS's, and gnet closed
// nothing); closed has given back what the link held (found by a chaos soak under
// -race: a TLS write cut by a reset went on to read the ring in wroteBatch, racing the
// new link on another loop).

// sendVec writes the buffers of vec in order (plain links only), out being the loop's
// batch buffer that parts of vec may alias. What the socket does not take at once is
// held (see hold): written on from where it is once the socket can take more, not
// copied. Only when gnet already holds output (a small batch it buffered) does the
// batch go behind it, copied by writeOut.
func (l *link) sendVec(c gnet.Conn, vec [][]byte, out []byte) gnet.Action {
	l.outBusy.Store(true) // as in send: writing a large batch takes time
	if c.OutboundBuffered() == 0 {
		n, err := writeVec(c.Fd(), vec, &l.waker.iov, false)
		if err != nil {
			l.sess.wrote()
			return l.fail(err)
		}
		var cut bool
		if vec, cut = skipBytes(vec, n); len(vec) > 0 {
			l.heldCut = cut
			if l.hold(c, vec, out) {
				return gnet.None
			}
			vec = l.held[l.heldAt:] // the poller is not there: gnet takes the rest
		}
	}
	for _, b := range vec {
		if err := writeOut(c, b); err != nil {
			if l.isOpen.Load() { // else gnet closed it: closed did this (see above)
				l.releaseHeld()
				l.sess.wrote()
			}
			return l.fail(err)
		}
	}
	l.releaseHeld()
	l.sess.wrote()
	return gnet.None
}

// hold keeps rest, the part of a batch the socket did not take, to write it once the
// socket can take more (armOut wakes the loop then): the commands' own buffers are
// referenced, and the session holds their slots until it is written (session.hold);
// the parts of out, the loop's buffer that the next batch reuses, are copied into the
// link's heldBuf. Until held is written, nothing else is (write). hold reports
// whether the poller took the socket; if not, held is still set, for the caller to
// hand to gnet.
//
// Why not gnet's buffer: given the tail of a 16 MiB SET, gnet copied it (37% of the
// client's CPU), and tells its handler nothing once it wrote its buffer out, so a
// tail left in place needs a writable event of our own (outpoll_linux.go).
func (l *link) hold(c gnet.Conn, rest [][]byte, out []byte) bool {
	need := 0
	for _, b := range rest {
		if aliases(b, out) {
			need += len(b)
		}
	}
	if cap(l.heldBuf) < need {
		l.heldBuf = make([]byte, 0, need)
	}
	buf := l.heldBuf[:0]
	l.held, l.heldAt = l.held[:0], 0
	for _, b := range rest {
		if len(b) == 0 {
			continue
		}
		if aliases(b, out) {
			k := len(buf)
			buf = append(buf, b...)
			b = buf[k:len(buf):len(buf)]
		}
		l.held = append(l.held, b)
	}
	l.heldBuf = buf
	if armOut(l, c.Fd()) != nil {
		return false
	}
	l.sess.hold()
	return true
}

// aliases reports whether b lies in the array of out.
func aliases(b, out []byte) bool {
	if len(b) == 0 || cap(out) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	base := uintptr(unsafe.Pointer(unsafe.SliceData(out[:cap(out)])))
	return p >= base && p < base+uintptr(cap(out))
}

// writeHeld writes on what hold kept, as far as the socket takes it; once all of it
// is written, the session gets its commands back (wrote) and write goes on with the
// next batch.
func (l *link) writeHeld(c gnet.Conn) gnet.Action {
	fd := c.Fd()
	n, err := writeVec(fd, l.held[l.heldAt:], &l.waker.iov, l.heldCut)
	if err != nil {
		return l.fail(err) // closed drops what is held
	}
	for n > 0 {
		b := l.held[l.heldAt]
		if n < len(b) {
			l.held[l.heldAt], l.heldCut = b[n:], true
			break
		}
		n -= len(b)
		l.held[l.heldAt] = nil
		l.heldAt, l.heldCut = l.heldAt+1, false
	}
	if l.heldAt < len(l.held) {
		if armOut(l, fd) == nil {
			return gnet.None
		}
		// The poller is gone: gnet takes the rest, copied.
		for _, b := range l.held[l.heldAt:] {
			if err := writeOut(c, b); err != nil {
				return l.fail(err)
			}
		}
	}
	l.releaseHeld()
	l.sess.wrote()
	return gnet.None
}

// skipBytes returns what is left of vec once its first n bytes are written: vec from
// the first buffer not written whole, that one cut to its unwritten part (cut says
// part of it was written).
func skipBytes(vec [][]byte, n int) (rest [][]byte, cut bool) {
	for len(vec) > 0 && n >= len(vec[0]) {
		n -= len(vec[0])
		vec = vec[1:]
	}
	if len(vec) > 0 {
		vec[0] = vec[0][n:]
	}
	return vec, n > 0
}

// releaseHeld forgets what hold kept (written, handed to gnet, or dropped with the
// connection); the caller tells the session (wrote).
func (l *link) releaseHeld() {
	clear(l.held)
	l.held, l.heldAt, l.heldCut = l.held[:0], 0, false
	if cap(l.heldBuf) > outChunk {
		l.heldBuf = nil
	}
}

// outChunk is the most writeOut hands gnet in one Write once the socket is full.
const outChunk = 64 << 10

// outHead is how much of a large write writeDirect sends first, in a write of its
// own (writeVec: how much of each large buffer ends the call that carries its
// command's header). The server then reads the command's header (and learns the bulk
// length) from a small first read, before the rest streams in: with one 1 MiB write,
// redis-server read each SET in 3.2 reads instead of 2.1 and spent 1.3x the CPU on it,
// and so did the client's kernel side. Measured (bench/RESULTS.md): 1 MiB SET +47%
// ops/s at one goroutine, +24% at eight; no change at 16 MiB. Split points of 1 to 16
// KiB did about as well; chunking the whole write (64 to 512 KiB pieces) did worse.
const outHead = 4 << 10

// writeDirect writes b straight to the socket fd until the socket takes no more, and
// returns how much it took; a b larger than outChunk has its head (outHead) written
// apart from the rest. The caller must know that gnet holds no output.
func writeDirect(fd int, b []byte) (int, error) {
	part := len(b)
	if part > outChunk {
		part = outHead
	}
	done := 0
	for done < len(b) {
		n, err := rawWrite(fd, b[done:done+part])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return done, nil
		case err != nil:
			return done, err
		}
		if done += n; n < part {
			break // the socket is full
		}
		part = len(b) - done
	}
	return done, nil
}

// writeOut writes b to the socket through gnet, in order after what gnet still holds.
// What the socket does not take at once is handed to gnet outChunk bytes at a time:
// given a larger tail while its output is empty, gnet grows a ring buffer from its
// pool to the tail's size, and given a tail while it holds output, it copies the tail
// into a pooled slice of its size; between 16 MiB SETs the garbage collector emptied
// those pools, so each SET allocated its tail again (32 MB/op at 8 goroutines). In
// chunks, the ring buffer stays within twice the chunk and the rest goes into pooled
// 64 KiB slices, which are reused (2 MB/op). A large b goes straight to the socket
// first (gnet would do the same; writeDirect). TLS output, and plain output behind
// what gnet holds, goes this way; sendVec holds the rest of a large batch instead.
func writeOut(c gnet.Conn, b []byte) error {
	if len(b) <= outChunk {
		_, err := c.Write(b)
		return err
	}
	if directIO && c.OutboundBuffered() == 0 {
		n, err := writeDirect(c.Fd(), b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	for len(b) > 0 {
		k := min(len(b), outChunk)
		if _, err := c.Write(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// wroteOut ends a write: it records whether gnet still holds output for the health
// check (noteOut) and lets drop go on.
func (l *link) wroteOut(c gnet.Conn) {
	l.noteOut(c)
	l.writing.Store(false)
}

// noteOut records whether gnet still holds output for the health check (loop side;
// the store is skipped when nothing changed).
func (l *link) noteOut(c gnet.Conn) {
	if busy := c.OutboundBuffered() > 0 || l.heldAt < len(l.held); busy != l.outBusy.Load() {
		l.outBusy.Store(busy)
	}
}

// send writes b, if not empty, through TLS when the link has it.
func (l *link) send(c gnet.Conn, b []byte) gnet.Action {
	if len(b) > 0 && !l.outBusy.Load() {
		// Busy from here until write's noteOut sees gnet's buffer empty: encrypting
		// and writing a large batch can take longer than the health check's interval.
		l.outBusy.Store(true)
	}
	if l.tls != nil && len(b) > 0 {
		cipher, err := l.tls.encrypt(b)
		if err != nil {
			return l.fail(err)
		}
		act := l.sendRaw(c, cipher)
		l.tls.trim()
		return act
	}
	return l.sendRaw(c, b)
}

// sendRaw writes b to the socket, if not empty.
func (l *link) sendRaw(c gnet.Conn, b []byte) gnet.Action {
	if len(b) > 0 {
		if err := writeOut(c, b); err != nil {
			return l.fail(err)
		}
	}
	return gnet.None
}
