package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

// A batch is split by node and its Futures come back in the caller's order; a
// cross-slot command fails alone. A transaction needs one slot; it runs on the slot's
// node, and when the slot moved (MOVED) or is being migrated (ASK) it is sent again,
// whole and once, to the right node.
func TestBatchAndTx(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)

	var b driver.Batch
	for i := 0; i < 30; i++ {
		b.Queue("SET", "b:"+strconv.Itoa(i), i)
	}
	b.Queue("MSET", "x", 1, "y", 2) // cross-slot
	for i := 0; i < 30; i++ {
		b.Queue("GET", "b:"+strconv.Itoa(i))
	}
	fs := c.SendBatch(nil, &b)
	if len(fs) != 61 {
		t.Fatalf("%d Futures", len(fs))
	}
	for i := 0; i < 30; i++ {
		if err := fs[i].Err(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := fs[31+i].Int(ctx); err != nil || n != int64(i) {
			t.Fatalf("GET b:%d = %d, %v", i, n, err)
		}
	}
	if err := fs[30].Err(ctx); !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("cross-slot command in a batch: %v", err)
	}

	var tx driver.Batch
	tx.Queue("INCR", "{tx}a")
	tx.Queue("INCRBY", "{tx}b", 10)
	tx.Queue("PING")
	runTx := func(want int64) {
		t.Helper()
		fs := c.SendTx(nil, &tx)
		if n, err := fs[0].Int(ctx); err != nil || n != want {
			t.Fatalf("tx INCR = %d, %v; want %d", n, err, want)
		}
		if n, err := fs[1].Int(ctx); err != nil || n != 10*want {
			t.Fatalf("tx INCRBY = %d, %v; want %d", n, err, 10*want)
		}
		if s, err := fs[2].String(ctx); err != nil || s != "PONG" {
			t.Fatalf("tx PING = %q, %v", s, err)
		}
	}
	runTx(1)
	var cross driver.Batch
	cross.Queue("INCR", "a")
	cross.Queue("INCR", "b")
	for _, f := range c.SendTx(nil, &cross) {
		if err := f.Err(ctx); !errors.Is(err, ErrCrossSlot) {
			t.Fatalf("cross-slot transaction: %v", err)
		}
	}

	// Migrate the slot: during the migration the keys still on the source are
	// served there; a transaction on keys already moved gets ASK.
	slot := KeySlotString("{tx}a")
	s := strconv.Itoa(slot)
	src, dst := srcDst(t, cl, slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
	src.MustDo("MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS", "{tx}a", "{tx}b")
	asked := c.Stats().Asked
	runTx(2)
	if c.Stats().Asked == asked {
		t.Fatal("no ASK during the migration")
	}
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	moved := c.Stats().Moved
	runTx(3) // the client's map still says src: MOVED, then the whole tx again
	if c.Stats().Moved == moved {
		t.Fatal("no MOVED after the migration")
	}
	runTx(4)
	if got := dst.MustDo("GET", "{tx}a").Text(); got != "4" {
		t.Fatalf("{tx}a = %q on the new owner, want 4: each transaction ran once", got)
	}
}

