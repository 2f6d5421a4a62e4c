package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/respring/respring/driver"
)

// Batches and transactions from g goroutines sharing one client, through each
// client's API for sending several commands at once:
//
//	Batch/16B/n{10,100}/g{1,64,512}  n GETs of 16-byte values sent as one batch, every
//	                                 reply read
//	Tx/incr2/g{1,64,512}             MULTI, INCR k1, INCR k2, EXEC; both counters read
//
// b.N counts batches (transactions), so ns/op, B/op, allocs/op, cpu-ns/op and
// srv-cpu-ns/op are per batch; batches/s (tx/s) is their rate and ops/s the rate of the
// commands in them (n GETs a batch, 2 INCRs a transaction; not MULTI and EXEC).
//
//	respring  a reused driver.Batch (Reset, Queue x n) and Future slice; SendBatch
//	          (SendTx), then AppendBytes (Int) on every Future
//	rueidis   DoMulti with commands built once and pinned (Pin: reusable, not recycled);
//	          the transaction is DoMulti(MULTI, INCR, INCR, EXEC)
//	goredis   Pipelined (TxPipelined) with a closure queueing the commands
//
// goredis-auto is left out: its Pipelined and TxPipelined are the plain client's.
// Each goroutine has its own reused buffers and commands; goroutine w's batch reads
// keys w, w+1, ... (mod parKeys) and its transaction increments two counters of its
// own, which must stay equal.

var (
	batchSizes   = []int{10, 100}
	batchClients = []string{"respring", "rueidis", "goredis"}
)

const batchValSize = 16

func BenchmarkBatch(b *testing.B) {
	for _, n := range batchSizes {
		for _, g := range parGoroutines {
			for _, name := range batchClients {
				b.Run(fmt.Sprintf("%s/n%d/g%d/client=%s", sizeName(batchValSize), n, g, name), func(b *testing.B) {
					runBatch(b, name, n, g)
				})
			}
		}
	}
}

func BenchmarkTx(b *testing.B) {
	for _, g := range parGoroutines {
		for _, name := range batchClients {
			b.Run(fmt.Sprintf("incr2/g%d/client=%s", g, name), func(b *testing.B) {
				runTx(b, name, g)
			})
		}
	}
}

func runBatch(b *testing.B, name string, n, g int) {
	addr := serverAddr(b)
	ctx := benchCtx(b)
	keys := make([]string, parKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:batch:%d", i)
	}
	seed(b, addr, func(c redis.Conn) error {
		for _, k := range keys {
			if err := c.Send("SET", k, value(batchValSize)); err != nil {
				return err
			}
		}
		return nil
	}, len(keys))
	mk := openBatcher(b, ctx, name, addr, g)
	op := func(w int) func() error {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = keys[(w+i)%len(keys)]
		}
		return mk(ks)
	}
	runBatched(b, name, g, n, "batches/s", op)
}

func runTx(b *testing.B, name string, g int) {
	addr := serverAddr(b)
	ctx := benchCtx(b)
	pair := func(w int) (string, string) {
		return fmt.Sprintf("bench:tx:%d:a", w), fmt.Sprintf("bench:tx:%d:b", w)
	}
	// Every run starts its counters at 0, so that each pair stays equal.
	seed(b, addr, func(c redis.Conn) error {
		for w := range g {
			k1, k2 := pair(w)
			if err := c.Send("DEL", k1, k2); err != nil {
				return err
			}
		}
		return nil
	}, g)
	mk := openTxer(b, ctx, name, addr, g)
	op := func(w int) func() error {
		k1, k2 := pair(w)
		tx := mk(k1, k2)
		return func() error {
			n1, n2, err := tx()
			if err == nil && (n1 != n2 || n1 <= 0) {
				err = fmt.Errorf("INCR %s, INCR %s in one transaction = %d, %d", k1, k2, n1, n2)
			}
			return err
		}
	}
	runBatched(b, name, g, 2, "tx/s", op)
}

// runBatched warms up with calls of op over g goroutines, then times b.N of them. Each
// call does per commands; unit names the rate of calls. The warm-up makes at least
// 2,048 calls: a batch takes one slot of respring's ring (1,024 by default) whatever
// its length, and each slot grows its buffers the first time it holds a batch.
func runBatched(b *testing.B, name string, g, per int, unit string, newOp func(w int) func() error) {
	// Each goroutine keeps its op, and so its reused Batch, commands and buffers, from
	// the warm-up to the timed run (spread calls op in one goroutine, before starting).
	ops := make([]func() error, g)
	op := func(w int) func() error {
		if ops[w] == nil {
			ops[w] = newOp(w)
		}
		return ops[w]
	}
	if err := spread(g, max(warmOpsPerSlot*g, 2048), op, nil); err != nil {
		b.Fatalf("%s: warm-up: %v", name, err)
	}
	srv := newServerCPU(b, serverAddr(b))
	b.ReportAllocs()
	runtime.GC()
	srv.begin()
	if err := spreadUnits(g, b.N, op, b, per, unit); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	srv.report(b)
}

