package bench

import (
	"context"
	"fmt"
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

// openKV opens client name for conc goroutines: respring and rueidis share one
// connection (implicit pipelining); go-redis and redigo get a pool of conc
// connections, the way their users size them.
func openKV(ctx context.Context, name, addr string, conc int) (kv, error) {
	switch name {
	case "respring":
		c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr})
		if err != nil {
			return nil, err
		}
		return respringKV{c}, nil
	case "rueidis":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			return nil, err
		}
		return rueidisKV{c}, nil
	case "goredis":
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: conc, PoolTimeout: time.Minute})
		return goredisKV{c}, nil
	case "redigo":
		return redigoKV{newRedigoPool(addr, conc)}, nil
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

// redigo: redis.Pool, one connection per goroutine, borrowed for each command.
type redigoKV struct{ p *redis.Pool }

func newRedigoPool(addr string, conc int) *redis.Pool {
	return &redis.Pool{
		MaxIdle:   conc,
		MaxActive: conc,
		Wait:      true,
		Dial:      func() (redis.Conn, error) { return redis.Dial("tcp", addr) },
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
func openKVOrSkip(b *testing.B, ctx context.Context, name, addr string, conc int) kv {
	b.Helper()
	k, err := openKV(ctx, name, addr, conc)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	b.Cleanup(k.close)
	return k
}