// Blocking commands and dedicated connections go to the node of their key's slot.
func TestBlockingAndDedicated(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{})
	ctx := testCtx(t, 20*time.Second)
	f := c.Send("BLPOP", "{q}list", 5)
	time.Sleep(50 * time.Millisecond)
	if err := c.Send("RPUSH", "{q}list", "job").Err(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := f.Wait(ctx)
	if err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "job" {
		t.Fatalf("BLPOP = %v, %v", v, err)
	}
	err = c.Dedicated(ctx, "{acct}", func(d *driver.DedicatedConn) error {
		if err := d.Send("WATCH", "{acct}balance").Err(ctx); err != nil {
			return err
		}
		var tx driver.Batch
		tx.Queue("INCRBY", "{acct}balance", 5)
		fs := d.SendTx(nil, &tx)
		_, err := fs[0].Int(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Send("GET", "{acct}balance").Int(ctx); err != nil || n != 5 {
		t.Fatalf("balance = %d, %v", n, err)
	}
}

// A multi-key command whose keys are split by a migration in progress gets TRYAGAIN
// (proof it did not run): it is retried with backoff, and once the migration ends
// the retry reaches the new owner (MOVED) and succeeds.
func TestTryAgainRetried(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	if err := c.Send("MSET", "{try}a", "1", "{try}b", "2").Err(ctx); err != nil {
		t.Fatal(err)
	}
	slot := KeySlotString("{try}a")
	s := strconv.Itoa(slot)
	src, dst := srcDst(t, cl, slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
	src.MustDo("MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS", "{try}a")
	// Half of the keys moved: MGET gets TRYAGAIN until the rest follow.
	if v := src.MustDo("MGET", "{try}a", "{try}b"); !v.IsError() || !strings.HasPrefix(v.Text(), "TRYAGAIN") {
		t.Fatalf("the source answered %v, want TRYAGAIN", v)
	}
	f := c.Send("MGET", "{try}a", "{try}b")
	time.Sleep(100 * time.Millisecond)
	src.MustDo("MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS", "{try}b")
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	v, err := f.Wait(ctx)
	if err != nil || len(v.Elems()) != 2 || v.Elems()[0].Text() != "1" || v.Elems()[1].Text() != "2" {
		t.Fatalf("MGET = %v, %v", v, err)
	}
	if st := c.Stats(); st.Retried == 0 {
		t.Fatalf("no retry: %+v", st)
	}
}

// A batch that one node's connection would refuse whole (here for its BLPOP) is
// refused whole across the cluster too: no node's part of it runs.
func TestBatchRefusedWhole(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	var b driver.Batch
	keys := []string{"rw:a", "rw:b", "rw:c", "rw:d", "rw:e", "rw:f"} // over several nodes
	for _, k := range keys {
		b.Queue("SET", k, "1")
	}
	b.Queue("BLPOP", "rw:list", 0)
	fs := c.SendBatch(nil, &b)
	for i, f := range fs {
		var ns *driver.NotOnSharedConnError
		if err := f.Err(ctx); !errors.As(err, &ns) {
			t.Fatalf("command %d of a batch with BLPOP: %v, want a *NotOnSharedConnError", i, err)
		}
	}
	for _, k := range keys {
		if v, err := c.Do(ctx, "EXISTS", k); err != nil || v.Int() != 0 {
			t.Fatalf("EXISTS %s after the refused batch: %v, %v; want 0", k, v, err)
		}
	}
}

// A MOVED reply inside Dedicated is not followed (fn may have done something on the
// node already): fn's error holds it. The map is updated from it before Dedicated
// returns, so the next Dedicated runs on the slot's new master, with no refresh: for
// a MOVED that fn returns as it is (WATCH refused), and for one inside a *TxError
// (a command the node would not queue).
func TestDedicatedLearnsMoved(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	move := func(key string) *redistest.Server {
		t.Helper()
		slot := KeySlotString(key)
		s := strconv.Itoa(slot)
		src, dst := srcDst(t, cl, slot)
		dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
		src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
		src.MustDo("MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS", key)
		for _, m := range cl.Masters() {
			m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
		}
		return dst
	}
	firstErr := func(fs []driver.Future) error {
		for _, f := range fs {
			if err := f.Err(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	watchIncr := func(d *driver.DedicatedConn) error {
		if err := d.Send("WATCH", "{ded}n").Err(ctx); err != nil {
			return err
		}
		var tx driver.Batch
		tx.Queue("INCR", "{ded}n")
		return firstErr(d.SendTx(nil, &tx))
	}
	txOnly := func(d *driver.DedicatedConn) error {
		var tx driver.Batch
		tx.Queue("INCR", "{ded}n")
		return firstErr(d.SendTx(nil, &tx))
	}
	var typedNil *driver.RedisError
	if Moved(nil) || Moved(driver.ErrWatchConflict) || Moved(driver.ErrConnLost) || Moved(typedNil) || Moved(fmt.Errorf("x: %w", typedNil)) {
		t.Fatal("Moved of an error with no MOVED")
	}
	for i, fn := range []func(*driver.DedicatedConn) error{watchIncr, txOnly} {
		if err := c.Dedicated(ctx, "{ded}n", fn); err != nil {
			t.Fatalf("round %d: before the move: %v", i, err)
		}
		dst := move("{ded}n")
		err := c.Dedicated(ctx, "{ded}n", fn)
		var re *driver.RedisError
		if i == 1 {
			var te *driver.TxError
			if errors.As(err, &te) && len(te.Queued) == 1 {
				re = te.Queued[0]
			}
		} else {
			errors.As(err, &re)
		}
		if re == nil || re.Code() != "MOVED" {
			t.Fatalf("round %d: after the move: %v, want a MOVED reply", i, err)
		}
		if !Moved(err) || !Moved(fmt.Errorf("fn: %w", err)) {
			t.Fatalf("round %d: Moved(%v) = false", i, err)
		}
		if err := c.Dedicated(ctx, "{ded}n", fn); err != nil || Moved(err) {
			t.Fatalf("round %d: Dedicated again: %v", i, err)
		}
		if got, want := dst.MustDo("GET", "{ded}n").Text(), strconv.Itoa(2*i+2); got != want {
			t.Fatalf("round %d: {ded}n = %q on the new owner, want %s", i, got, want)
		}
	}
}

// With cluster-preferred-endpoint-type unknown-endpoint a MOVED names no host
// ("MOVED 3999 :7001"): Dedicated then waits for the refresh it asks for, so that
// calling it again runs fn on the slot's new master.
func TestDedicatedLearnsMovedUnknownEndpoint(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0, "--cluster-preferred-endpoint-type", "unknown-endpoint")
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	key := "{dedue}n"
	incr := func(d *driver.DedicatedConn) error { return d.Send("INCR", key).Err(ctx) }
	if err := c.Dedicated(ctx, key, incr); err != nil {
		t.Fatal(err)
	}
	slot := KeySlotString(key)
	src, dst := srcDst(t, cl, slot)
	src.MustDo("DEL", key) // a node gives no slot away while it holds keys of it
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "NODE", dst.NodeID())
	}
	err := c.Dedicated(ctx, key, incr)
	var re *driver.RedisError
	if !errors.As(err, &re) || !Moved(err) || !strings.Contains(re.Error(), " :") {
		t.Fatalf("after the move: %v, want a MOVED with no host", err)
	}
	if err := c.Dedicated(ctx, key, incr); err != nil {
		t.Fatalf("Dedicated again: %v", err)
	}
	if got := dst.MustDo("GET", key).Text(); got != "1" {
		t.Fatalf("the new owner holds %q, want 1", got)
	}
}

// asRedisError is an error of a caller's own that is not a wrapper but converts to a
// *driver.RedisError through an As method, as errors.As allows.
type asRedisError struct{ re *driver.RedisError }

func (e asRedisError) Error() string { return "fn: " + e.re.Error() }
func (e asRedisError) As(target any) bool {
	if p, ok := target.(**driver.RedisError); ok {
		*p = e.re
		return true
	}
	return false
}

// Moved finds a MOVED behind an As method as errors.As would, and nothing where As
// yields some other reply's error. The replies come from a standalone server (a Lua
// error reply carries any text).
func TestMovedThroughAs(t *testing.T) {
	s := redistest.Start(t)
	ctx := testCtx(t, 10*time.Second)
	c, err := driver.PairedConnect(ctx, driver.Config{Addr: s.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply := func(msg string) *driver.RedisError {
		err := c.Send("EVAL", "return redis.error_reply(ARGV[1])", 0, msg).Err(ctx)
		var re *driver.RedisError
		if !errors.As(err, &re) {
			t.Fatalf("EVAL error_reply %q: %v, want a *driver.RedisError", msg, err)
		}
		return re
	}
	moved, other := reply("MOVED 3999 127.0.0.1:7001"), reply("ERR not moved")
	if !Moved(asRedisError{moved}) || !Moved(fmt.Errorf("wrapped: %w", asRedisError{moved})) {
		t.Fatal("Moved missed a MOVED behind an As method")
	}
	if Moved(asRedisError{other}) || Moved(errors.Join(asRedisError{other}, driver.ErrConnLost)) {
		t.Fatal("Moved found a MOVED where As yields another error")
	}
	var got []string
	eachRedisError(errors.Join(asRedisError{other}, moved), 0, func(re *driver.RedisError) { got = append(got, re.Code()) })
	if strings.Join(got, ",") != "ERR,MOVED" {
		t.Fatalf("eachRedisError visited %v, want ERR,MOVED", got)
	}
}
