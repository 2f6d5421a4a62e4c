package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/respring/respring/driver"
)

// Pub/sub receive rate: one subscription on one channel, fed by a publisher that
// pipelines PUBLISH (16-byte payloads) on its own raw connection. The publisher is the
// same for every client and keeps at most psWindow messages unreceived, so the
// server's output buffer for the subscriber never nears its limit and no client's
// slow-consumer policy comes into play. b.N counts messages; msgs/s is the rate at
// which the subscriber's loop received them; cpu-ns/op is the process's CPU time per
// message (the subscriber, and the publisher's few write calls); srv-cpu-ns/op the
// server's.

const (
	psWindow  = 2048 // messages published and not yet received, at most
	psBatch   = 128  // PUBLISH commands per write
	psPayload = 16
)

var psSeq atomic.Int64

// psClients are the Go clients plus "raw", the ceiling: a subscriber on a bare socket
// that parses nothing (see subscribeRaw). What the raw reader gets is what the server
// can deliver on this machine; no client can receive faster.
var psClients = append(slices.Clone(clients), "raw")

func BenchmarkPubsub(b *testing.B) {
	for _, name := range psClients {
		b.Run(fmt.Sprintf("%s/client=%s", sizeName(psPayload), name), func(b *testing.B) {
			addr := serverAddr(b)
			ctx, cancel := context.WithTimeout(benchCtx(b), 2*time.Minute)
			defer cancel()
			channel := fmt.Sprintf("bench:ps:%s:%d", name, psSeq.Add(1))
			var recv atomic.Int64
			progress := make(chan struct{}, 1)
			done := make(chan struct{})
			n := int64(b.N)
			onMessage := func() {
				c := recv.Add(1)
				if c%32 == 0 || c == n {
					select {
					case progress <- struct{}{}:
					default:
					}
				}
				if c == n {
					close(done)
				}
			}
			stop := subscribe(b, ctx, name, addr, channel, onMessage)
			defer stop()
			pub := newPublisher(b, addr, channel)
			defer pub.close()
			pub.waitSubscribers(b, ctx)
			srv := newServerCPU(b, addr)
			b.ReportAllocs()
			srv.begin()
			b.ResetTimer()
			cpu0 := cpuTime()
			if err := pub.run(ctx, n, &recv, progress); err != nil {
				b.Fatalf("%s: publisher: %v (received %d of %d)", name, err, recv.Load(), n)
			}
			select {
			case <-done:
			case <-ctx.Done():
				b.Fatalf("%s: received %d of %d messages", name, recv.Load(), n)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			srv.report(b)
		})
	}
}

// subscribe subscribes client name to channel, calls onMessage for each message from
// the client's own receive loop, and returns a function that ends the subscription.
func subscribe(b *testing.B, ctx context.Context, name, addr, channel string, onMessage func()) (stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(ctx)
	switch name {
	case "respring":
		p, err := driver.PubsubConnect(ctx, driver.Config{Addr: addr})
		if err != nil {
			b.Fatal(err)
		}
		s, err := p.Subscribe(ctx, channel)
		if err != nil {
			b.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for range s.Messages() {
				onMessage()
			}
		}()
		return func() { cancel(); p.Close(); <-ended }
	case "rueidis":
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			_ = c.Receive(ctx, c.B().Subscribe().Channel(channel).Build(), func(rueidis.PubSubMessage) { onMessage() })
		}()
		return func() { cancel(); <-ended; c.Close() }
	case "goredis":
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		ps := c.Subscribe(ctx, channel)
		if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
			b.Fatal(err)
		}
		ch := ps.Channel()
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for range ch {
				onMessage()
			}
		}()
		return func() { cancel(); ps.Close(); <-ended; c.Close() }
	case "redigo":
		conn, err := redis.DialContext(ctx, "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		psc := redis.PubSubConn{Conn: conn}
		if err := psc.Subscribe(channel); err != nil {
			b.Fatal(err)
		}
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for {
				switch psc.Receive().(type) {
				case redis.Message:
					onMessage()
				case error:
					return
				}
			}
		}()
		return func() { cancel(); conn.Close(); <-ended }
	case "raw":
		return subscribeRaw(b, ctx, cancel, addr, channel, onMessage)
	}
	b.Fatalf("unknown client %q", name)
	return nil
}

