package driver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/parser"
)

// A's SUBSCRIBE x is on the way when A's ctx ends (UNSUBSCRIBE x follows it), and B
// subscribes to x (a third command, SUBSCRIBE x, for a new topic of the same name).
// The server refuses A's SUBSCRIBE and accepts B's. The refusal is about A's topic,
// which is gone: it must not end B, whose own SUBSCRIBE succeeds; B returns and
// receives. For each kind: NOPERM for SUBSCRIBE and PSUBSCRIBE, MOVED for SSUBSCRIBE.
func TestPubsubRefusalOfStaleSubscribe(t *testing.T) {
	cases := []struct {
		kind    int
		command string // the driver's command, upper case
		refusal string
		message parser.Value
		want    Message
	}{
		{topicChan, "SUBSCRIBE", "-NOPERM User u has no permissions to access the 'x' channel\r\n",
			fixPush("message", "x", parser.NewBulkString("for B")),
			Message{Channel: "x", Payload: []byte("for B")}},
		{topicPattern, "PSUBSCRIBE", "-NOPERM User u has no permissions to access the 'x' channel\r\n",
			parser.NewPush(parser.NewBulkString("pmessage"), parser.NewBulkString("x"), parser.NewBulkString("x"), parser.NewBulkString("for B")),
			Message{Channel: "x", Pattern: "x", Payload: []byte("for B")}},
		{topicShard, "SSUBSCRIBE", "-MOVED 1 127.0.0.1:1\r\n",
			fixPush("smessage", "x", parser.NewBulkString("for B")),
			Message{Channel: "x", Payload: []byte("for B")}},
	}
	for _, tc := range cases {
		t.Run(tc.command, func(t *testing.T) {
			sub := subKinds[tc.kind]
			unsub := unsubKinds[tc.kind]
			gotSubA := make(chan struct{})
			gotUnsub := make(chan struct{})
			var subsX, unsubs atomic.Int32
			srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
				if len(cmd) > 0 {
					cmd[0] = strings.ToUpper(cmd[0]) // the driver sends them lower case
				}
				switch {
				case fakeredis.Hello(c, cmd):
				case cmd[0] == tc.command && len(cmd) == 2 && cmd[1] == "x":
					if subsX.Add(1) == 1 {
						close(gotSubA) // A's: answered with B's
						return true
					}
					// B's: refuse A's SUBSCRIBE, confirm the UNSUBSCRIBE and B's
					// SUBSCRIBE, as the server did them in order; then a message.
					c.Write([]byte(tc.refusal))
					c.Reply(fixPush(unsub, "x", parser.NewInteger(0)),
						fixPush(sub, "x", parser.NewInteger(1)),
						tc.message)
				case cmd[0] == strings.ToUpper(unsub):
					if unsubs.Add(1) == 1 {
						close(gotUnsub) // A's: answered with B's SUBSCRIBE
						return true
					}
					c.Reply(fixPush(unsub, cmd[1], parser.NewInteger(0)))
				default:
					c.Write([]byte("+OK\r\n"))
				}
				return true
			})
			ctx := testCtx(t, 10*time.Second)
			p := pubsubConnect(t, ctx, fakeCfg(srv))

			ctxA, cancelA := context.WithCancel(ctx)
			aDone := make(chan error, 1)
			go func() { _, err := p.subscribe(ctxA, tc.kind, []string{"x"}); aDone <- err }()
			select {
			case <-gotSubA:
			case <-ctx.Done():
				t.Fatal("A's command never reached the server")
			}
			cancelA()
			if err := <-aDone; !errors.Is(err, context.Canceled) {
				t.Fatalf("A: %v, want context.Canceled", err)
			}
			select {
			case <-gotUnsub:
			case <-ctx.Done():
				t.Fatal("A's unsubscription never reached the server")
			}

			b, err := p.subscribe(ctx, tc.kind, []string{"x"})
			if err != nil {
				t.Fatalf("B: %v; the refusal of A's command ended B", err)
			}
			m := recvMsg(t, b)
			if m.Channel != tc.want.Channel || m.Pattern != tc.want.Pattern || string(m.Payload) != string(tc.want.Payload) {
				t.Fatalf("B got %+v, want %+v", m, tc.want)
			}
			if err := b.Err(); err != nil {
				t.Fatalf("B: Err = %v", err)
			}
		})
	}
}

