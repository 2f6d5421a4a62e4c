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

// Close with several subscribers on one channel (confirmed ones sharing a topic, one
// also on a second channel, a pattern beside them) ends every one of them: each
// channel is closed and Err is ErrClosed. Close once ranged over a slice that ending
// a subscriber shifted, skipped one and ended a nil one (a panic under p.mu).
func TestPubsubCloseSharedTopic(t *testing.T) {
	srv := startServer(t)
	checkGoroutines(t)
	ctx := testCtx(t, 10*time.Second)
	p, err := PubsubConnect(ctx, Config{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	var subs []*Subscription
	for _, names := range [][]string{{"x"}, {"x"}, {"x", "y"}, {"y"}} {
		s, err := p.Subscribe(ctx, names...)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	for range 2 {
		s, err := p.PSubscribe(ctx, "x*")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Close panicked: %v", r) // p.mu stays locked: no more calls on p
			}
		}()
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}()
	for i, s := range subs {
		// Close closes the channels before it returns: no waiting.
		select {
		case m, ok := <-s.Messages():
			if ok {
				t.Fatalf("subscription %d: message %+v after Close", i, m)
			}
		default:
			t.Fatalf("subscription %d: channel still open after Close", i)
		}
		if err := s.Err(); !errors.Is(err, ErrClosed) {
			t.Fatalf("subscription %d: Err = %v, want ErrClosed", i, err)
		}
	}
	if err := p.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

// A nil ctx is context.Background() for Subscribe, PSubscribe and SSubscribe (and
// Unsubscribe): each returns once confirmed, and then receives. The wait on ctx once
// panicked after the command was queued.
func TestPubsubNilCtx(t *testing.T) {
	srv := startServer(t)
	ctx := testCtx(t, 20*time.Second)
	p, pub := pubsubPair(t, srv, 3)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("nil ctx panicked: %v", r)
		}
	}()
	//lint:ignore SA1012 a nil ctx is what is tested
	s, err := p.Subscribe(nil, "nilctx")
	if err != nil {
		t.Fatalf("Subscribe(nil): %v", err)
	}
	//lint:ignore SA1012 a nil ctx is what is tested
	ps, err := p.PSubscribe(nil, "nilctx*")
	if err != nil {
		t.Fatalf("PSubscribe(nil): %v", err)
	}
	//lint:ignore SA1012 a nil ctx is what is tested
	ss, err := p.SSubscribe(nil, "nilctx")
	if err != nil {
		t.Fatalf("SSubscribe(nil): %v", err)
	}
	if err := pub.Send("PUBLISH", "nilctx", "one").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send("SPUBLISH", "nilctx", "two").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if m := recvMsg(t, s); m.Channel != "nilctx" || string(m.Payload) != "one" {
		t.Fatalf("Subscribe got %+v", m)
	}
	if m := recvMsg(t, ps); m.Pattern != "nilctx*" || string(m.Payload) != "one" {
		t.Fatalf("PSubscribe got %+v", m)
	}
	if m := recvMsg(t, ss); m.Channel != "nilctx" || string(m.Payload) != "two" {
		t.Fatalf("SSubscribe got %+v", m)
	}
	for _, x := range []*Subscription{s, ps, ss} {
		//lint:ignore SA1012 a nil ctx is what is tested
		if err := x.Unsubscribe(nil); err != nil {
			t.Fatalf("Unsubscribe(nil): %v", err)
		}
		if _, ok := <-x.Messages(); ok {
			t.Fatal("message after Unsubscribe")
		}
	}
}

// fixPush is a pub/sub push as a RESP3 server sends it.
func fixPush(kind, name string, arg parser.Value) parser.Value {
	return parser.NewPush(parser.NewBulkString(kind), parser.NewBulkString(name), arg)
}

