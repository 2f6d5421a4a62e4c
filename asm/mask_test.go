package asm

import (
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// setLevelForTest makes Mask64 (and so Scanner) use level l until restore
// is called. A level that is not usable here selects Generic, like
// Mask64Level. Tests that call it must not run in parallel.
func setLevelForTest(l Level) (restore func()) {
	old := current
	if !available(l) {
		l = Generic
	}
	current = l
	return func() { current = old }
}

// oracleMask is the byte-by-byte definition of Mask64/MaskTail.
func oracleMask(b []byte) uint64 {
	var m uint64
	for i := 0; i < len(b) && i < 64; i++ {
		if b[i] == '\r' || b[i] == '\n' {
			m |= 1 << uint(i)
		}
	}
	return m
}

// trickyBytes are near misses for the SWAR and vector compares: the
// terminators with the high bit set, their neighbours, zero and 0xff.
var trickyBytes = []byte{0x8d, 0x8a, 0x0c, 0x0e, 0x0b, 0x09, 0x00, 0xff, 0x80, 0x7f, 0x2d, 0x1d, 0x1a, 0x4d, 0x4a, 0xfd, 0xf5, 0xf2}

// fillRandom fills b with a mix of terminators, tricky bytes and random
// bytes.
func fillRandom(r *rand.Rand, b []byte) {
	for i := range b {
		switch x := r.IntN(16); {
		case x < 3:
			b[i] = '\r'
		case x < 5:
			b[i] = '\n'
		case x < 10:
			b[i] = trickyBytes[r.IntN(len(trickyBytes))]
		default:
			b[i] = byte(r.Uint32())
		}
	}
}

// fillGuard fills b with guard bytes made of terminators; reading them
// would set mask bits and show up in the results.
func fillGuard(b []byte) {
	for i := range b {
		b[i] = "\r\n"[i&1]
	}
}

func TestLevels(t *testing.T) {
	ls := Levels()
	if len(ls) == 0 || ls[0] != Generic {
		t.Fatalf("Levels() = %v, want Generic first", ls)
	}
	if c := Current(); c != ls[len(ls)-1] {
		t.Errorf("Current() = %v, want the last level %v", c, ls[len(ls)-1])
	}
	if !haveAVX2 && len(ls) != 1 {
		t.Errorf("without assembly Levels() = %v, want [generic]", ls)
	}
	ls[0] = AVX2 // a copy: must not change the package state
	if Levels()[0] != Generic {
		t.Error("Levels() returned the internal slice")
	}
	for l, want := range map[Level]string{Generic: "generic", AVX2: "avx2", 7: "Level(7)"} {
		if got := l.String(); got != want {
			t.Errorf("Level(%d).String() = %q, want %q", l, got, want)
		}
	}
	t.Logf("levels %v, current %v", Levels(), Current())
}

func TestSetLevelForTest(t *testing.T) {
	for _, l := range Levels() {
		restore := setLevelForTest(l)
		if Current() != l {
			t.Errorf("after setLevelForTest(%v): Current() = %v", l, Current())
		}
		restore()
	}
	if Current() != Levels()[len(Levels())-1] {
		t.Errorf("restore did not restore the level: %v", Current())
	}
}

// TestMaskLengthsOffsets checks every level against the oracle on every
// length 0..512 at every offset 0..63 of a buffer surrounded by guard
// bytes.
func TestMaskLengthsOffsets(t *testing.T) {
	const guard, maxLen = 64, 512
	r := rand.New(rand.NewPCG(1, 2))
	arena := make([]byte, guard+63+maxLen+guard)
	for off := 0; off < 64; off++ {
		for n := 0; n <= maxLen; n++ {
			fillGuard(arena)
			lo := guard + off
			s := arena[lo : lo+n : lo+n]
			fillRandom(r, s)
			checkMasks(t, s)
		}
	}
}

// checkMasks compares every kernel on s (and on its last 64 bytes) with
// the oracle.
func checkMasks(t *testing.T, s []byte) {
	t.Helper()
	n := len(s)
	if n < 64 {
		if got, want := MaskTail(s), oracleMask(s); got != want {
			t.Fatalf("MaskTail len %d: %064b, want %064b", n, got, want)
		}
		return
	}
	for _, win := range [][]byte{s, s[n-64:], s[n/2-32 : n/2+32]} {
		want := oracleMask(win)
		if got := MaskTail(win); got != want {
			t.Fatalf("MaskTail(len %d): %064b, want %064b", len(win), got, want)
		}
		if got := Mask64(win); got != want {
			t.Fatalf("Mask64 (%v) len %d: %064b, want %064b", Current(), n, got, want)
		}
		for _, l := range Levels() {
			if got := Mask64Level(l, win); got != want {
				t.Fatalf("Mask64Level(%v) len %d: %064b, want %064b", l, n, got, want)
			}
		}
	}
}

func TestMaskCrafted(t *testing.T) {
	var b [64]byte
	for _, c := range append([]byte{'\r', '\n'}, trickyBytes...) {
		for i := range b {
			b[i] = c
		}
		checkMasks(t, b[:])
		// One terminator at each position in a field of c.
		for i := range b {
			b[i] = '\r'
			checkMasks(t, b[:])
			b[i] = '\n'
			checkMasks(t, b[:])
			b[i] = c
		}
	}
	// Every byte value at every position.
	for v := 0; v < 256; v++ {
		for i := range b {
			b[i] = byte(v + i)
		}
		checkMasks(t, b[:])
	}
}

func TestMaskUnknownLevel(t *testing.T) {
	b := []byte(strings.Repeat("ab\r\ncd\n\r", 8))
	if got, want := Mask64Level(Level(200), b), oracleMask(b); got != want {
		t.Fatalf("unknown level: %064b, want %064b", got, want)
	}
}

func TestMask64ShortPanics(t *testing.T) {
	for _, l := range Levels() {
		for _, n := range []int{0, 1, 63} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("Mask64Level(%v) on %d bytes did not panic", l, n)
					}
				}()
				Mask64Level(l, make([]byte, n, 64))
			}()
		}
	}
	restore := setLevelForTest(Current())
	defer restore()
	defer func() {
		if recover() == nil {
			t.Error("Mask64 on 63 bytes did not panic")
		}
	}()
	Mask64(make([]byte, 63))
}

// TestMaskTailDoesNotReadPastLen uses a slice whose capacity holds
// terminators past its length.
func TestMaskTailDoesNotReadPastLen(t *testing.T) {
	arena := make([]byte, 128)
	fillGuard(arena)
	for n := 0; n < 64; n++ {
		for i := range n {
			arena[i] = 'x'
		}
		if got := MaskTail(arena[:n]); got != 0 {
			t.Fatalf("MaskTail(len %d) = %064b, want 0", n, got)
		}
		fillGuard(arena)
	}
}

// TestSWAR8 checks swar8 against the oracle for single bytes in every
// lane next to every neighbour value (borrows and carries between lanes).
func TestSWAR8(t *testing.T) {
	for v := 0; v < 256; v++ {
		for w := 0; w < 256; w++ {
			for lane := 0; lane < 8; lane++ {
				x := uint64(v)<<(8*lane) | uint64(w)<<(8*((lane+1)&7))
				var b [8]byte
				for i := range b {
					b[i] = byte(x >> (8 * i))
				}
				if got, want := swar8(x), oracleMask(b[:]); got != want {
					t.Fatalf("swar8(%#016x) = %08b, want %08b", x, got, want)
				}
			}
		}
	}
	if bits.OnesCount64(swarGather) != 8 {
		t.Fatal("swarGather must have 8 bits")
	}
}
