package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/writer"
)

// blockLimit reads the timeout of every blocking command, in its unit and place, sums
// a batch's, and takes 0 (block until served), a timeout it cannot read and one too
// long to be meant for no bound; a negative one (an error at once) and a command that
// does not block count as 0.
func TestBlockLimit(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		cmds [][]any
		want time.Duration
	}{
		{[][]any{{"BLPOP", "k", "0.3"}}, 300 * ms},
		{[][]any{{"blpop", "k1", "k2", 2}}, 2 * time.Second},
		{[][]any{{"BRPOP", "k", "0"}}, -1},
		{[][]any{{"BLMOVE", "a", "b", "LEFT", "RIGHT", "1.5"}}, 1500 * ms},
		{[][]any{{"BRPOPLPUSH", "a", "b", 1}}, time.Second},
		{[][]any{{"BLMPOP", "0.5", "2", "a", "b", "LEFT"}}, 500 * ms},
		{[][]any{{"BZMPOP", "3", "1", "z", "MIN", "COUNT", "9"}}, 3 * time.Second},
		{[][]any{{"BZPOPMIN", "z", "0.25"}}, 250 * ms},
		{[][]any{{"BZPOPMAX", []byte("z"), []byte("4")}}, 4 * time.Second},
		{[][]any{{"WAIT", "1", "300"}}, 300 * ms},
		{[][]any{{"WAIT", "1", "0"}}, -1},
		{[][]any{{"WAITAOF", "1", "0", "250"}}, 250 * ms},
		{[][]any{{"XREAD", "COUNT", "1", "BLOCK", "200", "STREAMS", "s", "$"}}, 200 * ms},
		{[][]any{{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}}, -1},
		{[][]any{{"XREAD", "STREAMS", "BLOCK", "100"}}, 0},                                              // a stream named BLOCK
		{[][]any{{"XREADGROUP", "GROUP", "BLOCK", "5", "BLOCK", "100", "STREAMS", "s", ">"}}, 100 * ms}, // a group named BLOCK
		{[][]any{{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}}, 0},
		{[][]any{{"XREAD", "BLOCK", "100", "BLOCK", "0", "STREAMS", "s", "$"}}, -1},           // the last BLOCK counts
		{[][]any{{"XREAD", "BLOCK", "100", "BLOCK", "2500", "STREAMS", "s", "$"}}, 2500 * ms}, // the last BLOCK counts
		{[][]any{{"XREADGROUP", "COUNT", "1", "GROUP", "BLOCK", "5", "BLOCK", "100", "STREAMS", "s", ">"}}, 100 * ms},
		{[][]any{{"XREADGROUP", "NOACK", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "s", ">"}}, 100 * ms},
		{[][]any{{"XREAD", "COUNT", "BLOCK", "STREAMS", "s", "$"}}, 0}, // COUNT's value (refused)
		{[][]any{{"XREAD", "NEWOPTION", "BLOCK", "100", "STREAMS", "s", "$"}}, -1},
		{[][]any{{"XREAD", "BLOCK", "100"}}, -1}, // no STREAMS: refused
		{[][]any{{"BLPOP", "k", "-1"}}, 0},
		{[][]any{{"BLPOP", "k", "nan"}}, -1},
		{[][]any{{"BLPOP", "k", "0.0001"}}, -1}, // 0 ms to some servers: until served
		{[][]any{{"BLPOP", "k", "0.001"}}, -1},  // 0 before Redis 7.0.8 (redis#11687)
		{[][]any{{"BLPOP", "k", "0.002"}}, 2 * ms},
		{[][]any{{"BLPOP", "k", "inf"}}, -1},
		{[][]any{{"BLPOP", "k", "1e400"}}, -1},
		{[][]any{{"BLPOP", "k", "1e12"}}, -1},
		{[][]any{{"BLPOP", "k", " 1"}}, -1},
		{[][]any{{"BLPOP", "k", "soon"}}, -1},
		{[][]any{{"BLPOP"}}, 0},
		{[][]any{{"GET", "k"}}, 0},
		{[][]any{{"SET", "k", "v"}, {"BLPOP", "k", "0.2"}, {"BRPOP", "k", "0.3"}}, 500 * ms},
		{[][]any{{"BLPOP", "k", "0.2"}, {"BLPOP", "k", "0"}}, -1},
	} {
		var buf []byte
		for _, args := range tc.cmds {
			var err error
			if buf, err = writer.AppendArgs(buf, args...); err != nil {
				t.Fatal(err)
			}
		}
		if got := blockLimit(buf); got != tc.want {
			t.Errorf("blockLimit(%v) = %v, want %v", tc.cmds, got, tc.want)
		}
		if len(tc.cmds) == 1 {
			if got := argsLimit(tc.cmds[0]); got != tc.want {
				t.Errorf("argsLimit(%v) = %v, want %v", tc.cmds[0], got, tc.want)
			}
		}
	}
}

