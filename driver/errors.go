package driver

import (
	"errors"
	"strings"

	"github.com/respring/respring/parser"
)

// RedisError is an error reply of the server (a simple or bulk error), such as
// "WRONGTYPE Operation against a key holding the wrong kind of value".
type RedisError struct {
	msg string
}

// Error returns the server's message. An error reply with no text (which Redis never
// sends) reads as noText, so that it is not logged as an empty line.
func (e *RedisError) Error() string {
	if e.msg == "" {
		return noText
	}
	return e.msg
}

// noText is the Error of a RedisError whose reply had no text.
const noText = "respring: error reply with no text"

// Code returns the first word of the message: ERR, WRONGTYPE, MOVED, NOAUTH, ...
// It is empty for a reply with no text.
func (e *RedisError) Code() string {
	if i := strings.IndexByte(e.msg, ' '); i >= 0 {
		return e.msg[:i]
	}
	return e.msg
}

// newRedisError copies the text of an error reply.
func newRedisError(v parser.Value) *RedisError { return &RedisError{msg: string(v.Bytes())} }

var (
	// ErrNil is returned when a null reply comes where a value was asked for (Future.Int,
	// Future.String, Future.AppendBytes).
	ErrNil = errors.New("respring: nil reply")
	// ErrClosed is returned after Close, and for commands still in flight when Close gave
	// up waiting for them.
	ErrClosed = errors.New("respring: connection closed")
	// ErrConnLost is matched (errors.Is) by the error of every command that was written
	// but not answered when the connection broke. The error also wraps the cause. Such a
	// command may or may not have run; it is never sent again.
	ErrConnLost = errors.New("respring: connection lost")
	// ErrExpired is returned by a Future whose slot was reused by a later command: its
	// reply was dropped. Wait on a Future before Config.RingSize more commands are sent.
	ErrExpired = errors.New("respring: future expired: reply slot reused by a later command")
	// ErrSlowConsumer ends a Subscription (or a low-level Conn) whose reader fell behind
	// its buffer: nothing is dropped silently, the stream stops with this error instead.
	ErrSlowConsumer = errors.New("respring: consumer too slow: buffer full")
	// ErrSendBufferFull is returned by Conn.Send and Conn.SendValue, which queued
	// nothing, when Config.SendBuffer bytes of commands wait to be written already
	// (the server, or the network, takes them more slowly than they are sent, or the
	// connection is being re-established). The Conn is still usable: Conn.Flush waits
	// until the queue is taken for writing; then send again.
	ErrSendBufferFull = errors.New("respring: send buffer full: the server takes commands more slowly than they are sent")
	// ErrProtocol is matched by errors caused by a reply the driver could not accept (a
	// malformed stream, or a reply when no command was outstanding). It also wraps the
	// parser's *ProtocolError where there is one.
	ErrProtocol = errors.New("respring: protocol violation")
)

// connLostError is the error of a command cut off by a broken connection.
type connLostError struct{ cause error }

func (e *connLostError) Error() string {
	if e.cause == nil {
		return ErrConnLost.Error()
	}
	return ErrConnLost.Error() + ": " + e.cause.Error()
}
func (e *connLostError) Is(target error) bool { return target == ErrConnLost }
func (e *connLostError) Unwrap() error        { return e.cause }

// protocolError wraps a stream the driver had to drop.
type protocolError struct {
	reason string
	cause  error
}

func (e *protocolError) Error() string {
	s := ErrProtocol.Error() + ": " + e.reason
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}
func (e *protocolError) Is(target error) bool { return target == ErrProtocol }
func (e *protocolError) Unwrap() error        { return e.cause }

// TypeError is returned by a Future conversion (Int, String, AppendBytes) when the
// reply is of a kind it cannot convert.
type TypeError struct {
	Want string      // what the caller asked for: "integer", "string"
	Got  parser.Kind // the reply's kind
}

func (e *TypeError) Error() string {
	return "respring: cannot convert a " + e.Got.String() + " reply to " + e.Want
}

// ConfigError reports an invalid Config or URL, before anything is dialled.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "respring: config " + e.Field + ": " + e.Reason }

// HandshakeError reports a failed connection setup (HELLO, AUTH, SELECT, CLIENT
// SETNAME). It wraps the server's *RedisError or the transport error. The server's
// text has the password replaced with <redacted>: a server that does not know the
// command quotes its arguments ("ERR unknown command 'AUTH', with args beginning
// with: 'hunter2'").
type HandshakeError struct {
	Step string // "HELLO", "AUTH", "SELECT", ...
	Err  error
}

func (e *HandshakeError) Error() string {
	return "respring: handshake " + e.Step + ": " + e.Err.Error()
}
func (e *HandshakeError) Unwrap() error { return e.Err }

// redactedRedisError is newRedisError for a reply to a handshake command that may
// have carried the password (AUTH, HELLO ... AUTH, an Init command): a server quotes
// the arguments of a command it does not know, and each quoted argument that is the
// password is replaced with <redacted>. Only quoted arguments are looked at, so that a
// short password does not garble the rest of the text (the code, "unknown command",
// which the RESP2 fallback reads). Redis quotes an argument as 'x' (6.2 on) or `x`
// (before), at most 128 bytes of arguments in all, cutting the last one short, and
// turns CR and LF into spaces; so a quoted argument that is the password in that form,
// or a start of it (4 bytes or more) that ends the quoted text, is redacted too.
func redactedRedisError(v parser.Value, password string) *RedisError {
	e := newRedisError(v)
	if password == "" {
		return e
	}
	const mark = "<redacted>"
	oneLine := strings.NewReplacer("\r", " ", "\n", " ").Replace(password)
	for _, pw := range []string{password, oneLine} {
		for _, q := range []string{"'", "`"} {
			e.msg = strings.ReplaceAll(e.msg, q+pw+q, q+mark+q)
			// The argument cut short: "... with args beginning with: 'user' 'hunt' ".
			body := strings.TrimRight(e.msg, " ,")
			for n := len(pw) - 1; n >= 4; n-- {
				if t := q + pw[:n] + q; strings.HasSuffix(body, t) {
					e.msg = body[:len(body)-len(t)] + q + mark + q + e.msg[len(body):]
					break
				}
			}
		}
	}
	return e
}
