package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/internal/redistest"
)

func recvMsg(t *testing.T, s *Subscription) Message {
	t.Helper()
	select {
	case m, ok := <-s.Messages():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return Message{}
}

// pubsubPair returns a PubsubConn speaking proto and a PairedConn to publish with,
// both on srv and closed when t ends.
func pubsubPair(t *testing.T, srv *redistest.Server, proto int) (*PubsubConn, *PairedConn) {
	t.Helper()
	p := pubsubConnect(t, testCtx(t, 20*time.Second), Config{Addr: srv.Addr, Protocol: proto})
	pub := pairedTo(t, srv, Config{})
	t.Cleanup(func() { pub.Close() })
	return p, pub
}

func TestPubsub(t *testing.T) {
	srv := startServer(t)
	checkGoroutines(t)
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			p, pub := pubsubPair(t, srv, proto)

			a, err := p.Subscribe(ctx, "news", "sport")
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Subscribe(ctx, "news")
			if err != nil {
				t.Fatal(err)
			}
			pat, err := p.PSubscribe(ctx, "ne*")
			if err != nil {
				t.Fatal(err)
			}
			if n, err := pub.Send("PUBLISH", "news", "hello").Int(ctx); err != nil || n != 2 {
				// one connection counts once per channel plus once per pattern
				t.Fatalf("PUBLISH = %d, %v", n, err)
			}
			for _, s := range []*Subscription{a, b} {
				if m := recvMsg(t, s); m.Channel != "news" || string(m.Payload) != "hello" || m.Pattern != "" {
					t.Fatalf("message %+v", m)
				}
			}
			if m := recvMsg(t, pat); m.Channel != "news" || m.Pattern != "ne*" || string(m.Payload) != "hello" {
				t.Fatalf("pattern message %+v", m)
			}
			// b leaves: the server stays subscribed to news for a.
			if err := b.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok := <-b.Messages(); ok || b.Err() != nil {
				t.Fatalf("b not ended cleanly: %v", b.Err())
			}
			pub.Send("PUBLISH", "news", "second").Err(ctx)
			if m := recvMsg(t, a); string(m.Payload) != "second" {
				t.Fatalf("a got %+v", m)
			}
			recvMsg(t, pat)
			// a leaves: news and sport have no subscriber left; the server is told.
			a.Unsubscribe(ctx)
			waitFor(t, func() bool {
				v := srv.MustDo("PUBSUB", "NUMSUB", "news", "sport")
				return v.Elems()[1].Int() == 0 && v.Elems()[3].Int() == 0
			})
			if v := srv.MustDo("PUBSUB", "NUMPAT"); v.Int() != 1 {
				t.Fatalf("NUMPAT = %v", v)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if _, ok := <-pat.Messages(); ok || !errors.Is(pat.Err(), ErrClosed) {
				t.Fatalf("pattern subscription after Close: %v", pat.Err())
			}
		})
	}
}

func TestPubsubSlowConsumer(t *testing.T) {
	srv := startServer(t)
	checkGoroutines(t)
	ctx := testCtx(t, 20*time.Second)
	p := pubsubConnect(t, ctx, Config{Addr: srv.Addr, MessageBuffer: 8})
	slow, _ := p.Subscribe(ctx, "c")
	fast, _ := p.Subscribe(ctx, "c")
	pub := pairedTo(t, srv, Config{})
	defer pub.Close()
	// Lockstep: fast reads each message before the next is published, so only slow
	// can fall behind.
	for i := 0; i < 20; i++ {
		if err := pub.Send("PUBLISH", "c", fmt.Sprint(i)).Err(ctx); err != nil {
			t.Fatal(err)
		}
		if m := recvMsg(t, fast); string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("fast message %d = %q", i, m.Payload)
		}
	}
	// The slow one got the first 8 messages, then ended with a clear error.
	n := 0
	for m := range slow.Messages() {
		if string(m.Payload) != fmt.Sprint(n) {
			t.Fatalf("slow message %d = %q", n, m.Payload)
		}
		n++
	}
	if n != 8 || !errors.Is(slow.Err(), ErrSlowConsumer) {
		t.Fatalf("slow: %d messages, err %v", n, slow.Err())
	}
	fast.Unsubscribe(ctx)
}