// subscribeRaw subscribes on a bare TCP connection and counts messages by their size,
// which is fixed (one channel, one payload), checking every byte against the expected
// frame instead of parsing: the least work a subscriber can do, so the rate it gets is
// the server's ceiling on this machine. A byte that differs stops the count (the
// benchmark then fails on its timeout).
func subscribeRaw(b *testing.B, ctx context.Context, cancel context.CancelFunc, addr, channel string, onMessage func()) (stop func()) {
	b.Helper()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	payload := string(value(psPayload))
	frame := []byte(fmt.Sprintf("*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(channel), channel, len(payload), payload))
	confirm := fmt.Sprintf("*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n", len(channel), channel)
	if _, err := fmt.Fprintf(nc, "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n", len(channel), channel); err != nil {
		b.Fatal(err)
	}
	got := make([]byte, len(confirm))
	if _, err := io.ReadFull(nc, got); err != nil || string(got) != confirm {
		b.Fatalf("raw SUBSCRIBE: %q, %v", got, err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		buf := make([]byte, 64<<10)
		pos := 0 // offset in frame of the next byte
		for {
			n, err := nc.Read(buf)
			for data := buf[:n]; len(data) > 0; {
				k := min(len(data), len(frame)-pos)
				if !bytes.Equal(data[:k], frame[pos:pos+k]) {
					return
				}
				data, pos = data[k:], pos+k
				if pos == len(frame) {
					pos = 0
					onMessage()
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return func() { cancel(); nc.Close(); <-ended }
}

// publisher writes pipelined PUBLISH commands on a raw connection; a goroutine reads
// and drops the replies.
type publisher struct {
	nc      net.Conn
	channel string
	batch   []byte // psBatch PUBLISH commands
	one     []byte // one PUBLISH command
	drained chan struct{}
}

func newPublisher(b *testing.B, addr, channel string) *publisher {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	p := &publisher{nc: nc, channel: channel, drained: make(chan struct{})}
	payload := string(value(psPayload))
	p.one = fmt.Appendf(nil, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(channel), channel, len(payload), payload)
	for range psBatch {
		p.batch = append(p.batch, p.one...)
	}
	go func() {
		defer close(p.drained)
		_, _ = io.Copy(io.Discard, nc)
	}()
	return p
}

// waitSubscribers polls PUBSUB NUMSUB on a connection of its own until the channel
// has a subscriber.
func (p *publisher) waitSubscribers(b *testing.B, ctx context.Context) {
	b.Helper()
	conn, err := redis.DialContext(ctx, "tcp", p.nc.RemoteAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for {
		v, err := redis.Values(conn.Do("PUBSUB", "NUMSUB", p.channel))
		if err != nil {
			b.Fatal(err)
		}
		if len(v) == 2 {
			if n, _ := redis.Int(v[1], nil); n > 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			b.Fatal("no subscriber showed up")
		case <-time.After(time.Millisecond):
		}
	}
}

// run publishes n messages, keeping at most psWindow of them unreceived.
func (p *publisher) run(ctx context.Context, n int64, recv *atomic.Int64, progress <-chan struct{}) error {
	var sent int64
	for sent < n {
		k := min(int64(psBatch), n-sent)
		for sent+k-recv.Load() > psWindow {
			select {
			case <-progress:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		buf := p.batch
		if k < psBatch {
			buf = p.batch[:int(k)*len(p.one)]
		}
		if _, err := p.nc.Write(buf); err != nil {
			return err
		}
		sent += k
	}
	return nil
}

func (p *publisher) close() {
	p.nc.Close()
	<-p.drained
}
