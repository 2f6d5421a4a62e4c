package driver

import (
	"syscall"
	"unsafe"
)

// iovMax is the most buffers one writev takes (IOV_MAX on Linux).
const iovMax = 1024

// writeVec writes the buffers of vec straight to the socket fd, in order, in writev
// calls, until the socket takes no more; it returns how many bytes it took. iov is the
// caller's scratch space for the vector (the loop's); it is cleared again before
// writeVec returns, so that it holds on to no buffer. tail says vec[0] is what is left
// of a buffer the socket took part of (see link.heldCut): it has no head to split off.
// The caller must know that gnet holds no output.
//
// Where the calls end matters to redis-server, which reads a large bulk string
// straight into a buffer of its size once it knows the size. A buffer of more than
// outChunk bytes (a large value, lent or attached, or a large command buffer) is
// written as its first outHead bytes, ending the call that carries the command's
// header (see outHead), then the rest in a call of its own, which also carries the
// batch's final CRLF when that is all that follows. Small buffers go together. So a
// batch of one large SET is two calls: header and head, then the rest and CRLF. Before,
// one write per buffer sent the 42-byte header alone and the 2-byte CRLF alone, and
// redis-server woke for each: LargeSet 1 MiB at one goroutine is 22% faster this
// way, with 14% less server CPU, and unchanged at eight (bench/RESULTS.md). Putting
// the CRLF of a value with its rest when another command follows (or merging the rest
// with what follows) cost 13-19% at eight goroutines.
func writeVec(fd int, vec [][]byte, iov *[]iovec, tail bool) (int, error) {
	done, i, off := 0, 0, 0 // written; the next byte is vec[i][off]
	defer func() { clear((*iov)[:cap(*iov)]) }()
	for i < len(vec) {
		// The next call: from vec[i][off] to the end of the next large buffer's head
		// or rest (or of vec), at most iovMax buffers.
		v, want := (*iov)[:0], 0
		for j, o := i, off; j < len(vec) && len(v) < iovMax; j, o = j+1, 0 {
			b := vec[j][o:]
			if len(b) == 0 {
				continue
			}
			large := len(vec[j]) > outChunk
			rest := o > 0 || (tail && j == 0) // a large buffer's rest, if large
			if large && !rest {
				b = b[:outHead] // its head ends the call
			}
			v = appendIov(v, b)
			want += len(b)
			if large {
				// The rest of a large buffer (which starts a call: o > 0 only for
				// the first buffer of one) ends it too, with the CRLF that ends the
				// batch if that is all that follows.
				if rest && j == len(vec)-2 && len(v) < iovMax && string(vec[j+1]) == "\r\n" {
					v = appendIov(v, vec[j+1])
					want += 2
				}
				break
			}
		}
		if want == 0 {
			break // only empty buffers left
		}
		*iov = v
		r, _, errno := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(v))), uintptr(len(v)))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return done, nil
		case errno != 0:
			return done, errno
		}
		n := int(r)
		done += n
		// Step past the n bytes written.
		for n > 0 {
			if k := len(vec[i]) - off; n >= k {
				n -= k
				i, off = i+1, 0
			} else {
				off += n
				n = 0
			}
		}
		if int(r) < want {
			return done, nil // the socket is full
		}
	}
	return done, nil
}

// appendIov appends b to the vector v.
func appendIov(v []syscall.Iovec, b []byte) []syscall.Iovec {
	v = append(v, syscall.Iovec{Base: unsafe.SliceData(b)})
	v[len(v)-1].SetLen(len(b))
	return v
}
