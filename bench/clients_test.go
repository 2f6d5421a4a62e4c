package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/respring/respring/driver"
)

// kv is the work of the parallel GET/SET benchmarks, done by each client through its
// usual API. get appends the value to dst where the client's API allows it.
// Implementations are safe for concurrent use by as many goroutines as they were
// opened for.
type kv interface {
	get(ctx context.Context, key string, dst []byte) ([]byte, error)
	set(ctx context.Context, key string, val []byte, sval string) error
	close()
}

// openKV opens client name for conc goroutines: respring shares one connection
// (implicit pipelining); rueidis too, over its default of 2^PipelineMultiplex
// connections (log2 GOMAXPROCS, at most 2: 2 connections on the 2-core bench machine,
// 4 from 4 cores), each command with a key on one picked at random; go-redis and
// redigo get a pool of conc connections, the way their users size them; goredis-auto is go-redis's blocking
// autopipeliner (see newGoredisAuto). With ep.tls every client connects over TLS with
// its own clone of that configuration (respring Config.TLS, rueidis
// ClientOption.TLSConfig, go-redis Options.TLSConfig, redigo DialTLSConfig).
//
// Two variants isolate the number of connections (the large-value benchmarks take
// them with BENCH_LARGE_CONNS=1): rueidis-1conn is rueidis on one connection
// (PipelineMultiplex -1), respring-2conn two respring connections taking the
// commands in turn (no order between them: for the benchmark only).
func openKV(ctx context.Context, name string, ep endpoint, conc int) (kv, error) {
	addr := ep.addr
	switch name {
	case "respring":
		c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr, TLS: ep.tlsConf()})
		if err != nil {
			return nil, err
		}
		return respringKV{c}, nil
	case "respring-str":
		c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr, TLS: ep.tlsConf()})
		if err != nil {
			return nil, err
		}
		return respringStrKV{respringKV{c}}, nil
	case "rueidis":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, TLSConfig: ep.tlsConf()})
		if err != nil {
			return nil, err
		}
		return rueidisKV{c}, nil
	case "rueidis-1conn":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, TLSConfig: ep.tlsConf(), PipelineMultiplex: -1})
		if err != nil {
			return nil, err
		}
		return rueidisKV{c}, nil
	case "respring-2conn":
		var two respring2KV
		for i := range two.c {
			c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr, TLS: ep.tlsConf()})
			if err != nil {
				if i > 0 {
					two.c[0].close()
				}
				return nil, err
			}
			two.c[i] = respringKV{c}
		}
		return &two, nil
	case "goredis":
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: conc, PoolTimeout: time.Minute, TLSConfig: ep.tlsConf()})
		return goredisKV{c}, nil
	case "goredis-auto":
		c, ap, err := newGoredisAuto(ep, conc)
		if err != nil {
			return nil, err
		}
		return goredisAutoKV{c, ap}, nil
	case "redigo":
		return redigoKV{newRedigoPool(ep, conc)}, nil
	}
	return nil, fmt.Errorf("unknown client %q", name)
}

// respring: one PairedConn; GET reads into the caller's buffer without allocating.
type respringKV struct{ c *driver.PairedConn }

func (k respringKV) get(ctx context.Context, key string, dst []byte) ([]byte, error) {
	return k.c.Send("GET", key).AppendBytes(ctx, dst[:0])
}

func (k respringKV) set(ctx context.Context, key string, val []byte, _ string) error {
	return k.c.Send("SET", key, val).Err(ctx)
}

func (k respringKV) close() { k.c.Close() }

// respring-str: respring given the value as a string, as rueidis is: a large string
// argument is written from where it is, not copied (strings are immutable).
type respringStrKV struct{ respringKV }

func (k respringStrKV) set(ctx context.Context, key string, _ []byte, sval string) error {
	return k.c.Send("SET", key, sval).Err(ctx)
}

// rueidis: one client, command builder, client-side caching off.
type rueidisKV struct{ c rueidis.Client }

func (k rueidisKV) get(ctx context.Context, key string, dst []byte) ([]byte, error) {
	s, err := k.c.Do(ctx, k.c.B().Get().Key(key).Build()).ToString()
	return append(dst[:0], s...), err
}

func (k rueidisKV) set(ctx context.Context, key string, _ []byte, sval string) error {
	return k.c.Do(ctx, k.c.B().Set().Key(key).Value(sval).Build()).Error()
}

func (k rueidisKV) close() { k.c.Close() }

// viewer is implemented by the clients of the large-value benchmarks. getView returns
// the value of key the way the client's usual API hands it over, valid until the next
// call with the same dst: respring appends it to dst (AppendBytes into the caller's
// reused buffer, as get); the peers return the bytes they read it into, without the
// copy into dst that get makes (for a 16 MiB value that copy would be a fair part of
// their time).
type viewer interface {
	getView(ctx context.Context, key string, dst []byte) ([]byte, error)
}

func (k respringKV) getView(ctx context.Context, key string, dst []byte) ([]byte, error) {
	return k.get(ctx, key, dst)
}

// getView: AsBytes is the string rueidis read the value into, without a copy.
func (k rueidisKV) getView(ctx context.Context, key string, _ []byte) ([]byte, error) {
	return k.c.Do(ctx, k.c.B().Get().Key(key).Build()).AsBytes()
}