// A blocking command with a timeout, written just before its connection went silent
// (a blackhole: the path still acknowledges every byte, so TCP_USER_TIMEOUT never
// fires), fails with ErrHealthCheck once its timeout and the grace after it ran out:
// the server would have answered it by then. Before, such a command was never due an
// answer, and waited until its context ended (here 20 s), on a DedicatedConn as on a
// connection of the dedicated pool. A live one with the same timeout is answered
// (TestHealthCheckDedicatedBlocking).
func TestHealthCheckBlockingTimeoutBlackhole(t *testing.T) {
	cfg := Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}
	wantDead := func(what string, err error) error {
		if !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrHealthCheck) {
			return fmt.Errorf("%s on a blackholed connection: %v, want ErrConnLost wrapping ErrHealthCheck", what, err)
		}
		return nil
	}
	ded := func(t *testing.T, fn func(d *DedicatedConn, wait context.Context) error) {
		onDedicated(t, cfg, func(_ *PairedConn, d *DedicatedConn, px *faultproxy.Proxy, ctx context.Context) error {
			if err := d.Send("PING").Err(ctx); err != nil {
				return err
			}
			px.Blackhole()
			wait, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			return fn(d, wait)
		})
	}
	for _, args := range [][]any{
		{"BLPOP", "ht:none", "0.3"},
		{"BZMPOP", "0.3", "1", "ht:z", "MIN"},
		{"XREAD", "BLOCK", "300", "STREAMS", "ht:s", "$"},
		{"WAIT", "1", "300"}, // no replica: it waits for its timeout
	} {
		t.Run(args[0].(string), func(t *testing.T) {
			ded(t, func(d *DedicatedConn, wait context.Context) error {
				return wantDead(args[0].(string), d.Send(args...).Err(wait))
			})
		})
	}
	t.Run("batch", func(t *testing.T) {
		ded(t, func(d *DedicatedConn, wait context.Context) error {
			var b Batch
			b.Queue("BLPOP", "ht:none", "0.2")
			b.Queue("BRPOP", "ht:none", "0.2")
			for i, f := range d.SendBatch(nil, &b) {
				if err := wantDead(fmt.Sprintf("batch command %d", i), f.Err(wait)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	t.Run("quiet", func(t *testing.T) {
		// The server does not answer the BLPOP: the ON after it is due once the
		// BLPOP's timeout ran out.
		ded(t, func(d *DedicatedConn, wait context.Context) error {
			d.SendAndForget("CLIENT", "REPLY", "OFF")
			d.SendAndForget("BLPOP", "ht:none", "0.3")
			return wantDead("CLIENT REPLY ON behind the BLPOP", d.Send("CLIENT", "REPLY", "ON").Err(wait))
		})
	})
	t.Run("pooled", func(t *testing.T) {
		c, px, ctx := proxied(t, cfg)
		if v, err := c.Do(ctx, "BLPOP", "ht:none", "0.01"); err != nil || !v.IsNull() { // dials the pool's connection
			t.Fatalf("BLPOP on an empty list: %v, %v", v, err)
		}
		px.Blackhole()
		wait, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := wantDead("BLPOP sent through Send", c.Send("BLPOP", "ht:none", "0.3").Err(wait)); err != nil {
			t.Fatal(err)
		}
		// Both connections are re-established (the pool's dialled again).
		if v, err := c.Do(ctx, "BLPOP", "ht:none", "0.01"); err != nil || !v.IsNull() {
			t.Fatalf("BLPOP after the reconnect: %v, %v", v, err)
		}
	})
}

// Blocking commands the server does not answer (CLIENT REPLY OFF) run one after the
// other too: the ON after three BLPOPs of 1 s is due once the sum of their timeouts
// ran out (3 s), not the first's (the connection would be declared dead at about
// 2.4 s, before the server answers at 3 s). The last BLOCK of an XREAD is the one
// the server takes: 100 ms then 2.5 s blocks 2.5 s.
func TestHealthCheckBlockingQuietLive(t *testing.T) {
	cfg := Config{HealthCheck: 200 * time.Millisecond, DedicatedPoolSize: 1}
	onDedicated(t, cfg, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		d.SendAndForget("CLIENT", "REPLY", "OFF")
		for range 3 {
			d.SendAndForget("BLPOP", "hq:none", "1")
		}
		if err := d.Send("CLIENT", "REPLY", "ON").Err(ctx); err != nil {
			return fmt.Errorf("CLIENT REPLY ON after three quiet BLPOPs: %v", err)
		}
		if v, err := d.Send("XREAD", "BLOCK", "100", "BLOCK", "2500", "STREAMS", "hq:s", "$").Wait(ctx); err != nil || !v.IsNull() {
			return fmt.Errorf("XREAD BLOCK 100 BLOCK 2500: %v, %v, want a null reply (timed out)", v, err)
		}
		if d.c.Reconnects() != 0 {
			return errors.New("the dedicated connection was declared dead")
		}
		return nil
	})
}

// A batch's blocking commands block one after the other: its answers are due only
// once the sum of their timeouts ran out. Five BLPOPs of 0.4 s on a live connection,
// checked every 0.1 s, are answered (null) and the connection is not declared dead
// (it would be at about 1.5 s if only the longest timeout counted).
func TestHealthCheckBlockingBatchLive(t *testing.T) {
	onDedicated(t, Config{HealthCheck: 100 * time.Millisecond, DedicatedPoolSize: 1}, func(_ *PairedConn, d *DedicatedConn, _ *faultproxy.Proxy, ctx context.Context) error {
		var b Batch
		for range 5 {
			b.Queue("BLPOP", "hl:none", "0.4")
		}
		for i, f := range d.SendBatch(nil, &b) {
			if v, err := f.Wait(ctx); err != nil || !v.IsNull() {
				return fmt.Errorf("BLPOP %d of the batch: %v, %v, want a null reply (timed out)", i, v, err)
			}
		}
		if d.c.Reconnects() != 0 {
			return errors.New("the dedicated connection was declared dead")
		}
		return nil
	})
}
