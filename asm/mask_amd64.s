//go:build amd64 && !purego

#include "textflag.h"

// func mask64AVX2Asm(p *byte) uint64
//
// Bit i of the result is set iff p[i] is '\r' (0x0d) or '\n' (0x0a),
// for i in 0..63. Reads exactly the 64 bytes p[0:64].
TEXT ·mask64AVX2Asm(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI

	// Broadcast '\r' into Y0 and '\n' into Y1.
	MOVL         $0x0d, AX
	MOVL         $0x0a, CX
	MOVQ         AX, X0
	MOVQ         CX, X1
	VPBROADCASTB X0, Y0
	VPBROADCASTB X1, Y1

	// Two unaligned 32-byte halves.
	VMOVDQU (SI), Y2
	VMOVDQU 32(SI), Y3

	// Low half: bytes equal to '\r' or '\n' become 0xff.
	VPCMPEQB Y0, Y2, Y4
	VPCMPEQB Y1, Y2, Y5
	VPOR     Y4, Y5, Y4

	// High half.
	VPCMPEQB Y0, Y3, Y6
	VPCMPEQB Y1, Y3, Y7
	VPOR     Y6, Y7, Y6

	// One bit per byte; the 32-bit moves zero the upper halves.
	VPMOVMSKB Y4, AX
	VPMOVMSKB Y6, CX
	SHLQ      $32, CX
	ORQ       CX, AX

	VZEROUPPER
	MOVQ AX, ret+8(FP)
	RET
