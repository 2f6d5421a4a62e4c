//go:build amd64 && !purego

package asm

import "github.com/klauspost/cpuid/v2"

// haveAVX2 is read once, at package initialisation. cpuid also checks that
// the OS saves the YMM state (OSXSAVE/XGETBV).
var haveAVX2 = cpuid.CPU.Supports(cpuid.AVX2)

// mask64AVX2Asm computes Mask64 of the 64 bytes at p. It reads exactly
// p[0:64]; the caller guarantees they are in bounds.
//
//go:noescape
func mask64AVX2Asm(p *byte) uint64

// mask64AVX2 checks the length and calls the assembly.
func mask64AVX2(b []byte) uint64 {
	_ = b[63] // panics if len(b) < 64, as documented for Mask64 (b[:64] would only check cap)
	b = b[:64]
	return mask64AVX2Asm(&b[0])
}
