package driver

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

func TestPairedBasic(t *testing.T) {
	s := startServer(t)
	checkGoroutines(t)
	c := pairedTo(t, s, Config{ClientName: "basic"})
	ctx := testCtx(t, 10*time.Second)
	if c.Protocol() != 3 {
		t.Fatalf("protocol %d", c.Protocol())
	}
	if err := c.Send("SET", "k", "v1").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Send("GET", "k").String(ctx); err != nil || got != "v1" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	if _, err := c.Send("GET", "missing").String(ctx); !errors.Is(err, ErrNil) {
		t.Fatalf("GET missing: %v", err)
	}
	if n, err := c.Send("INCR", "n").Int(ctx); err != nil || n != 1 {
		t.Fatalf("INCR = %d, %v", n, err)
	}
	// Int converts string replies the way Redis reads integers, and nothing else.
	c.Send("MSET", "num", "-42", "padded", "007", "word", "x").Err(ctx)
	if n, err := c.Send("GET", "num").Int(ctx); err != nil || n != -42 {
		t.Fatalf("Int of \"-42\" = %d, %v", n, err)
	}
	for _, k := range []string{"padded", "word"} {
		var te *TypeError
		if _, err := c.Send("GET", k).Int(ctx); !errors.As(err, &te) || te.Got != parser.BulkString {
			t.Fatalf("Int of %s: %v, want *TypeError", k, err)
		}
	}
	var te *TypeError
	if _, err := c.Send("LRANGE", "nolist", 0, -1).String(ctx); !errors.As(err, &te) || te.Want != "string" {
		t.Fatalf("String of an array: %v", err)
	}
	err := c.Send("LPUSH", "k", "x").Err(ctx)
	var re *RedisError
	if !errors.As(err, &re) || re.Code() != "WRONGTYPE" {
		t.Fatalf("LPUSH on a string: %v", err)
	}
	v, err := c.Do(ctx, "HGETALL", "nohash")
	if err != nil || len(v.Elems()) != 0 {
		t.Fatalf("HGETALL = %v, %v", v, err)
	}
	// Pipelining: many sends, then waits in reverse order.
	var fs []Future
	for i := 0; i < 500; i++ {
		fs = append(fs, c.Send("ECHO", fmt.Sprint("m", i)))
	}
	for i := len(fs) - 1; i >= 0; i-- {
		if got, err := fs[i].String(ctx); err != nil || got != fmt.Sprint("m", i) {
			t.Fatalf("ECHO %d = %q, %v", i, got, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("PING").Err(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}