// A's SUBSCRIBE x is on the way when A's ctx ends (UNSUBSCRIBE x follows it) and B
// subscribes to x (a third command, SUBSCRIBE x). The server's confirmation of A's
// SUBSCRIBE comes before the UNSUBSCRIBE's: it must not release B, whose own
// SUBSCRIBE the server has not answered yet (a message published on x then would not
// reach B). B returns only after its own confirmation, and then receives.
func TestPubsubStaleConfirmation(t *testing.T) {
	gotSubA := make(chan struct{})
	gotUnsub := make(chan struct{})
	releaseB := make(chan struct{})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(releaseB) }) }
	var subsX atomic.Int32
	srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if len(cmd) > 0 {
			cmd[0] = strings.ToUpper(cmd[0]) // the driver sends them lower case
		}
		switch {
		case fakeredis.Hello(c, cmd):
		case cmd[0] == "SUBSCRIBE" && len(cmd) == 2 && cmd[1] == "y":
			c.Reply(fixPush("subscribe", "y", parser.NewInteger(1)))
		case cmd[0] == "SUBSCRIBE" && len(cmd) == 2 && cmd[1] == "x":
			if subsX.Add(1) == 1 {
				close(gotSubA) // A's: its confirmation waits for B's command
				return true
			}
			// B's: answer A's SUBSCRIBE and the UNSUBSCRIBE, as the server did
			// them in order, then a message on y: once the y subscriber has it,
			// the driver has handled both confirmations. B's own confirmation
			// comes when the test says.
			c.Reply(fixPush("subscribe", "x", parser.NewInteger(2)),
				fixPush("unsubscribe", "x", parser.NewInteger(1)),
				fixPush("message", "y", parser.NewBulkString("marker")))
			<-releaseB
			c.Reply(fixPush("subscribe", "x", parser.NewInteger(2)),
				fixPush("message", "x", parser.NewBulkString("for B")))
		case cmd[0] == "UNSUBSCRIBE":
			close(gotUnsub) // answered with B's SUBSCRIBE
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	t.Cleanup(release) // before the server's Close, which waits for the handler
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, fakeCfg(srv))
	y, err := p.Subscribe(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}

	ctxA, cancelA := context.WithCancel(ctx)
	aDone := make(chan error, 1)
	go func() { _, err := p.Subscribe(ctxA, "x"); aDone <- err }()
	<-gotSubA
	cancelA()
	if err := <-aDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: %v, want context.Canceled", err)
	}
	<-gotUnsub

	type result struct {
		s   *Subscription
		err error
	}
	bDone := make(chan result, 1)
	go func() { s, err := p.Subscribe(ctx, "x"); bDone <- result{s, err} }()
	if m := recvMsg(t, y); string(m.Payload) != "marker" {
		t.Fatalf("y got %+v", m)
	}
	// Both stale confirmations are handled: x is still waiting for B's own.
	p.mu.Lock()
	tx := p.chans["x"]
	confirmed, waiting := tx != nil && tx.confirmed, 0
	if tx != nil {
		waiting = len(tx.waiting)
	}
	p.mu.Unlock()
	if confirmed || waiting != 1 {
		t.Fatalf("after the confirmation of A's SUBSCRIBE: x confirmed %v, %d waiting; want B still waiting", confirmed, waiting)
	}
	select {
	case r := <-bDone:
		t.Fatalf("B's Subscribe returned (%v) before the server confirmed its SUBSCRIBE", r.err)
	default:
	}
	release()
	r := <-bDone
	if r.err != nil {
		t.Fatalf("B: %v", r.err)
	}
	if m := recvMsg(t, r.s); m.Channel != "x" || string(m.Payload) != "for B" {
		t.Fatalf("B got %+v", m)
	}
}

// A broken server's stray confirmations (of a channel nobody asked for, or of one
// twice) are not counted against a SUBSCRIBE: each subscription is confirmed by its
// own names' confirmations, and receives. Counted by kind alone, a stray one took a
// real one's place, and the last name of the command then found no command to confirm
// it: Subscribe waited until its ctx ended (for ever with context.Background()).
func TestPubsubStrayConfirmation(t *testing.T) {
	srv := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if len(cmd) > 0 {
			cmd[0] = strings.ToUpper(cmd[0])
		}
		switch {
		case fakeredis.Hello(c, cmd):
		case cmd[0] == "SUBSCRIBE" && len(cmd) == 2 && cmd[1] == "x":
			c.Reply(fixPush("subscribe", "ghost", parser.NewInteger(1)),
				fixPush("subscribe", "x", parser.NewInteger(2)),
				fixPush("message", "x", parser.NewBulkString("to x")))
		case cmd[0] == "SUBSCRIBE" && len(cmd) == 3: // y and z
			c.Reply(fixPush("subscribe", "y", parser.NewInteger(3)),
				fixPush("subscribe", "y", parser.NewInteger(3)),
				fixPush("subscribe", "z", parser.NewInteger(4)),
				fixPush("message", "z", parser.NewBulkString("to z")))
		case cmd[0] == "PSUBSCRIBE":
			c.Reply(fixPush("psubscribe", "q*", parser.NewInteger(5)),
				fixPush("psubscribe", "p*", parser.NewInteger(5)),
				parser.NewPush(parser.NewBulkString("pmessage"), parser.NewBulkString("p*"),
					parser.NewBulkString("p1"), parser.NewBulkString("to p*")))
		default:
			c.Write([]byte("+OK\r\n"))
		}
		return true
	})
	ctx := testCtx(t, 10*time.Second)
	p := pubsubConnect(t, ctx, fakeCfg(srv))
	for _, tc := range []struct {
		sub  func(context.Context, ...string) (*Subscription, error)
		args []string
		want Message
	}{
		{p.Subscribe, []string{"x"}, Message{Channel: "x", Payload: []byte("to x")}},
		{p.Subscribe, []string{"y", "z"}, Message{Channel: "z", Payload: []byte("to z")}},
		{p.PSubscribe, []string{"p*"}, Message{Channel: "p1", Pattern: "p*", Payload: []byte("to p*")}},
	} {
		// The ctx ends well before the test's: a Subscribe that waits for it fails
		// here, with the names it waited for.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := tc.sub(sctx, tc.args...)
		cancel()
		if err != nil {
			t.Fatalf("subscribe %v: %v", tc.args, err)
		}
		select {
		case m := <-s.Messages():
			if m.Channel != tc.want.Channel || m.Pattern != tc.want.Pattern || string(m.Payload) != string(tc.want.Payload) {
				t.Fatalf("subscribe %v: got %+v, want %+v", tc.args, m, tc.want)
			}
		case <-ctx.Done():
			t.Fatalf("subscribe %v: no message", tc.args)
		}
	}
}
