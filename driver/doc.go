// Package driver is respring's client: connections to Redis or Valkey with three
// interfaces, after the Rust crate redis_async.
//
//   - PairedConnect: one reply per command. Send returns a Future at once and never
//     waits for the reply; commands go on the wire in the order Send is called, so
//     pipelining is implicit. SendAndForget sends without a Future; Do sends and waits.
//   - Connect: the low-level interface, a full-duplex stream of RESP values. Sending never
//     waits for replies and Recv returns what the server sends; matching replies to
//     requests is the caller's job (MONITOR, CLIENT REPLY OFF).
//   - PubsubConnect: Subscribe and PSubscribe return a stream of messages once the server
//     confirmed the subscription; several subscriptions may share a channel.
//
// # Architecture
//
// Every connection of the process is served by one shared set of gnet event loops (one
// per core, started with the first connection and stopped with the last), with no
// goroutine per connection. A PairedConn owns a ring of slots (package ring): Send
// reserves a slot with atomics, encodes the command into it and, if it is the first of a
// batch, wakes the event loop, which writes every ready command in one write(2) and
// completes the slots in order as replies are parsed. The event loop never blocks and
// never runs user code.
//
// # Contexts
//
// A context only bounds the caller's wait. A command already written is never un-sent:
// its reply is read and dropped, so the next caller gets its own reply. A command not yet
// written when its Future's context ends is cancelled and never written. Contexts given
// to PairedConnect, Connect and PubsubConnect bound the first connection only.
//
// # Failures
//
// A broken connection fails every written, unanswered command with an error matching
// ErrConnLost (wrapping the cause); such a command may or may not have run and is never
// sent again. Commands not yet written wait for the reconnect, which runs in the
// background with capped exponential backoff and jitter and re-applies the handshake:
// HELLO 3 (falling back to RESP2 when the server does not know it), AUTH, CLIENT SETNAME
// and SELECT. A PubsubConn subscribes again to exactly the channels and patterns that
// still have subscribers. A reply the driver cannot accept (a malformed stream, a reply
// with no command outstanding) drops that connection, never the process: errors match
// ErrProtocol. Close finishes or fails what is in flight, returns, and leaves no
// goroutine behind; use after Close gives ErrClosed.
//
// # Errors
//
// Match errors with errors.Is and errors.As only: *RedisError (a server error reply, with
// Code), ErrNil, ErrClosed, ErrConnLost, ErrProtocol, ErrExpired, ErrSlowConsumer,
// *TypeError, *ConfigError (a bad Config or URL, before anything is dialled),
// *HandshakeError, and writer.ArgError for an argument that cannot be encoded. A
// password never appears in an error or in a printed Config.
//
// # Memory
//
// Values returned by Future.Wait and Conn.Recv are owned by the caller. Future.AppendBytes
// copies a reply into the caller's buffer: with a reused buffer, Send("GET", k) plus
// AppendBytes and Send("SET", k, v) plus Err allocate nothing in steady state. A Future
// can be read after later commands reused its slot: a reply nobody had read is parked
// aside (that costs one copy), within a bound; past it the Future returns ErrExpired.
// Use SendAndForget rather than dropping Futures of commands you do not read.
package driver
