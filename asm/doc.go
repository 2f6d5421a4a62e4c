// Package asm holds the small SIMD kernels used by the RESP parser.
//
// The parser scans header lines (+OK\r\n, :123\r\n, $5\r\n, *3\r\n) in
// buffers that hold many short replies, and skips bulk payloads by their
// length. [Scanner] serves that access pattern: it builds a bitmask of the
// '\r' and '\n' bytes of a 64-byte block starting at the queried offset
// ([Mask64]), caches it, and answers the following "next line terminator at
// or after from" queries with a trailing-zero count until the query leaves
// the block. Both bytes are in the mask because the parser itself rejects a
// bare CR or bare LF as a protocol error. [ParseUint] converts the decimal
// lengths found in those headers.
//
// # Levels
//
// Each kernel exists at several [Level]s:
//
//   - [Generic]: pure Go (SWAR, eight bytes per 64-bit word). Always
//     compiled; it is the reference the other levels are tested against.
//   - [AVX2]: amd64 assembly, two 32-byte compares per 64-byte block.
//
// The level is chosen once, at package initialisation, with
// cpuid.CPU.Supports(cpuid.AVX2) from github.com/klauspost/cpuid/v2, which
// also checks that the operating system saves the YMM registers. The hot
// path only tests a package variable set at that time; it never queries the
// CPU. [Levels] lists the levels usable on this machine and [Current] tells
// which one was chosen. [Mask64Level] runs a given level, for tests,
// fuzzing and benchmarks.
//
// # Build tags
//
// The build tag purego turns every assembly file off; only [Generic] is then
// available, on every architecture. CI runs the tests both ways.
//
// # Memory safety
//
// No kernel reads outside the slice it is given: the assembly loads exactly
// 64 bytes, and only from a slice at least 64 bytes long. The tests check
// this with guard bytes and with data that ends at a page followed by an
// inaccessible page.
package asm
