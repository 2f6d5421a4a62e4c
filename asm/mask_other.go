//go:build !amd64 || purego

package asm

// haveAVX2 is false without the amd64 assembly, so the compiler drops the
// AVX2 branches of Mask64 and Mask64Level.
const haveAVX2 = false

// mask64AVX2 is never called when haveAVX2 is false; it exists so that the
// dispatch code compiles everywhere.
func mask64AVX2(b []byte) uint64 {
	return mask64Generic(b)
}
