package driver

import (
	"errors"
	"strconv"
	"strings"

	"github.com/respring/respring/parser"
)

// The wire form of MULTI and EXEC, around a transaction's commands.
const (
	multiCmd = "*1\r\n$5\r\nMULTI\r\n"
	execCmd  = "*1\r\n$4\r\nEXEC\r\n"
)

var (
	// ErrTxAborted is matched by the error of every Future of a transaction the server
	// discarded without running any of it: a command it refused to queue (EXECABORT:
	// wrong arity, unknown command, ...) or an EXEC error. The error is a *TxError
	// carrying the server's reasons.
	ErrTxAborted = errors.New("respring: transaction aborted")
	// ErrWatchConflict is the error of every Future of a transaction whose watched keys
	// changed after WATCH (EXEC answered null): nothing of it ran. Run it again.
	ErrWatchConflict = errors.New("respring: transaction not run: a watched key changed")
)

// TxError is the error of a transaction's Futures when the transaction did not run as
// one. It matches ErrTxAborted, except when MULTI itself was refused (Multi set): then
// the commands ran one by one, outside any transaction, and their own replies are lost
// to the caller (the error says so).
type TxError struct {
	// Exec is EXEC's error reply (EXECABORT ...), or nil.
	Exec *RedisError
	// Queued holds, by command, the server's refusal to queue it (nil where it was
	// QUEUED).
	Queued []*RedisError
	// Multi is MULTI's error reply, when MULTI was refused.
	Multi *RedisError
}

func (e *TxError) Error() string {
	var sb strings.Builder
	if e.Multi != nil {
		sb.WriteString("respring: MULTI refused (")
		sb.WriteString(e.Multi.Error())
		sb.WriteString("): the commands ran outside a transaction")
		return sb.String()
	}
	sb.WriteString("respring: transaction aborted")
	if e.Exec != nil {
		sb.WriteString(": ")
		sb.WriteString(e.Exec.Error())
	}
	for i, q := range e.Queued {
		if q != nil {
			sb.WriteString("; command ")
			sb.WriteString(strconv.Itoa(i + 1))
			sb.WriteString(": ")
			sb.WriteString(q.Error())
		}
	}
	return sb.String()
}

// Is makes the error match ErrTxAborted when the transaction was discarded.
func (e *TxError) Is(target error) bool { return target == ErrTxAborted && e.Multi == nil }

// Unwrap returns the server's error replies.
func (e *TxError) Unwrap() []error {
	var errs []error
	for _, r := range []*RedisError{e.Multi, e.Exec} {
		if r != nil {
			errs = append(errs, r)
		}
	}
	for _, q := range e.Queued {
		if q != nil {
			errs = append(errs, q)
		}
	}
	return errs
}

// SendTx writes MULTI, b's commands and EXEC contiguously, in one slot of the ring
// (cancelled, if a Future's context ends before it was written, as a whole). It
// appends one Future per command to dst: each resolves to its command's own element of
// EXEC's reply (an error element is that Future's *RedisError; the others succeed).
// The replies to MULTI and the QUEUED replies never reach a caller. A command the
// server refused to queue fails every Future with a *TxError matching ErrTxAborted;
// after WATCH (on a DedicatedConn), a transaction whose watched keys changed fails
// every Future with ErrWatchConflict. Session commands inside the batch fail it before
// anything is written (ErrNotOnSharedConn); an empty batch sends nothing. With a dst
// of enough capacity and a reused Batch it allocates nothing.
func (c *PairedConn) SendTx(dst []Future, b *Batch) []Future {
	if b.n == 0 {
		return dst
	}
	if err := b.check(c, true); err != nil {
		return appendFailed(dst, b.n, err)
	}
	f := c.sendEncoded(b.buf, multiCmd, execCmd, b.n+2, b.n, modeTx)
	return appendParts(dst, f, b.n)
}

// txElem returns the element part of a transaction's result: the gathered replies to
// MULTI, each queued command and EXEC.
func txElem(v parser.Value, part int32) (parser.Value, error) {
	all := v.Elems()
	if len(all) < 3 {
		return parser.Value{}, &protocolError{reason: "transaction result too short"}
	}
	multi, queued, exec := all[0], all[1:len(all)-1], all[len(all)-1]
	switch {
	case multi.IsError():
		return parser.Value{}, &TxError{Multi: newRedisError(multi)}
	case exec.IsNull():
		return parser.Value{}, ErrWatchConflict
	case exec.IsError():
		te := &TxError{Exec: newRedisError(exec), Queued: make([]*RedisError, len(queued))}
		for i, q := range queued {
			if q.IsError() {
				te.Queued[i] = newRedisError(q)
			}
		}
		return parser.Value{}, te
	}
	res := exec.Elems()
	if exec.Kind() != parser.Array || len(res) != len(queued) || int(part) >= len(res) {
		return parser.Value{}, &protocolError{reason: "EXEC reply does not match the transaction"}
	}
	return res[part], nil
}