// seed runs the commands send queues on a connection of its own and reads their n
// replies.
func seed(b *testing.B, addr string, send func(c redis.Conn) error, n int) {
	b.Helper()
	c, err := redis.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := send(c); err != nil {
		b.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	for range n {
		if _, err := c.Receive(); err != nil {
			b.Fatal(err)
		}
	}
}

// openBatcher opens client name for g goroutines. The function it returns is called
// once per goroutine with that goroutine's keys and returns the goroutine's batch: GET
// every key in one batch and check each reply's length.
func openBatcher(b *testing.B, ctx context.Context, name, addr string, g int) func(keys []string) func() error {
	b.Helper()
	check := func(key string, v []byte, err error) error {
		if err == nil && len(v) != batchValSize {
			err = fmt.Errorf("GET %s: %d bytes, want %d", key, len(v), batchValSize)
		}
		return err
	}
	switch name {
	case "respring":
		c := openRespring(b, ctx, addr)
		return func(keys []string) func() error {
			var bt driver.Batch
			futs := make([]driver.Future, 0, len(keys))
			buf := make([]byte, 0, 64)
			return func() error {
				bt.Reset()
				for _, k := range keys {
					bt.Queue("GET", k)
				}
				futs = c.SendBatch(futs[:0], &bt)
				var first error
				for i, f := range futs {
					var err error
					buf, err = f.AppendBytes(ctx, buf[:0])
					if err = check(keys[i], buf, err); err != nil && first == nil {
						first = err // read every reply even so
					}
				}
				return first
			}
		}
	case "rueidis":
		c := openRueidis(b, addr)
		return func(keys []string) func() error {
			cmds := make(rueidis.Commands, len(keys))
			for i, k := range keys {
				cmds[i] = c.B().Get().Key(k).Build().Pin()
			}
			buf := make([]byte, 0, 64)
			return func() error {
				for i, r := range c.DoMulti(ctx, cmds...) {
					s, err := r.ToString()
					buf = append(buf[:0], s...)
					if err = check(keys[i], buf, err); err != nil {
						return err
					}
				}
				return nil
			}
		}
	case "goredis":
		c := openGoredis(b, addr, g)
		return func(keys []string) func() error {
			buf := make([]byte, 0, 64)
			return func() error {
				cmds, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
					for _, k := range keys {
						p.Get(ctx, k)
					}
					return nil
				})
				if err != nil {
					return err
				}
				for i, cmd := range cmds {
					v, err := cmd.(*goredis.StringCmd).Bytes()
					buf = append(buf[:0], v...)
					if err = check(keys[i], buf, err); err != nil {
						return err
					}
				}
				return nil
			}
		}
	}
	b.Fatalf("unknown client %q", name)
	return nil
}

// openTxer opens client name for g goroutines. The function it returns is called once
// per goroutine with its two counters and returns the goroutine's transaction:
// MULTI, INCR k1, INCR k2, EXEC, returning both INCR replies.
func openTxer(b *testing.B, ctx context.Context, name, addr string, g int) func(k1, k2 string) func() (int64, int64, error) {
	b.Helper()
	switch name {
	case "respring":
		c := openRespring(b, ctx, addr)
		return func(k1, k2 string) func() (int64, int64, error) {
			var bt driver.Batch
			futs := make([]driver.Future, 0, 2)
			return func() (int64, int64, error) {
				bt.Reset()
				bt.Queue("INCR", k1)
				bt.Queue("INCR", k2)
				futs = c.SendTx(futs[:0], &bt)
				n1, err1 := futs[0].Int(ctx)
				n2, err2 := futs[1].Int(ctx) // read both replies even after an error
				if err1 != nil {
					return 0, 0, err1
				}
				return n1, n2, err2
			}
		}
	case "rueidis":
		c := openRueidis(b, addr)
		return func(k1, k2 string) func() (int64, int64, error) {
			cmds := rueidis.Commands{
				c.B().Multi().Build().Pin(),
				c.B().Incr().Key(k1).Build().Pin(),
				c.B().Incr().Key(k2).Build().Pin(),
				c.B().Exec().Build().Pin(),
			}
			return func() (int64, int64, error) {
				res := c.DoMulti(ctx, cmds...)
				for _, r := range res[:3] {
					if err := r.Error(); err != nil {
						return 0, 0, err
					}
				}
				ms, err := res[3].ToArray()
				if err != nil {
					return 0, 0, err
				}
				if len(ms) != 2 {
					return 0, 0, fmt.Errorf("EXEC: %d replies, want 2", len(ms))
				}
				n1, err := ms[0].AsInt64()
				if err != nil {
					return 0, 0, err
				}
				n2, err := ms[1].AsInt64()
				return n1, n2, err
			}
		}
	case "goredis":
		c := openGoredis(b, addr, g)
		return func(k1, k2 string) func() (int64, int64, error) {
			return func() (int64, int64, error) {
				cmds, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
					p.Incr(ctx, k1)
					p.Incr(ctx, k2)
					return nil
				})
				if err != nil {
					return 0, 0, err
				}
				if len(cmds) != 2 {
					return 0, 0, fmt.Errorf("TxPipelined: %d results, want 2", len(cmds))
				}
				return cmds[0].(*goredis.IntCmd).Val(), cmds[1].(*goredis.IntCmd).Val(), nil
			}
		}
	}
	b.Fatalf("unknown client %q", name)
	return nil
}

// The clients of the batch benchmarks, opened as openKV opens them and closed when b
// ends.

func openRespring(b *testing.B, ctx context.Context, addr string) *driver.PairedConn {
	b.Helper()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func openRueidis(b *testing.B, addr string) rueidis.Client {
	b.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func openGoredis(b *testing.B, addr string, g int) *goredis.Client {
	b.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: g, PoolTimeout: time.Minute})
	b.Cleanup(func() { c.Close() })
	return c
}
