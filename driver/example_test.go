package driver_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/respring/respring/driver"
)

// addr is set by TestMain to a throwaway redis-server.
var addr = driver.ServerAddrForExamples

// The paired interface: one reply per command, pipelined implicitly.
func ExamplePairedConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr(), ClientName: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	// Send never waits: these three commands go out in one write.
	c.SendAndForget("SET", "greeting", "hello")
	incr := c.Send("INCRBY", "visits", 5)
	get := c.Send("GET", "greeting")

	n, err := incr.Int(ctx)
	fmt.Println(n, err)
	s, err := get.String(ctx)
	fmt.Println(s, err)
	_, err = c.Send("GET", "no-such-key").String(ctx)
	fmt.Println(errors.Is(err, driver.ErrNil))
	v, err := c.Do(ctx, "LPUSH", "greeting", "x")
	var re *driver.RedisError
	fmt.Println(v.Kind(), errors.As(err, &re), re.Code())
	c.Send("DEL", "greeting", "visits").Err(ctx)
	// Output:
	// 5 <nil>
	// hello <nil>
	// true
	// invalid true WRONGTYPE
}

// Reading a reply into a reused buffer allocates nothing.
func ExampleFuture_AppendBytes() {
	ctx := context.Background()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Send("SET", "k", []byte("0123456789abcdef")).Err(ctx)
	buf := make([]byte, 0, 64)
	buf, err = c.Send("GET", "k").AppendBytes(ctx, buf[:0])
	fmt.Printf("%s %v\n", buf, err)
	// Output:
	// 0123456789abcdef <nil>
}

// The pub/sub interface: each Subscribe gets its own stream once the server confirmed.
func ExamplePubsubConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := driver.PubsubConnect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	sub, err := p.Subscribe(ctx, "news")
	if err != nil {
		fmt.Println(err)
		return
	}
	pats, _ := p.PSubscribe(ctx, "n*")

	pub, _ := driver.PairedConnect(ctx, driver.Config{Addr: addr()})
	defer pub.Close()
	pub.Send("PUBLISH", "news", "hello subscribers").Err(ctx)

	m := <-sub.Messages()
	fmt.Printf("%s: %s\n", m.Channel, m.Payload)
	m = <-pats.Messages()
	fmt.Printf("%s via %s: %s\n", m.Channel, m.Pattern, m.Payload)
	sub.Unsubscribe(ctx)
	_, open := <-sub.Messages()
	fmt.Println(open, sub.Err())
	// Output:
	// news: hello subscribers
	// news via n*: hello subscribers
	// false <nil>
}

// The low-level interface: a full-duplex stream; the caller matches replies.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := driver.Connect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Send("CLIENT", "REPLY", "OFF") // no reply to this one
	c.Send("SET", "quiet", "1")      // nor to this one
	c.Send("CLIENT", "REPLY", "ON")  // +OK
	c.Send("GET", "quiet")
	for range 2 {
		v, err := c.Recv(ctx)
		fmt.Println(v, err)
	}
	// Output:
	// "OK" <nil>
	// "1" <nil>
}

// Send never waits for the socket: with Config.SendBuffer bytes of commands already
// waiting to be written, it refuses with ErrSendBufferFull and queues nothing. Flush
// waits until they are taken for writing; then send again.
func ExampleConn_Send() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := driver.Connect(ctx, driver.Config{Addr: addr(), SendBuffer: 64 << 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	const n = 3000 // 96 KiB of SETs; their replies fit Config.MessageBuffer (4096)
	for i := 0; i < n; i++ {
		for {
			err := c.Send("SET", "bulk", i)
			if err == nil {
				break
			}
			if !errors.Is(err, driver.ErrSendBufferFull) {
				fmt.Println(err)
				return
			}
			if err := c.Flush(ctx); err != nil {
				fmt.Println(err)
				return
			}
		}
	}
	for i := 0; i < n; i++ {
		if _, err := c.Recv(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	c.Send("GET", "bulk")
	v, err := c.Recv(ctx)
	fmt.Println(v, err)
	// Output: "2999" <nil>
}

func ExampleParseURL() {
	cfg, err := driver.ParseURL("redis://app:s3cret@cache.internal:6380/2?client_name=api")
	fmt.Println(cfg, err)
	_, err = driver.ParseURL("memcached://x")
	var ce *driver.ConfigError
	fmt.Println(errors.As(err, &ce))
	// Output:
	// respring.Config{addr=cache.internal:6380 user="app" password=<redacted> db=2 protocol=0 name="api" tls=false} <nil>
	// true
}

// A transaction on the shared connection: MULTI, the commands and EXEC go out
// contiguously, and each Future gets its command's own reply.
func ExamplePairedConn_SendTx() {
	ctx := context.Background()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	var b driver.Batch // reusable: Reset keeps its memory
	b.Queue("INCR", "tx:counter")
	b.Queue("INCR", "tx:counter")
	futs := c.SendTx(nil, &b)
	first, _ := futs[0].Int(ctx)
	second, _ := futs[1].Int(ctx)
	fmt.Println(first, second)

	// A command the server refuses to queue aborts the whole transaction.
	b.Reset()
	b.Queue("INCR", "tx:counter")
	b.Queue("INCR") // wrong number of arguments
	futs = c.SendTx(futs[:0], &b)
	fmt.Println(errors.Is(futs[0].Err(ctx), driver.ErrTxAborted))
	c.Send("DEL", "tx:counter").Err(ctx)
	// Output:
	// 1 2
	// true
}

// WATCH needs a connection of its own: Dedicated lends one from a small pool.
func ExamplePairedConn_Dedicated() {
	ctx := context.Background()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Send("SET", "balance", 10).Err(ctx)
	err = c.Dedicated(ctx, func(d *driver.DedicatedConn) error {
		d.Send("WATCH", "balance")
		n, err := d.Send("GET", "balance").Int(ctx)
		if err != nil {
			return err
		}
		var b driver.Batch
		b.Queue("SET", "balance", n-3)
		// ErrWatchConflict if another client changed balance since WATCH.
		return d.SendTx(nil, &b)[0].Err(ctx)
	})
	fmt.Println(err)
	n, _ := c.Send("GET", "balance").Int(ctx)
	fmt.Println(n)
	c.Send("DEL", "balance").Err(ctx)
	// Output:
	// <nil>
	// 7
}

// A blocking command sent on the shared connection runs on a dedicated connection of
// the pool: other callers never wait behind it.
func ExamplePairedConn_Send_blocking() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	pop := c.Send("BLPOP", "jobs", 0)         // waits for an element
	c.Send("RPUSH", "jobs", "job-1").Err(ctx) // not held up by the BLPOP
	v, err := pop.Wait(ctx)
	fmt.Println(v.Elems()[1].Text(), err)

	// Commands that would change the shared connection's state are refused.
	err = c.Send("SELECT", 1).Err(ctx)
	fmt.Println(errors.Is(err, driver.ErrNotOnSharedConn))
	fmt.Println(err)
	// Output:
	// job-1 <nil>
	// true
	// respring: SELECT is not allowed on a shared connection: use Config.DB
}

// A script runs with EVALSHA, and with EVAL the first time (NOSCRIPT).
func ExampleScript_Run() {
	ctx := context.Background()
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	add := driver.NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
	for i := 0; i < 2; i++ {
		n, err := add.Run(ctx, c, []string{"script:n"}, 20).Int(ctx)
		fmt.Println(n, err)
	}
	c.Send("DEL", "script:n").Err(ctx)
	// Output:
	// 20 <nil>
	// 40 <nil>
}
