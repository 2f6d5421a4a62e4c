package driver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// 64 goroutines push their batches of 10 RPUSHes to one shared list: the list shows
// each batch's elements back to back, in order, with no foreign element between them.
// Interleaving on the wire would break that.
func TestSendBatchContiguous(t *testing.T) {
	checkGoroutines(t)
	c, ctx := freshConn(t, Config{}, 60*time.Second)
	const workers, batches, size = 64, 30, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b Batch
			var futs []Future
			for i := 0; i < batches; i++ {
				b.Reset()
				for j := 0; j < size; j++ {
					b.Queue("RPUSH", "shared", fmt.Sprintf("%d:%d:%d", g, i, j))
				}
				futs = c.SendBatch(futs[:0], &b)
				if len(futs) != size {
					errs <- fmt.Errorf("%d futures", len(futs))
					return
				}
				for _, f := range futs {
					if _, err := f.Int(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, err := c.Do(ctx, "LRANGE", "shared", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	elems := v.Elems()
	if len(elems) != workers*batches*size {
		t.Fatalf("%d elements", len(elems))
	}
	for k := 0; k < len(elems); k += size {
		head := strings.Split(elems[k].Text(), ":")
		for j := 0; j < size; j++ {
			want := head[0] + ":" + head[1] + ":" + strconv.Itoa(j)
			if got := elems[k+j].Text(); got != want {
				t.Fatalf("element %d = %q, want %q: batches interleaved", k+j, got, want)
			}
		}
	}
}

// The scenario of the issue: 16 goroutines run transactions of two INCRs while 16 do
// SET/GET on the same PairedConn. Each transaction's INCRs get consecutive values, and
// every GET reads its own goroutine's SET.
func TestSendTxUnderSharedLoad(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 60*time.Second)
	const each, rounds = 16, 500
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for g := 0; g < each; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			var b Batch
			var futs []Future
			for i := 0; i < rounds; i++ {
				b.Reset()
				b.Queue("INCR", "counter")
				b.Queue("INCR", "counter")
				futs = c.SendTx(futs[:0], &b)
				a, err1 := futs[0].Int(ctx)
				z, err2 := futs[1].Int(ctx)
				if err1 != nil || err2 != nil || z != a+1 {
					errs <- fmt.Errorf("transaction: %d, %d (%v, %v)", a, z, err1, err2)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			key := "k" + strconv.Itoa(g)
			for i := 0; i < rounds; i++ {
				val := strconv.Itoa(i)
				set := c.Send("SET", key, val)
				get := c.Send("GET", key)
				if s, err := set.String(ctx); err != nil || s != "OK" {
					errs <- fmt.Errorf("SET: %q, %v", s, err)
					return
				}
				if s, err := get.String(ctx); err != nil || s != val {
					errs <- fmt.Errorf("GET: %q, %v, want %q", s, err, val)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := c.Send("GET", "counter").Int(ctx); err != nil || n != 2*each*rounds {
		t.Fatalf("counter = %d, %v", n, err)
	}
}

func TestSendTxOutcomes(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 10*time.Second)
	var b Batch

	// A command refused at queuing (wrong arity): nothing runs, every Future says why.
	b.Queue("SET", "a", "1")
	b.Queue("INCR") // wrong number of arguments
	b.Queue("SET", "b", "1")
	futs := c.SendTx(nil, &b)
	for i, f := range futs {
		err := f.Err(ctx)
		var te *TxError
		if !errors.Is(err, ErrTxAborted) || !errors.As(err, &te) {
			t.Fatalf("future %d: %v, want ErrTxAborted", i, err)
		}
		if te.Exec == nil || te.Exec.Code() != "EXECABORT" || te.Queued[1] == nil || te.Queued[0] != nil {
			t.Fatalf("TxError = %+v", te)
		}
		if !strings.Contains(err.Error(), "wrong number of arguments") {
			t.Fatalf("error lacks the reason: %v", err)
		}
	}
	if n, _ := c.Send("EXISTS", "a", "b").Int(ctx); n != 0 {
		t.Fatalf("an aborted transaction ran: %d keys", n)
	}

	// An error inside EXEC belongs to its own command; the others succeed.
	b.Reset()
	b.Queue("SET", "s", "text")
	b.Queue("INCR", "s")
	b.Queue("GET", "s")
	futs = c.SendTx(futs[:0], &b)
	if v, err := futs[0].String(ctx); err != nil || v != "OK" {
		t.Fatalf("SET: %q, %v", v, err)
	}
	var re *RedisError
	if err := futs[1].Err(ctx); !errors.As(err, &re) || re.Code() != "ERR" {
		t.Fatalf("INCR of text: %v", err)
	}
	if v, err := futs[2].String(ctx); err != nil || v != "text" {
		t.Fatalf("GET: %q, %v", v, err)
	}

	// Futures can be read in any order and more than once; the connection is back to
	// one reply per command after it.
	if v, err := futs[2].String(ctx); err != nil || v != "text" {
		t.Fatalf("GET again: %q, %v", v, err)
	}
	if v, err := c.Do(ctx, "PING"); err != nil || v.Text() != "PONG" {
		t.Fatalf("PING after the transactions: %v, %v", v, err)
	}

	// Session commands inside a transaction fail it before anything is written.
	b.Reset()
	b.Queue("SET", "x", "1")
	b.Queue("SELECT", 2)
	for _, f := range c.SendTx(futs[:0], &b) {
		if err := f.Err(ctx); !errors.Is(err, ErrNotOnSharedConn) {
			t.Fatalf("SELECT in a transaction: %v", err)
		}
	}
	if n, _ := c.Send("EXISTS", "x").Int(ctx); n != 0 {
		t.Fatal("a refused transaction was sent")
	}
	if got := c.SendTx(futs[:0], new(Batch)); len(got) != 0 {
		t.Fatalf("empty transaction: %d futures", len(got))
	}
}

// A batch far longer than the ring goes through, and its Futures are read after many
// later commands reused the ring (the result stays parked until every part was read).
func TestSendBatchLongerThanRing(t *testing.T) {
	c, ctx := freshConn(t, Config{RingSize: 8}, 20*time.Second)
	var b Batch
	for i := 0; i < 1000; i++ {
		b.Queue("SET", "k"+strconv.Itoa(i), i)
	}
	for _, f := range c.SendBatch(nil, &b) {
		if err := f.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b.Reset()
	for i := 0; i < 1000; i++ {
		b.Queue("GET", "k"+strconv.Itoa(i))
	}
	futs := c.SendBatch(nil, &b)
	if n, err := futs[0].Int(ctx); err != nil || n != 0 {
		t.Fatalf("first GET: %d, %v", n, err)
	}
	for i := 0; i < 100; i++ { // reuse the ring's slots many times over
		if err := c.Send("PING").Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range futs[1:] {
		if n, err := f.Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("GET %d after reuse: %d, %v", i+1, n, err)
		}
	}
	// A part read twice after reuse is expired, never another command's reply.
	if _, err := futs[5].Int(ctx); !errors.Is(err, ErrExpired) {
		t.Fatalf("part read again after reuse: %v, want ErrExpired", err)
	}
}

func TestBatchArgumentAndRefusal(t *testing.T) {
	c, ctx := freshConn(t, Config{}, 10*time.Second)
	var b Batch
	b.Queue("SET", "a", "1")
	b.Queue("SET", "b", struct{}{}) // cannot be encoded
	for _, f := range c.SendBatch(nil, &b) {
		if err := f.Err(ctx); err == nil || errors.Is(err, ErrNotOnSharedConn) {
			t.Fatalf("bad argument: %v", err)
		}
	}
	b.Reset()
	b.Queue("SET", "a", "1")
	b.Queue("BLPOP", "q", 0)
	for _, f := range c.SendBatch(nil, &b) {
		if err := f.Err(ctx); !errors.Is(err, ErrNotOnSharedConn) || !strings.Contains(err.Error(), "BLPOP") {
			t.Fatalf("blocking command in a batch: %v", err)
		}
	}
	if n, _ := c.Send("EXISTS", "a").Int(ctx); n != 0 {
		t.Fatal("a refused batch was sent")
	}
}
