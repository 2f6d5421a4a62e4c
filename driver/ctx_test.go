package driver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A command whose ctx has ended already is not sent, by any call that takes a ctx:
// before, a free slot took it, and it ran if it was written before its Wait saw the
// ctx (14 of 2000 INCRs in a loop did; Script.Run, 88 of 20,000); Subscribe sent
// SUBSCRIBE, and Dedicated ran fn on an idle connection. Each call returns the ctx's
// error.
func TestEndedContextSendsNothing(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 20*time.Second)
	p := pubsubConnect(t, ctx, Config{Addr: c.Addr()})
	incr := NewScript("return redis.call('INCR', KEYS[1])")
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()
	for _, tc := range []struct {
		what string
		ctx  context.Context
		want error
	}{{"cancelled", dead, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		t.Run(tc.what, func(t *testing.T) {
			calls := map[string]func() error{
				"Do": func() error { _, err := c.Do(tc.ctx, "INCR", "n"); return err },
				"Do blocking": func() error {
					_, err := c.Do(tc.ctx, "BLPOP", "list", "0")
					return err
				},
				"SendRoutedContext": func() error { return c.SendRoutedContext(tc.ctx, failRouter{}, "INCR", "n").Err(ctx) },
				"ResendContext": func() error {
					f, err := c.ResendContext(tc.ctx, failRouter{}, []byte("*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"), false)
					if err == nil {
						err = f.Err(ctx)
					}
					return err
				},
				"ResendTxContext": func() error {
					f, err := c.ResendTxContext(tc.ctx, failRouter{}, []byte("*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n"), false)
					if err == nil {
						err = f.Err(ctx)
					}
					return err
				},
				"Script.Run": func() error { return incr.Run(tc.ctx, c, []string{"n"}).Err(ctx) },
				"Dedicated": func() error {
					return c.Dedicated(tc.ctx, func(d *DedicatedConn) error { _, err := d.Do(ctx, "INCR", "n"); return err })
				},
				"Subscribe": func() error {
					s, err := p.Subscribe(tc.ctx, "ch")
					if err == nil {
						s.Unsubscribe(ctx)
					}
					return err
				},
				"DedicatedConn.Do": func() error {
					var err error
					if e := c.Dedicated(ctx, func(d *DedicatedConn) error { _, err = d.Do(tc.ctx, "INCR", "n"); return nil }); e != nil {
						t.Fatal(e)
					}
					return err
				},
			}
			for name, call := range calls {
				for range 200 {
					if err := call(); !errors.Is(err, tc.want) {
						t.Fatalf("%s: %v, want %v", name, err, tc.want)
					}
				}
			}
			if n, err := c.Send("GET", "n").Int(ctx); !errors.Is(err, ErrNil) {
				t.Fatalf("the counter is %d (%v): commands with an ended ctx ran", n, err)
			}
			if v, err := c.Do(ctx, "PUBSUB", "NUMSUB", "ch"); err != nil || len(v.Elems()) != 2 || v.Elems()[1].Int() != 0 {
				t.Fatalf("PUBSUB NUMSUB ch = %v, %v: a Subscribe with an ended ctx subscribed", v, err)
			}
			if err := c.Send("LPUSH", "list", "x").Err(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Send("LLEN", "list").Int(ctx); err != nil || n != 1 {
				t.Fatalf("LLEN = %d, %v: a BLPOP with an ended ctx popped", n, err)
			}
			c.Send("DEL", "list")
		})
	}
}
