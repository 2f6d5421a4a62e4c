package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/parser"
)

// skipRefusedLater runs fn on a DedicatedConn whose user loses client|reply after
// the connection was made (as an ACL changed meanwhile would, or -BUSY while another
// client's script runs): the server then refuses CLIENT REPLY SKIP with an error and
// answers the command after it, where the driver was told to expect no reply.
func skipRefusedLater(t *testing.T, fn func(d *DedicatedConn, ctx context.Context) error) {
	t.Helper()
	s := startServer(t)
	s.MustDo("ACL", "SETUSER", "skipper", "on", ">pw", "~*", "+@all")
	s.MustDo("SET", "sk:other", "other")
	c := pairedTo(t, s, Config{Username: "skipper", Password: "pw", HealthCheck: -1, DedicatedPoolSize: 1})
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	if err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		s.MustDo("ACL", "SETUSER", "skipper", "-client|reply")
		return fn(d, ctx)
	}); err != nil {
		t.Fatal(err)
	}
}

// A CLIENT REPLY SKIP the server refuses after the connection was made: its error
// reply comes where the first reply after it is due, the driver's own CLIENT REPLY ON
// sent right after the skipped command (or the ON sent in its place, which the server
// answers OK after a SKIP), and the connection is dropped there: the commands after
// it fail with ErrConnLost. Before, the SKIP's error went to the command after the
// skipped one (to the ON), and every later reply to the command after its own.
func TestClientReplySkipRefusedLater(t *testing.T) {
	type cmd struct {
		args  []any
		quiet bool // sent where no reply is expected: null, or lost at the refusal
	}
	for _, tc := range []struct {
		what string
		cmds []cmd
	}{
		{"then SET", []cmd{{[]any{"CLIENT", "REPLY", "SKIP"}, true}, {[]any{"SET", "sk:k", "v"}, true},
			{[]any{"GET", "sk:k"}, false}, {[]any{"GET", "sk:other"}, false}}},
		{"then ON", []cmd{{[]any{"CLIENT", "REPLY", "SKIP"}, true}, {[]any{"CLIENT", "REPLY", "ON"}, false},
			{[]any{"GET", "sk:other"}, false}}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			skipRefusedLater(t, func(d *DedicatedConn, ctx context.Context) error {
				fs := make([]Future, len(tc.cmds))
				for i, c := range tc.cmds {
					fs[i] = d.Send(c.args...)
				}
				for i, c := range tc.cmds {
					v, err := fs[i].Wait(ctx)
					switch {
					case errors.Is(err, ErrConnLost):
					case c.quiet && err == nil && v.IsNull():
					default:
						return fmt.Errorf("%v after the refused SKIP: %v, %v; want ErrConnLost (not another command's reply)", c.args, v, err)
					}
				}
				return nil
			})
		})
	}
}

// SKIP taken by the server, in every sequence the driver checks, pipelined: SKIP and
// a plain command, SKIP and ON, SKIP and OFF (then ON), SKIP twice. Every command
// answered gets its own reply, and the check of the SKIP (confirmSkip's ON, or the
// first reply after it) never drops the connection: its CLIENT ID stays.
func TestClientReplySkipSequences(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		id, err := d.Send("CLIENT", "ID").Int(ctx)
		if err != nil {
			return err
		}
		var quiet []Future
		q := func(args ...any) { quiet = append(quiet, d.Send(args...)) }
		q("CLIENT", "REPLY", "SKIP")
		q("SET", "ss:k", "1")
		get1 := d.Send("GET", "ss:k")
		q("CLIENT", "REPLY", "SKIP")
		on := d.Send("CLIENT", "REPLY", "ON")
		incr := d.Send("INCR", "ss:n")
		q("CLIENT", "REPLY", "SKIP")
		q("CLIENT", "REPLY", "OFF")
		q("INCR", "ss:n")
		on2 := d.Send("CLIENT", "REPLY", "ON")
		q("CLIENT", "REPLY", "SKIP")
		q("CLIENT", "REPLY", "SKIP")
		q("INCR", "ss:n")
		get2 := d.Send("GET", "ss:n")
		if v, err := get1.String(ctx); err != nil || v != "1" {
			return fmt.Errorf("GET after the skipped SET: %q, %v", v, err)
		}
		for i, f := range []Future{on, on2} {
			if v, err := f.String(ctx); err != nil || v != "OK" {
				return fmt.Errorf("CLIENT REPLY ON %d: %q, %v", i+1, v, err)
			}
		}
		if n, err := incr.Int(ctx); err != nil || n != 1 {
			return fmt.Errorf("INCR after SKIP, ON: %d, %v", n, err)
		}
		if v, err := get2.String(ctx); err != nil || v != "3" {
			return fmt.Errorf("GET after the skipped INCRs: %q, %v", v, err)
		}
		for i, f := range quiet {
			if v, err := f.Wait(ctx); err != nil || !v.IsNull() {
				return fmt.Errorf("unanswered command %d: %v, %v (want a null value)", i, v, err)
			}
		}
		if now, err := d.Send("CLIENT", "ID").Int(ctx); err != nil || now != id {
			return fmt.Errorf("CLIENT ID %d, %v; want %d (the connection was dropped)", now, err, id)
		}
		return nil
	})
}