func TestPubsubSubscribeError(t *testing.T) {
	srv := startServer(t)
	checkGoroutines(t)
	ctx := testCtx(t, 20*time.Second)
	srv.MustDo("ACL", "SETUSER", "limited", "on", ">pw", "resetchannels", "&allowed", "+@all")
	p := pubsubConnect(t, ctx, Config{Addr: srv.Addr, Username: "limited", Password: "pw"})
	_, err := p.Subscribe(ctx, "forbidden")
	var re *RedisError
	if !errors.As(err, &re) || re.Code() != "NOPERM" {
		t.Fatalf("Subscribe forbidden: %v", err)
	}
	s, err := p.Subscribe(ctx, "allowed")
	if err != nil {
		t.Fatalf("Subscribe allowed: %v", err)
	}
	s.Unsubscribe(ctx)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Shard channels (SSUBSCRIBE, SPUBLISH) on one server, both protocols: messages,
// unsubscription, resubscription after a reconnect; plain subscriptions of the same
// name are apart from them.
func TestSSubscribe(t *testing.T) {
	srv := startServer(t)
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			ctx := testCtx(t, 20*time.Second)
			p, pub := pubsubPair(t, srv, proto)
			sh, err := p.SSubscribe(ctx, "{s}a", "{s}b")
			if err != nil {
				t.Fatal(err)
			}
			plain, err := p.Subscribe(ctx, "{s}a")
			if err != nil {
				t.Fatal(err)
			}
			if n, err := pub.Send("SPUBLISH", "{s}a", "one").Int(ctx); err != nil || n != 1 {
				t.Fatalf("SPUBLISH = %d, %v", n, err)
			}
			if m := recvMsg(t, sh); m.Channel != "{s}a" || string(m.Payload) != "one" {
				t.Fatalf("shard message %+v", m)
			}
			if n, _ := pub.Send("PUBLISH", "{s}a", "two").Int(ctx); n != 1 {
				t.Fatalf("PUBLISH reached %d", n)
			}
			if m := recvMsg(t, plain); string(m.Payload) != "two" {
				t.Fatalf("plain message %+v", m)
			}
			before := p.Reconnects()
			p.Reconnect()
			waitFor(t, func() bool { return p.Reconnects() > before })
			waitFor(t, func() bool {
				n, _ := pub.Send("SPUBLISH", "{s}b", "three").Int(ctx)
				return n == 1
			})
			if m := recvMsg(t, sh); m.Channel != "{s}b" || string(m.Payload) != "three" {
				t.Fatalf("after reconnect: %+v", m)
			}
			sh.Unsubscribe(ctx)
			waitFor(t, func() bool {
				n, _ := pub.Send("SPUBLISH", "{s}a", "x").Int(ctx)
				return n == 0
			})
			select {
			case m := <-plain.Messages():
				t.Fatalf("plain subscription got a shard message %+v", m)
			default:
			}
		})
	}
}

// A shard channel subscribed again after its slot moved, on a node that refuses it
// with MOVED (the map Resolve used was older than the move): the subscription is
// not ended; the connection goes again, through Resolve, and the subscription
// receives from the node that accepts it.
func TestSSubscribeMovedOnResubscribe(t *testing.T) {
	shardPush := func(kind, ch string, n int) string {
		return fmt.Sprintf(">3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n:%d\r\n", len(kind), kind, len(ch), ch, n)
	}
	// A fake node that answers SSUBSCRIBE with reply(channel), anything else with OK.
	node := func(reply func(ch string) string) *fakeredis.Server {
		return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
			switch {
			case fakeredis.Hello(c, cmd):
			case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
				c.Write([]byte(reply(cmd[1])))
			default:
				c.Write([]byte("+OK\r\n"))
			}
			return true
		})
	}
	// old: confirms, then drops the channel (its slot moved away).
	old := node(func(ch string) string { return shardPush("ssubscribe", ch, 1) + shardPush("sunsubscribe", ch, 0) })
	// stale: the node an outdated map names; it refuses with MOVED.
	stale := node(func(string) string { return "-MOVED 1 127.0.0.1:1\r\n" })
	// owner: accepts, and delivers a message.
	owner := node(func(ch string) string {
		return shardPush("ssubscribe", ch, 1) + fmt.Sprintf(">3\r\n$8\r\nsmessage\r\n$%d\r\n%s\r\n$5\r\nhello\r\n", len(ch), ch)
	})
	var dials atomic.Int32
	cfg := fakeCfg(old)
	cfg.Resolve = func(context.Context) (string, error) {
		switch dials.Add(1) {
		case 1:
			return old.Addr, nil
		case 2:
			return stale.Addr, nil
		}
		return owner.Addr, nil
	}
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, cfg)
	s, err := p.SSubscribe(ctx, "{s}ch")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m, ok := <-s.Messages():
		if !ok || string(m.Payload) != "hello" {
			t.Fatalf("message %+v (open %v), subscription error %v", m, ok, s.Err())
		}
	case <-ctx.Done():
		t.Fatalf("no message; subscription error %v, %d dials", s.Err(), dials.Load())
	}
	if n := dials.Load(); n < 3 {
		t.Fatalf("%d dials, want the old node, the stale one, then the owner", n)
	}
}
