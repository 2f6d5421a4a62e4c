package asm

import "strconv"

// Level names an implementation of the kernels.
type Level uint8

const (
	// Generic is the pure Go (SWAR) implementation. It is always compiled
	// and is the reference for the other levels.
	Generic Level = iota
	// AVX2 is the amd64 assembly implementation using 256-bit vectors.
	AVX2
)

// String returns the lower-case name of the level ("generic", "avx2").
func (l Level) String() string {
	switch l {
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

var (
	// levels holds the usable levels, Generic first, fastest last.
	levels = detectLevels()
	// current is the level used by Mask64 (and so by Scanner). It is set
	// once here; only tests change it (setLevelForTest).
	current = levels[len(levels)-1]
)

// detectLevels is called once, at package initialisation.
func detectLevels() []Level {
	l := []Level{Generic}
	if haveAVX2 {
		l = append(l, AVX2)
	}
	return l
}

// Levels returns the levels usable on this machine, Generic always first.
// The returned slice is a copy.
func Levels() []Level {
	return append([]Level(nil), levels...)
}

// Current returns the level chosen at init; Mask64 and Scanner use it.
func Current() Level {
	return current
}

// available reports whether l is usable on this machine.
func available(l Level) bool {
	for _, x := range levels {
		if x == l {
			return true
		}
	}
	return false
}

// Mask64 returns a bitmask of the bytes of b[0:64] equal to '\r' or '\n':
// bit i is set if and only if b[i] is '\r' or '\n'. Bytes past b[63] are
// ignored. It uses the level chosen at init (see Current).
//
// len(b) must be at least 64; Mask64 panics otherwise (a caller's bug). Use
// MaskTail for shorter slices.
func Mask64(b []byte) uint64 {
	if haveAVX2 && current == AVX2 {
		return mask64AVX2(b)
	}
	return mask64Generic(b)
}

// Mask64Level is Mask64 at level l, for tests, fuzzing and benchmarks. An
// unknown level, or one not usable on this machine, falls back to Generic.
// Like Mask64 it panics if len(b) < 64.
func Mask64Level(l Level, b []byte) uint64 {
	if haveAVX2 && l == AVX2 {
		return mask64AVX2(b)
	}
	return mask64Generic(b)
}