// A blocking command a SKIP applies to is checked as any other: the driver's CLIENT
// REPLY ON waits behind it on the server, and its OK comes once the command is over.
func TestClientReplySkipBlocking(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1}, func(c *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		id, err := d.Send("CLIENT", "ID").Int(ctx)
		if err != nil {
			return err
		}
		d.SendAndForget("CLIENT", "REPLY", "SKIP")
		if v, err := d.Do(ctx, "BLMOVE", "sb:src", "sb:dst", "LEFT", "LEFT", "0"); err != nil || !v.IsNull() {
			return fmt.Errorf("the BLMOVE the server skips: %v, %v; want no reply (null)", v, err)
		}
		ping := d.Send("PING") // behind the BLMOVE, and the driver's ON
		if err := c.Send("RPUSH", "sb:src", "x").Err(ctx); err != nil {
			return err
		}
		if v, err := ping.String(ctx); err != nil || v != "PONG" {
			return fmt.Errorf("PING after the skipped BLMOVE: %q, %v", v, err)
		}
		if v, err := d.Send("LPOP", "sb:dst").String(ctx); err != nil || v != "x" {
			return fmt.Errorf("LPOP of what the BLMOVE moved: %q, %v", v, err)
		}
		if now, err := d.Send("CLIENT", "ID").Int(ctx); err != nil || now != id {
			return fmt.Errorf("CLIENT ID %d, %v; want %d (the connection was dropped)", now, err, id)
		}
		return nil
	})
}

