// Package writer encodes RESP: commands for a client to send, and any RESP2/RESP3
// value for a fake server or a test to reply with.
//
// Every function appends to a caller-owned buffer and returns the extended slice, in
// the style of strconv.AppendInt. With a buffer that is reused and already large
// enough, AppendCommand, AppendArgs (with string, []byte, integer, float and bool
// arguments) and AppendValue allocate nothing; when the buffer is too small, append
// grows it as usual.
//
// # Commands
//
// A Redis command is an array of bulk strings. AppendCommand takes strings only;
// AppendArgs takes a fixed set of Go types and writes each as a bulk string, never as
// a RESP integer (Redis does not accept other types in requests):
//
//	string, []byte            the bytes as they are
//	int, int8 ... int64       decimal, such as "-42"
//	uint, uint8 ... uint64    decimal, such as "18446744073709551615"
//	float32, float64          "inf", "-inf", or the shortest decimal that parses back to
//	                          the same number: plain notation ("0.5", "1000000") for
//	                          magnitudes in [1e-4, 1e21) and zero, otherwise exponent
//	                          notation ("1e+21", "1e-05"); NaN is an error
//	bool                      "1" or "0"
//	parser.Value              simple/bulk/verbatim string text and big-number digits
//	                          as their payload, Integer as decimal, Double as a float64,
//	                          Boolean as "1"/"0"; errors, nulls and aggregates are errors
//
// Anything else, including named types such as `type ID string`, pointers and nil, is
// refused with an *ArgError, and the buffer is returned as it was given.
//
// Passing arguments as ...any boxes them in interfaces. AppendArgs does not let its
// args slice or the interfaces in it escape, so at a direct call site such as
// AppendArgs(buf, "SET", key, val, "EX", ttl) the compiler keeps the slice and the boxes
// on the stack and nothing is allocated, whatever the values. Allocation comes back
// when the caller's []any escapes (it is stored, sent on a channel, or passed through a
// wrapper whose ...any parameter escapes): the Go runtime then allocates the []any
// itself and one box per argument that is a variable (string, []byte, float, or an
// integer outside 0..255), before AppendArgs is even called; constants cost nothing.
// The tests measure both cases.
//
// # Values
//
// AppendValue writes any parser.Value, attributes (|) included, so that parser and
// writer together make both ends of a connection. Nulls keep the wire form they were
// read or built in ($-1, *-1 or _). Simple strings and simple errors are written as
// given: they must not contain CR or LF, and checking that is the caller's job.
package writer
