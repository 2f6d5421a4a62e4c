package driver

import (
	"math"
	"math/bits"
	"sync"
)

// Large command and reply buffers are pooled. A slot's command buffer above 64 KiB is
// not kept by its slot after use (a ring would otherwise hold up to RingSize of them),
// and a fresh one for every large SET cost more than the SET: a 1 MiB buffer from the
// allocator is fresh pages, and filling it page-faulted at ~5 GB/s (a profile of 1
// MiB SETs showed 0.9 of 4.3 s in that copy, and madvise). The ring hands such
// buffers back (ring.SetRelease) once their reply came; the next large command of
// that size class takes one. A large reply is read into a pooled buffer too, which its
// slot hands back once the reply was read (see link.lent).
//
// Classes run from 128 KiB to 64 MiB in quarter steps of each power of two (1, 1.25,
// 1.5, 1.75 times 2^k), so that a 1 MiB value and its header take 1.25 MiB, not 2;
// larger buffers are left to the garbage collector. bytebufferpool is not used here:
// its size calibration targets small buffers and drops those far above its running
// average (see link.write).
const (
	bigMinShift = 17 // 128 KiB
	bigMaxShift = 26 // 64 MiB
	// bigMin is the encoded size from which a command's buffer comes from the pool.
	bigMin = 64 << 10
	// bigClasses is the number of size classes: four per power of two, and 64 MiB.
	bigClasses = 4*(bigMaxShift-bigMinShift) + 1
)

var bigPools [bigClasses]sync.Pool

// bigClass returns the smallest class holding n bytes, or -1 if n is above 64 MiB.
func bigClass(n int) int {
	if n <= 1<<bigMinShift {
		return 0
	}
	if n > 1<<bigMaxShift {
		return -1
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e < n <= 2^(e+1)
	q := (n - 1<<e + 1<<(e-2) - 1) >> (e - 2)
	return 4*(e-bigMinShift) + q // q == 4 is the next power's first class
}

// bigSize returns the capacity of class k's buffers.
func bigSize(k int) int {
	e := bigMinShift + k/4
	return 1<<e + (k%4)<<(e-2)
}

// getBig returns an empty buffer of at least n bytes' capacity (n > bigMin).
func getBig(n int) []byte {
	k := bigClass(n)
	if k < 0 {
		return make([]byte, 0, n)
	}
	if p, _ := bigPools[k].Get().(*[]byte); p != nil {
		return (*p)[:0]
	}
	return make([]byte, 0, bigSize(k))
}

// putBig gives a buffer back to its pool; only buffers of a class's exact size are
// kept (those getBig made). The caller must not touch b after that.
func putBig(b []byte) {
	k := bigClass(cap(b))
	if k < 0 || cap(b) != bigSize(k) {
		return
	}
	b = b[:0]
	bigPools[k].Put(&b)
}

// argsSize returns a lower bound of the encoded size of args: their string and byte
// payloads. It is cheap enough to run for every command.
func argsSize(args []any) int { return copiedSize(args, math.MaxInt, math.MaxInt) }

// refMin is the size from which a string argument of Send is attached to its slot
// instead of copied into the command buffer (see PairedConn.encodeLarge): from there
// the write from where it is, by reference, pays (see link.write).
const refMin = vecMin

// lendMin is the size from which a []byte argument of Send is lent to its slot
// instead of copied: Send then waits until the socket took it, a round trip to the
// event loop that a copy of a smaller value beats when the caller pipelines. Measured
// (BenchmarkPipelinedLargeSet, bench/RESULTS.md), 32 SETs sent, then waited for: lent
// 64 KiB values took 1.8x the time of copied ones, 256 KiB the same, 1 MiB 0.67x.
const lendMin = 256 << 10

// copiedSize is argsSize without the string arguments of minStr bytes or more and the
// []byte ones of minBytes or more (which encodeLarge attaches or lends instead of
// copying); with minBytes <= 0 every []byte is counted, as AppendArgsRefs copies them.
func copiedSize(args []any, minStr, minBytes int) int {
	n := 0
	for _, a := range args {
		switch x := a.(type) {
		case []byte:
			if minBytes <= 0 || len(x) < minBytes {
				n += len(x)
			}
		case string:
			if len(x) < minStr {
				n += len(x)
			}
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
