package driver

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/parser"
)

// movedPush is a pub/sub push as a RESP3 server writes it.
func movedPush(kind, name string, n int) string {
	return fmt.Sprintf(">3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n:%d\r\n", len(kind), kind, len(name), name, n)
}

// movingShardServer answers a shard channel's SSUBSCRIBE on its first connection
// with the confirmation and, at once, an unprompted sunsubscribe (the slot moved),
// and with MOVED on every later connection.
func movingShardServer(t *testing.T) *fakeredis.Server {
	return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			if c.N == 0 {
				c.Write([]byte(movedPush("ssubscribe", cmd[1], 1) + movedPush("sunsubscribe", cmd[1], 0)))
			} else {
				c.Write([]byte("-MOVED 1 127.0.0.1:1\r\n"))
			}
		case strings.EqualFold(cmd[0], "SUBSCRIBE"):
			c.Write([]byte(movedPush("subscribe", cmd[1], 1)))
		case strings.EqualFold(cmd[0], "SUNSUBSCRIBE"):
			c.Write([]byte(movedPush("sunsubscribe", cmd[1], 0)))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
}

// A subscription that ends after the server confirmed it, before Subscribe looked
// at how it went (here its shard channel dropped and refused with MOVED at the
// reconnect, all before Subscribe's goroutine ran on): Subscribe returns it, ended,
// with the MOVED as its Err, rather than that error as though the server had
// refused the subscription.
func TestSSubscribeEndedBeforeReturn(t *testing.T) {
	srv := movingShardServer(t)
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, fakeCfg(srv))
	subscribedHook = func(s *Subscription) {
		for ctx.Err() == nil {
			p.mu.Lock()
			ended := s.ended
			p.mu.Unlock()
			if ended {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	defer func() { subscribedHook = nil }()
	s, err := p.SSubscribe(ctx, "{s}ch")
	if err != nil {
		t.Fatalf("SSubscribe: %v, want the subscription the server confirmed", err)
	}
	if _, ok := <-s.Messages(); ok {
		t.Fatal("a message on the dropped shard channel")
	}
	var re *RedisError
	if err := s.Err(); !errors.As(err, &re) || re.Code() != "MOVED" {
		t.Fatalf("Err = %v, want the MOVED *RedisError", err)
	}
}

// A node whose slot moved away drops the shard channel, and refuses it with MOVED
// from then on; with no Resolve the reconnect goes to that node again. The
// subscription ends with the MOVED error instead of reconnecting for ever (each
// dial succeeds, so the backoff never applied), and the connection stays up for
// the rest.
func TestSSubscribeMovedWithoutResolve(t *testing.T) {
	srv := movingShardServer(t)
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, fakeCfg(srv))
	s, err := p.SSubscribe(ctx, "{s}ch")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-s.Messages():
		if ok {
			t.Fatal("a message on the dropped shard channel")
		}
	case <-ctx.Done():
		t.Fatalf("subscription never ended: %d connections, %d reconnects", srv.Accepts(), p.Reconnects())
	}
	var re *RedisError
	if err := s.Err(); !errors.As(err, &re) || re.Code() != "MOVED" {
		t.Fatalf("Err = %v, want the MOVED *RedisError", err)
	}
	// A round trip on the connection, after the SUNSUBSCRIBE the ending queued: it
	// is still the second one.
	if _, err := p.Subscribe(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if n := srv.Accepts(); n > 3 {
		t.Fatalf("%d connections, want the first and one reconnect", n)
	}
}

// The server drops shard channel a (its slot moved) while our SUNSUBSCRIBE b is on
// the way, and its unprompted "sunsubscribe a" comes before the confirmation of b.
// It must not be counted as that confirmation: a still has a subscriber, so the
// connection goes again and subscribes to a (and only a) there.
func TestSSubscribeUnpromptedDuringSunsubscribe(t *testing.T) {
	var mu sync.Mutex
	var resub [][]string // SSUBSCRIBE arguments on the second connection
	srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		switch {
		case fakeredis.Hello(c, cmd):
		case strings.EqualFold(cmd[0], "SSUBSCRIBE"):
			out := ""
			for _, n := range cmd[1:] {
				out += movedPush("ssubscribe", n, 1)
			}
			if c.N > 0 {
				mu.Lock()
				resub = append(resub, slices.Clone(cmd[1:]))
				mu.Unlock()
				out += ">3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$4\r\nback\r\n"
			}
			c.Write([]byte(out))
		case strings.EqualFold(cmd[0], "SUNSUBSCRIBE"):
			out := ""
			if c.N == 0 {
				out += movedPush("sunsubscribe", "a", 1) // unprompted: a's slot moved
			}
			for _, n := range cmd[1:] {
				out += movedPush("sunsubscribe", n, 0)
			}
			c.Write([]byte(out))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, fakeCfg(srv))
	a, err := p.SSubscribe(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.SSubscribe(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	b.Unsubscribe(ctx)
	select {
	case m, ok := <-a.Messages():
		if !ok || m.Channel != "a" || string(m.Payload) != "back" {
			t.Fatalf("a: message %+v (open %v), error %v", m, ok, a.Err())
		}
	case <-ctx.Done():
		t.Fatalf("a was never subscribed again: %d reconnects, error %v", p.Reconnects(), a.Err())
	}
	mu.Lock()
	got := slices.Clone(resub)
	mu.Unlock()
	if len(got) != 1 || !slices.Equal(got[0], []string{"a"}) {
		t.Fatalf("SSUBSCRIBE on the new connection: %v, want [[a]]", got)
	}
	if _, ok := <-b.Messages(); ok || b.Err() != nil {
		t.Fatalf("b: open %v, error %v, want closed with no error", ok, b.Err())
	}
}

// Unsubscription confirmations are counted by name: one for a name no outstanding
// command waits for is the server's own and leaves the command waiting; the
// command's own confirmations, in any order, complete it.
func TestPubsubUnsubscribeAckByName(t *testing.T) {
	p := &PubsubConn{chans: map[string]*topic{}, pats: map[string]*topic{}, shards: map[string]*topic{}}
	sunsub := func(name string) {
		if err := p.deliver(parser.NewPush(parser.NewBulkString("sunsubscribe"), parser.NewBulkString(name), parser.NewInteger(0))); err != nil {
			t.Fatal(err)
		}
	}
	outstanding := func() []sentCmd {
		p.mu.Lock()
		defer p.mu.Unlock()
		return slices.Clone(p.sent)
	}
	p.mu.Lock()
	p.queue("sunsubscribe", []string{"b", "c"}, nil)
	p.queue("sunsubscribe", []string{"d"}, nil)
	p.mu.Unlock()

	sunsub("a") // no command waits for a
	if s := outstanding(); len(s) != 2 || s[0].left != 2 || s[1].left != 1 {
		t.Fatalf("after the server's own: %+v", s)
	}
	sunsub("d") // the second command's, not the oldest's: the server's own
	if s := outstanding(); len(s) != 2 || s[0].left != 2 || s[1].left != 1 {
		t.Fatalf("after a later command's name: %+v", s)
	}
	sunsub("c") // out of order
	sunsub("c") // again: b is the only one still awaited
	if s := outstanding(); len(s) != 2 || s[0].left != 1 {
		t.Fatalf("after c twice: %+v", s)
	}
	sunsub("b")
	if s := outstanding(); len(s) != 1 || s[0].names[0] != "d" {
		t.Fatalf("after b: %+v", s)
	}
	sunsub("d")
	if s := outstanding(); len(s) != 0 {
		t.Fatalf("after d: %+v", s)
	}
}
