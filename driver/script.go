package driver

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Script is a Lua script run with EVALSHA, falling back to EVAL (which also loads it)
// when the server answers NOSCRIPT: that reply proves the script did not run, so
// sending it again is safe. A Script is safe for concurrent use.
type Script struct {
	src string
	sha string
}

// NewScript returns a Script for the Lua source src (its SHA1 is computed here; the
// server learns the script from the first EVAL).
func NewScript(src string) *Script {
	sum := sha1.Sum([]byte(src))
	return &Script{src: src, sha: hex.EncodeToString(sum[:])}
}

// SHA1 returns the script's hex digest, as EVALSHA and SCRIPT EXISTS take it.
func (s *Script) SHA1() string { return s.sha }

// ScriptConn is a connection a Script runs on: *PairedConn or *DedicatedConn.
type ScriptConn interface {
	paired() *PairedConn
}

func (c *PairedConn) paired() *PairedConn    { return c }
func (d *DedicatedConn) paired() *PairedConn { return d.c }

// maxStackKeys is the number of keys Run handles without allocating.
const maxStackKeys = 13

// Run sends EVALSHA with keys and args, waits for its reply (bounded by ctx) and, if
// the server answers NOSCRIPT, sends EVAL. It returns the Future of the command that
// answered, already done: read it with Wait, Int, AppendBytes ... An error raised by
// the script is that Future's *RedisError. When ctx ends before EVALSHA was answered,
// the returned Future is EVALSHA's (its reply is still read and dropped in order).
// With up to 13 keys and a small encoded command, the EVALSHA path allocates nothing.
// A ctx that has ended already sends nothing: the Future fails with its error.
func (s *Script) Run(ctx context.Context, conn ScriptConn, keys []string, args ...any) Future {
	if err := ended(ctx); err != nil {
		return Future{x: err}
	}
	c := conn.paired()
	if d, ok := conn.(*DedicatedConn); ok && d.over.Load() {
		return Future{x: errDedicatedOver}
	}
	// The command is encoded here (not built as an []any, whose string conversions
	// would allocate) into a stack buffer, then copied into its slot.
	var headArr [3 + maxStackKeys]string
	head := headArr[:0]
	if len(keys) > maxStackKeys {
		head = make([]string, 0, 3+len(keys))
	}
	head = append(head, "EVALSHA", s.sha, strconv.Itoa(len(keys)))
	head = append(head, keys...)
	var bufArr [512]byte
	enc, err := writer.AppendCommandArgs(bufArr[:0], head, args...)
	if err != nil {
		return Future{x: err}
	}
	f := c.sendScript(enc)
	noScript := false
	if err := f.peek(ctx, func(v parser.Value, e error) {
		noScript = e == nil && v.IsError() && bytes.HasPrefix(v.Bytes(), []byte("NOSCRIPT"))
	}); err != nil || !noScript {
		return f
	}
	head[0], head[1] = "EVAL", s.src
	if enc, err = writer.AppendCommandArgs(enc[:0], head, args...); err != nil {
		return Future{x: err}
	}
	return c.sendScript(enc)
}

// sendScript sends an encoded EVALSHA or EVAL; on a dedicated connection in its
// CLIENT REPLY order (and not while replies are off: Run needs the reply).
func (c *PairedConn) sendScript(enc []byte) Future {
	if d := c.ded; d != nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.reply != replyOn {
			return Future{x: errReplyOff}
		}
	}
	return c.sendEncoded(enc, "", "", 1, 0, modePlain)
}