// getView: Bytes is the string go-redis read the value into, without a copy.
func (k goredisKV) getView(ctx context.Context, key string, _ []byte) ([]byte, error) {
	return k.c.Get(ctx, key).Bytes()
}

// go-redis: a client whose pool has one connection per goroutine.
type goredisKV struct{ c *goredis.Client }

func (k goredisKV) get(ctx context.Context, key string, dst []byte) ([]byte, error) {
	v, err := k.c.Get(ctx, key).Bytes()
	return append(dst[:0], v...), err
}

func (k goredisKV) set(ctx context.Context, key string, val []byte, _ string) error {
	return k.c.Set(ctx, key, val, 0).Err()
}

func (k goredisKV) close() { k.c.Close() }

// goredis-auto: go-redis v9's experimental autopipeliner, blocking face
// (Client.AutoPipeline): the same command API as a plain client, each call blocking
// until its reply, but the commands of concurrent callers are batched into pipelines.
type goredisAutoKV struct {
	c  *goredis.Client
	ap *goredis.AutoPipeliner
}

// newGoredisAuto opens a go-redis client for conc goroutines and its blocking
// autopipeliner, configured the way go-redis's own autopipeline benchmarks configure
// the blocking face for many goroutines: up to 80 batches of at most 300 commands in
// flight at once, on a pipeline pool of as many connections. Unordered gives up
// ordering only between commands in flight together, and a blocking caller has one in
// flight at a time, so each goroutine's commands still run in its order. Half duplex,
// as its docs advise on a loopback link (FullDuplex pays off with a network round
// trip to overlap). In single 100 ms checks on the 2-core bench machine it was the
// fastest at 512 goroutines of: the default (DefaultBlockingAutoPipelineOptions, one
// batch in flight), FullDuplex, FullDuplex with 8 engines; at 64 goroutines it and the
// default were within the noise.
//
// The autopipeliner's Pipelined and TxPipelined are the client's own (only a full-duplex
// autopipeliner runs pipelines on its shared connection), so goredis-auto takes part
// only in the benchmarks of single commands.
func newGoredisAuto(ep endpoint, conc int) (*goredis.Client, *goredis.AutoPipeliner, error) {
	const batches = 80
	c := goredis.NewClient(&goredis.Options{Addr: ep.addr, PoolSize: conc, PoolTimeout: time.Minute, PipelinePoolSize: batches, TLSConfig: ep.tlsConf()})
	ap, err := c.AutoPipelineWithOptions(&goredis.AutoPipelineOptions{MaxBatchSize: 300, MaxConcurrentBatches: batches, Unordered: true})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, ap, nil
}

func (k goredisAutoKV) get(ctx context.Context, key string, dst []byte) ([]byte, error) {
	v, err := k.ap.Get(ctx, key).Bytes()
	return append(dst[:0], v...), err
}

func (k goredisAutoKV) set(ctx context.Context, key string, val []byte, _ string) error {
	return k.ap.Set(ctx, key, val, 0).Err()
}

func (k goredisAutoKV) close() {
	k.ap.Close()
	k.c.Close()
}

// redigo: redis.Pool, one connection per goroutine, borrowed for each command.
type redigoKV struct{ p *redis.Pool }

func newRedigoPool(ep endpoint, conc int) *redis.Pool {
	return &redis.Pool{
		MaxIdle:   conc,
		MaxActive: conc,
		Wait:      true,
		Dial:      ep.dialRedigo,
	}
}

func (k redigoKV) get(ctx context.Context, key string, dst []byte) ([]byte, error) {
	c, err := k.p.GetContext(ctx)
	if err != nil {
		return dst, err
	}
	v, err := redis.Bytes(c.Do("GET", key))
	c.Close()
	return append(dst[:0], v...), err
}

func (k redigoKV) set(ctx context.Context, key string, val []byte, _ string) error {
	c, err := k.p.GetContext(ctx)
	if err != nil {
		return err
	}
	_, err = c.Do("SET", key, val)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

func (k redigoKV) close() { k.p.Close() }

// openKVOrSkip opens a client for b and closes it when b ends.
func openKVOrSkip(b *testing.B, ctx context.Context, name string, ep endpoint, conc int) kv {
	b.Helper()
	k, err := openKV(ctx, name, ep, conc)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	b.Cleanup(k.close)
	return k
}

// respring-2conn: two PairedConns, the commands alternating between them.
type respring2KV struct {
	c [2]respringKV
	n atomic.Uint32
}

func (k *respring2KV) pick() respringKV { return k.c[k.n.Add(1)&1] }
func (k *respring2KV) get(ctx context.Context, key string, dst []byte) ([]byte, error) {
	return k.pick().get(ctx, key, dst)
}
func (k *respring2KV) getView(ctx context.Context, key string, dst []byte) ([]byte, error) {
	return k.pick().get(ctx, key, dst)
}
func (k *respring2KV) set(ctx context.Context, key string, val []byte, s string) error {
	return k.pick().set(ctx, key, val, s)
}
func (k *respring2KV) close() { k.c[0].close(); k.c[1].close() }