// A connection given back while the CLIENT REPLY ON that checks a SKIP is still in
// flight (the skipped command's Future is done once it is written, so fn cannot wait
// for more) is reused, not closed, as one with the health check's PING in flight.
// Unless a blocking command the SKIP applied to may still run ahead of that ON: the
// next user would wait behind it, so the connection is closed.
func TestClientReplySkipThenReturnReused(t *testing.T) {
	c, px, ctx := proxied(t, Config{HealthCheck: -1, DedicatedPoolSize: 1})
	id := func(d *DedicatedConn) int64 {
		n, err := d.Send("CLIENT", "ID").Int(ctx)
		if err != nil {
			t.Fatalf("CLIENT ID: %v", err)
		}
		return n
	}
	var ids []int64
	for _, skipped := range [][]any{{"SET", "sr:k", "v"}, {"SET", "sr:k", "w"}, {"BLPOP", "sr:none", "1"}, {"GET", "sr:k"}} {
		if err := c.Dedicated(ctx, func(d *DedicatedConn) error {
			px.Delay(30 * time.Millisecond) // the ON is still in flight when fn returns
			ids = append(ids, id(d))
			if err := d.Send("CLIENT", "REPLY", "SKIP").Err(ctx); err != nil {
				return err
			}
			_, err := d.Do(ctx, skipped...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("CLIENT IDs %v: the connection was not reused after a skipped SET", ids)
	}
	if ids[3] == ids[2] {
		t.Fatalf("CLIENT IDs %v: the connection was reused while a skipped BLPOP could still run", ids)
	}
}

// A SKIP's check never makes a Send wait for the ring: in a ring the caller filled
// (the last slot for the skipped command, a BLPOP ahead holding the others), no ON is
// sent and the SKIP goes unchecked; Do returns as it did before the check, and every
// reply still reaches its own command.
func TestClientReplySkipFullRing(t *testing.T) {
	onDedicated(t, Config{HealthCheck: -1, DedicatedPoolSize: 1, RingSize: 4}, func(c *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		if err := skipInFullRing(ctx, c, d, "SET", "sf:k", "v"); err != nil {
			return err
		}
		if v, err := d.Send("GET", "sf:k").String(ctx); err != nil || v != "v" {
			return fmt.Errorf("GET after the skip: %q, %v", v, err)
		}
		return nil
	})
}

// skipInFullRing fills d's ring of 4 (a BLPOP that blocks, a PING, SKIP) and sends
// the command skipped in its last slot, where no CLIENT REPLY ON of the driver's own
// fits: skipped must be done with no reply, and, once the BLPOP is answered (c pushes
// what it waits for), the BLPOP and the PING get their own replies.
func skipInFullRing(ctx context.Context, c *PairedConn, d *DedicatedConn, skipped ...any) error {
	blpop := d.Send("BLPOP", "sf:l", "0")
	ping := d.Send("PING")
	d.SendAndForget("CLIENT", "REPLY", "SKIP")
	if v, err := d.Do(ctx, skipped...); err != nil || !v.IsNull() {
		return fmt.Errorf("the skipped %v in the last slot: %v, %v; want no reply (null)", skipped, v, err)
	}
	if err := c.Send("RPUSH", "sf:l", "x").Err(ctx); err != nil {
		return err
	}
	if v, err := blpop.Wait(ctx); err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "x" {
		return fmt.Errorf("BLPOP: %v, %v", v, err)
	}
	if v, err := ping.String(ctx); err != nil || v != "PONG" {
		return fmt.Errorf("PING: %q, %v", v, err)
	}
	return nil
}

// A server (or proxy) that answers CLIENT REPLY SKIP and OFF with OK and goes on
// replying: the handshake's probe of a new dedicated connection finds it out (the
// SKIP's OK comes where only the probe's last ECHO should answer; the handshake reads
// all three replies), and the connection refuses OFF and SKIP with ErrProtocol; every
// command gets its own reply. Before, the OFF's own OK passed for
// the next ON's, and each reply after it went to the command after its own.
func TestClientReplySkipIgnored(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if len(cmd) == 0 {
			return false
		}
		cmd[0] = strings.ToUpper(cmd[0])
		mu.Lock()
		seen = append(seen, fmt.Sprint(c.N, cmd))
		mu.Unlock()
		switch {
		case fakeredis.Hello(c, cmd):
		case cmd[0] == "ECHO":
			c.Reply(parser.NewBulkString(cmd[len(cmd)-1]))
		default:
			c.Write([]byte("+OK\r\n")) // CLIENT REPLY ON, OFF and SKIP too
		}
		return true
	})
	cfg := fakeCfg(srv)
	cfg.HealthCheck, cfg.DedicatedPoolSize = -1, 1
	ctx := testCtx(t, 10*time.Second)
	c, err := PairedConnect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for round := range 2 { // the second gets the pool's connection back
		err = c.Dedicated(ctx, func(d *DedicatedConn) error {
			for _, mode := range []string{"OFF", "SKIP"} {
				if _, err := d.Do(ctx, "CLIENT", "REPLY", mode); !errors.Is(err, ErrProtocol) {
					return fmt.Errorf("CLIENT REPLY %s on a server that does not skip: %v, want ErrProtocol", mode, err)
				}
			}
			for _, w := range []string{"a", "b", "c"} {
				if v, err := d.Do(ctx, "ECHO", w); err != nil || v.Text() != w {
					return fmt.Errorf("ECHO %s: %v, %v", w, v, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	// The shared connection and the dedicated one, used twice: no other dial.
	if n := srv.Accepts(); n != 2 {
		mu.Lock()
		t.Fatalf("%d connections accepted, want 2; commands: %q", n, seen)
	}
}