// Config.Resolve keeps naming a node that refuses the shard channel with MOVED, which
// the connection was subscribed to on another node (that node then dropped it). Each
// dial succeeds, so only the pause failHead takes keeps the connection from going
// again as fast as the network allows, and the bound ends it: after
// maxMovedReconnects reconnects in a row, the next refusal ends the subscription
// with the MOVED *RedisError, and nothing dials any more. A node that confirms the
// channel in between (Resolve found the owner) starts the count afresh.
func TestSSubscribeMovedBounded(t *testing.T) {
	checkGoroutines(t)
	const b = maxMovedReconnects
	// flip confirms the shard channel, then drops it (its slot moved away).
	flip := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			c.Reply(fixPush("ssubscribe", cmd[1], parser.NewInteger(1)), fixPush("sunsubscribe", cmd[1], parser.NewInteger(0)))
		case strings.EqualFold(cmd[0], "SUNSUBSCRIBE"):
			c.Reply(fixPush("sunsubscribe", cmd[1], parser.NewInteger(0)))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	// stale always refuses the shard channel with MOVED.
	spinning := make(chan struct{})
	var spinOnce sync.Once
	stale := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if c.N > 2*b+20 {
			spinOnce.Do(func() { close(spinning) })
		}
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			c.Write([]byte("-MOVED 1 127.0.0.1:1\r\n"))
		case strings.EqualFold(cmd[0], "SUNSUBSCRIBE"):
			c.Reply(fixPush("sunsubscribe", cmd[1], parser.NewInteger(0)))
		case strings.EqualFold(cmd[0], "SUBSCRIBE"):
			c.Reply(fixPush("subscribe", cmd[1], parser.NewInteger(1)))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	// Dial 1: flip. Then b times stale (b refusals, b reconnects), flip once more
	// (confirmed: the count starts afresh), and stale for ever.
	var dials atomic.Int32
	cfg := fakeCfg(flip)
	cfg.Resolve = func(context.Context) (string, error) {
		switch n := dials.Add(1); {
		case n == 1, n == 2+b:
			return flip.Addr, nil
		}
		return stale.Addr, nil
	}
	ctx := testCtx(t, 20*time.Second)
	p := pubsubConnect(t, ctx, cfg)
	s, err := p.SSubscribe(ctx, "{s}ch")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m, ok := <-s.Messages():
		if ok {
			t.Fatalf("a message %+v on the refused shard channel", m)
		}
	case <-spinning:
		t.Fatalf("still reconnecting after %d connections to the refusing node (%d dials): no bound", stale.Accepts(), dials.Load())
	case <-ctx.Done():
		t.Fatalf("subscription never ended: %d connections to the refusing node, %d dials", stale.Accepts(), dials.Load())
	}
	var re *RedisError
	if err := s.Err(); !errors.As(err, &re) || re.Code() != "MOVED" {
		t.Fatalf("Err = %v, want the MOVED *RedisError", err)
	}
	// A round trip on the connection, after the SUNSUBSCRIBE the ending queued: it is
	// still the last one, and no other was dialled.
	plain, err := p.Subscribe(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	plain.Unsubscribe(ctx)
	if n, d := stale.Accepts(), dials.Load(); n != 2*b+1 || d != 2*b+3 {
		t.Fatalf("%d connections to the refusing node, %d dials; want %d and %d (b refusals, a confirmation, b+1 refusals)", n, d, 2*b+1, 2*b+3)
	}
	if n := flip.Accepts(); n != 2 {
		t.Fatalf("%d connections to the confirming node, want 2", n)
	}
}

// After a MOVED refusal the connection pauses before going again, as the reconnect
// backoff does: with a backoff far longer than the test, the refusing connection is
// still the one in use once the refusal was read (a subscription made after it is
// confirmed there), nothing was dialled again, and the subscription that was
// receiving is still on, waiting to be subscribed again.
func TestSSubscribeMovedPauses(t *testing.T) {
	checkGoroutines(t)
	flip := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			c.Reply(fixPush("ssubscribe", cmd[1], parser.NewInteger(1)), fixPush("sunsubscribe", cmd[1], parser.NewInteger(0)))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	refused := make(chan struct{})
	var refusedOnce sync.Once
	stale := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			c.Write([]byte("-MOVED 1 127.0.0.1:1\r\n"))
			refusedOnce.Do(func() { close(refused) })
		case strings.EqualFold(cmd[0], "SUBSCRIBE"):
			c.Reply(fixPush("subscribe", cmd[1], parser.NewInteger(1)))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	var dials atomic.Int32
	cfg := fakeCfg(flip)
	cfg.ReconnectMin, cfg.ReconnectMax = time.Hour, time.Hour // never within the test
	cfg.Resolve = func(context.Context) (string, error) {
		if dials.Add(1) == 1 {
			return flip.Addr, nil
		}
		return stale.Addr, nil
	}
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, cfg)
	s, err := p.SSubscribe(ctx, "{s}ch")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-refused:
	case <-ctx.Done():
		t.Fatal("the shard channel was never subscribed again")
	}
	// SUBSCRIBE plain goes after the refused SSUBSCRIBE: its confirmation comes
	// after the refusal, on the same connection, unless that one was dropped.
	if _, err := p.Subscribe(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if n, d := stale.Accepts(), dials.Load(); n != 1 || d != 2 {
		t.Fatalf("%d connections to the refusing node, %d dials; want 1 and 2: no pause after MOVED", n, d)
	}
	select {
	case m, ok := <-s.Messages():
		t.Fatalf("shard subscription: message %+v (open %v), error %v; want it waiting", m, ok, s.Err())
	default:
	}
	if err := s.Err(); err != nil {
		t.Fatalf("shard subscription ended: %v", err)
	}
}
