package driver

import (
	"syscall"
	"unsafe"
)

// iovMax is the most buffers one writev takes (IOV_MAX on Linux).
const iovMax = 1024

// writeVec writes the buffers of vec straight to the socket fd, in order, in as few
// writev calls as the socket allows, until it takes no more; it returns how many bytes
// it took. With head set and more than outChunk bytes in vec, the first outHead bytes
// go in a call of their own (see outHead). iov is the caller's scratch space for the
// vector (the loop's); it is cleared again before writeVec returns, so that it holds
// on to no buffer. The caller must know that gnet holds no output.
//
// One call per batch instead of one per buffer: a large SET is a header in the loop's
// buffer, the value (lent or attached) and its CRLF; written buffer by buffer, the
// 42-byte header went alone and redis-server woke to read it alone
// (bench/RESULTS.md).
func writeVec(fd int, vec [][]byte, head bool, iov *[]syscall.Iovec) (int, error) {
	total := 0
	for _, b := range vec {
		total += len(b)
	}
	limit := total
	if head && total > outChunk {
		limit = outHead
	}
	done, i, off := 0, 0, 0 // written; the next byte is vec[i][off]
	defer func() { clear(*iov) }()
	for done < total {
		// The next call: from vec[i][off], at most limit bytes, at most iovMax buffers.
		v, want := (*iov)[:0], 0
		for j, o := i, off; j < len(vec) && want < limit && len(v) < iovMax; j, o = j+1, 0 {
			b := vec[j][o:]
			if len(b) == 0 {
				continue
			}
			if len(b) > limit-want {
				b = b[:limit-want]
			}
			v = append(v, syscall.Iovec{Base: unsafe.SliceData(b)})
			v[len(v)-1].SetLen(len(b))
			want += len(b)
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
		limit = total - done
	}
	return done, nil
}
