package driver

import (
	"math/bits"
	"sync"
)

// Large command buffers are pooled. A slot's command buffer above 64 KiB is not kept
// by its slot after use (a ring would otherwise hold up to RingSize of them), and a
// fresh one for every large SET cost more than the SET: a 1 MiB buffer from the
// allocator is fresh pages, and filling it page-faulted at ~5 GB/s (a profile of 1
// MiB SETs showed 0.9 of 4.3 s in that copy, and madvise). The ring hands such
// buffers back (ring.SetRelease) once their reply came; the next large command of
// that size class takes one. Classes are powers of two from 128 KiB to 64 MiB; larger
// buffers are left to the garbage collector. bytebufferpool is not used here: its
// size calibration targets small buffers and drops those far above its running
// average (see link.write).
const (
	bigMinShift = 17 // 128 KiB
	bigMaxShift = 26 // 64 MiB
	// bigMin is the encoded size from which a command's buffer comes from the pool.
	bigMin = 64 << 10
)

var bigPools [bigMaxShift - bigMinShift + 1]sync.Pool

// bigClass returns the pool class of a buffer of capacity c, or -1.
func bigClass(c int) int {
	if c < 1<<bigMinShift || c > 1<<bigMaxShift {
		return -1
	}
	return bits.Len(uint(c)-1) - bigMinShift
}

// getBig returns an empty buffer of at least n bytes' capacity (n > bigMin).
func getBig(n int) []byte {
	k := bigClass(max(n, 1<<bigMinShift))
	if k < 0 {
		return make([]byte, 0, n)
	}
	if p, _ := bigPools[k].Get().(*[]byte); p != nil {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<(k+bigMinShift))
}

// putBig gives a buffer back to its pool; only buffers of a class's exact size are
// kept (those getBig made).
func putBig(b []byte) {
	k := bigClass(cap(b))
	if k < 0 || cap(b) != 1<<(k+bigMinShift) {
		return
	}
	b = b[:0]
	bigPools[k].Put(&b)
}

// argsSize returns a lower bound of the encoded size of args: their string and byte
// payloads. It is cheap enough to run for every command.
func argsSize(args []any) int {
	n := 0
	for _, a := range args {
		switch x := a.(type) {
		case []byte:
			n += len(x)
		case string:
			n += len(x)
		}
	}
	return n
}

// sizeFor gives *cmd a pooled buffer when a command of about n bytes (its payloads)
// is about to be encoded into it and would outgrow it.
func sizeFor(cmd *[]byte, n int) {
	if n > bigMin && cap(*cmd) < n+n/64+64 {
		*cmd = getBig(n + n/64 + 64) // room for the RESP headers
	}
}
