// Package driver is respring's client: connections to Redis or Valkey with three
// interfaces, after the Rust crate redis_async.
//
//   - PairedConnect: one reply per command. Send returns a Future at once and never
//     waits for the reply; commands go on the wire in the order Send is called, so
//     pipelining is implicit. SendAndForget sends without a Future; Do sends and waits.
//   - Connect: the low-level interface, a full-duplex stream of RESP values. Sending never
//     waits for replies and Recv returns what the server sends; matching replies to
//     requests is the caller's job (MONITOR, CLIENT REPLY OFF). What waits to be written
//     is bounded (Config.SendBuffer): past it Send returns ErrSendBufferFull.
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
// # The shared connection
//
// A PairedConn is meant to be shared by every goroutine of a process, and nothing a
// caller sends can corrupt another caller's commands:
//
//   - SendBatch writes a Batch's commands contiguously and SendTx wraps them in MULTI
//     and EXEC; either goes into one slot of the ring, so no other caller's command
//     lands between them, a batch of any length fits, and it is cancelled only as a
//     whole. Each command gets its own Future (for SendTx, its element of EXEC's
//     reply; a command the server refused to queue fails all of them with
//     ErrTxAborted). A reused Batch and Future slice allocate nothing.
//   - Dedicated lends a connection no other caller uses while fn runs (WATCH ... SendTx,
//     pipelines of your own). The connections come from a pool owned by the PairedConn
//     (Config.DedicatedPoolSize, DedicatedIdleTimeout), dialled lazily on the same
//     event loops with the same handshake. A dedicated connection is not re-established
//     under fn: its commands fail with ErrConnLost instead, since its WATCH would be
//     gone. When fn returns it is reset (UNWATCH, pipelined ahead of the next user's
//     commands) or, with commands still in flight, closed. RESET is not used for this:
//     it would also undo the handshake (AUTH, HELLO 3, SELECT, the name), and the
//     commands that could change anything else are refused on a dedicated connection
//     too.
//   - Blocking commands sent through Send or Do (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
//     BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, XREAD and XREADGROUP with BLOCK or with
//     options this driver does not know, WAIT, WAITAOF) run on a connection of the
//     same pool, transparently, with the same Future. When every pool connection is busy, a blocking command waits for one, in
//     order, bounded by the context of the Future method reading it (a command whose
//     context ended before it was written is never written); Dedicated waits likewise,
//     bounded by its ctx. A blocking command whose pool connection broke before it was
//     written (the server never saw it) goes back to the pool at once, behind the
//     blocking commands waiting then, and waits for a connection likewise (bounded by
//     the context of the Future method reading it, and by that of the send: one
//     whose send's context ended is not sent again); after it went back three times,
//     a fourth such loss fails it with ErrConnLost, although it never ran. One written when its connection broke
//     fails with ErrConnLost, as any command. When a caller's context ends after its
//     blocking command was written, that connection is closed rather than reused, so
//     a late reply (an element a BLPOP popped) never reaches anybody else, and an
//     element pushed later stays in its list. In a batch on the shared connection a blocking command is
//     refused; inside SendTx it does not block (the server runs it as its non-blocking
//     form).
//   - Commands that would change the shared connection's state are refused before
//     anything is written, with an error matching ErrNotOnSharedConn that names what to
//     use instead: SELECT (Config.DB), AUTH and HELLO with arguments (Config), RESET and
//     CLIENT TRACKING (Connect), CLIENT REPLY (Dedicated), QUIT (Close), CLIENT SETNAME
//     (Config.ClientName), MULTI, EXEC and DISCARD (SendTx), WATCH and UNWATCH
//     (Dedicated), SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN- forms
//     (PubsubConnect), MONITOR (Connect). Names are matched case insensitively. On a
//     DedicatedConn the same list is refused but for WATCH, UNWATCH and CLIENT REPLY:
//     the DedicatedConn follows CLIENT REPLY OFF/SKIP/ON in ring order, so a command
//     the server will not answer takes no reply (its Future is done with a null value
//     once written) and the others keep their own (reply.go). An OFF is proved by the
//     next ON's OK, and a SKIP by the OK of the first ON after it: the ON or OFF it
//     applies to (the next ON then), or else a CLIENT REPLY ON the DedicatedConn
//     sends of its own after the command skipped (if the ring has room for it). Where
//     the server refused one after all, the connection is dropped at that reply,
//     before a reply can reach the wrong command. A command with no
//     arguments at all is refused too: the server would not answer it.
//
// The table of these commands is in commands.go, with its sources; a test checks it
// against the server's COMMAND output. Script runs Lua with EVALSHA and falls back to
// EVAL on NOSCRIPT (which proves the script did not run).
//
// # TLS
//
// Config.TLS (or a rediss:// URL) connects with TLS 1.2 or 1.3, on the same event
// loops and with no goroutine per connection: the TLS and RESP handshakes run on the
// dialling goroutine, then the loop drives the same *tls.Conn through an in-memory
// transport (tls.go). A certificate the client does not accept, or a server that
// refuses the client's, fails PairedConnect (and each reconnect) with a
// *HandshakeError wrapping the crypto/tls or x509 error. Every TCP socket has keepalive
// on, paced by Config.HealthCheck (probes after that long of silence, at least 1 s and
// at most 15 s; 15 s with the health check off).
//
// # Contexts
//
// A context only bounds the caller's wait. A command already written is never un-sent:
// its reply is read and dropped, so the next caller gets its own reply. A command not yet
// written when its Future's context ends is cancelled and never written, and a context
// that has ended already sends nothing (Do, Script.Run, Subscribe, Dedicated ...: the
// call returns its error). Contexts given to PairedConnect, Connect and PubsubConnect
// bound the first connection only.
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
// ErrSendBufferFull, ErrTxAborted (a *TxError with the server's reasons),
// ErrWatchConflict, ErrNotOnSharedConn (a *NotOnSharedConnError), *TypeError,
// *ConfigError (a bad Config or URL, before anything is dialled), *HandshakeError, and
// writer.ArgError for an argument that cannot be encoded. A password never appears in
// an error or in a printed Config.
//
// # Memory
//
// Values returned by Future.Wait and Conn.Recv are owned by the caller. Future.AppendBytes
// copies a reply into the caller's buffer: with a reused buffer, Send("GET", k) plus
// AppendBytes and Send("SET", k, v) plus Err allocate nothing in steady state. A Future
// can be read after later commands reused its slot: a reply nobody had read is parked
// aside (that costs one copy), within a bound; past it the Future returns ErrExpired.
// Use SendAndForget rather than dropping Futures of commands you do not read. Large
// command buffers (over 64 KiB) are pooled by size class and written from where they
// were encoded, not copied into the batch; a string argument of 64 KiB or more, or a
// []byte of 256 KiB or more, is not even copied into the command buffer: it is
// written from where it is (for a []byte, Send waits until the socket took it, see
// Send). What the socket does
// not take at once stays where it is, and is written on when the socket can take more
// (one goroutine for the process watches such sockets), instead of being copied into
// an output buffer. A large reply (a string over 256 KiB) is read once (over TLS,
// decrypted once) into a pooled buffer sized from its header, and kept there, not
// copied, until it was read; AppendBytes copies it once, into the caller's buffer.
// Its slot gives the buffer back once four more such replies were read on the
// connection (a Future read again after that returns ErrExpired), so a connection
// does not hold RingSize large replies, and 1 MiB GETs into a reused buffer allocate
// next to nothing.
//
// # Hooks for cluster and sentinel clients
//
// driver/cluster and driver/sentinel are built on the exported API alone, with a few
// hooks meant for such layers:
//   - Config.Resolve gives the address at every connect and reconnect; Config.Init
//     runs commands on every new connection (READONLY); Config.Verify checks it (ROLE)
//     before it is used; Config.OnDisconnect is told of every loss.
//   - PairedConn.Reconnect and PubsubConn.Reconnect move a connection (through
//     Resolve); Connected and Done report its state.
//   - A Rerouter (SendRouted, SendBatchRouted, SendTxRouted) sees the error replies it
//     asks for (MOVED, ASK, TRYAGAIN ...) and sends the command again, from the
//     encoded form its ring slot kept (Resend, ResendTx), inside the Future's methods.
//     It is also given the commands that Close failed before they were written
//     (Redirect.Err). Nothing else is re-sent: a written command only when the
//     Rerouter decides so from the server's reply.
//   - PubsubConn.SSubscribe (sharded channels) follows a slot moved away from its
//     node by reconnecting through Resolve.
package driver
