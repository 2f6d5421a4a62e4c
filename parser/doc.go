// Package parser implements the RESP2 and RESP3 wire protocol of Redis and Valkey:
// the Value type and a streaming parser.
//
// Parser.Parse follows the contract of bufio.SplitFunc: given the unconsumed bytes of a
// stream it returns one complete value and how many bytes it took, or ErrIncomplete and
// nothing consumed, or a *ProtocolError after which the stream is unusable.
//
// Every RESP3 type is read: simple and bulk strings and errors, integers, doubles
// (inf, nan), big numbers, booleans, nulls (RESP3 _ and RESP2 $-1 and *-1), verbatim
// strings, arrays, maps, sets, pushes, attributes (attached to the value that follows
// them, never a value of their own), streamed strings ($? with ;n chunks) and streamed
// aggregates (*? ~? %? ending with .). A push is only accepted at top level.
//
// # Memory
//
// Values alias the buffer given to Parse and the Parser's arena, and stay valid until
// the next call to Parse or Reset: copy what you keep with Value.Clone, or into a
// reusable Store. A reused Parser reads a stream of replies without allocating once
// its arena is warm. Streamed strings are gathered in a buffer taken from
// github.com/valyala/bytebufferpool and returned when the next value starts (buffers
// larger than 1 MiB are dropped instead).
//
// # Hostile input
//
// Parse never panics. It never allocates from a length the server declared: memory
// follows the bytes actually received, so "*100000000\r\n" costs nothing until the
// elements arrive. Limits (bulk length, elements per aggregate, depth, line length)
// turn oversized input into a *ProtocolError, and nesting is followed with an explicit
// stack, so ten million nested arrays are an error, not a Go stack overflow.
//
// Integers are read as Redis writes them: ":+5" and ":007" (a sign or leading zeros)
// are protocol errors, as are values outside int64. Doubles accept inf, -inf and nan in
// any case, and the "-nan" and "nan(...)" forms of old servers; hexadecimal floats and
// "Infinity" are refused.
//
// # Large replies
//
// After ErrIncomplete the Parser keeps what it has read. Called again with the same
// bytes followed by more, it resumes instead of starting over, and NeedBytes says how
// many bytes the value needs at least, so a 64 MiB bulk string arriving in 16 KiB reads
// is parsed once, not 4,096 times.
package parser
