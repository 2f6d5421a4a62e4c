package driver

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestScriptFallbackAndErrors(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 10*time.Second)
	incrBy := NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
	s.MustDo("CONFIG", "RESETSTAT")
	for i, want := range []int64{5, 10, 15} {
		if n, err := incrBy.Run(ctx, c, []string{"n"}, 5).Int(ctx); err != nil || n != want {
			t.Fatalf("run %d: %d, %v", i, n, err)
		}
		if i == 1 {
			s.MustDo("SCRIPT", "FLUSH") // the next run gets NOSCRIPT and falls back to EVAL
		}
	}
	stats := s.MustDo("INFO", "commandstats").Text()
	if !strings.Contains(stats, "cmdstat_eval:calls=2,") || !strings.Contains(stats, "cmdstat_evalsha:calls=3,") {
		t.Fatalf("want EVAL twice (first run, after the flush) and EVALSHA 3 times:\n%s", stats)
	}
	// An error raised by the script is the Future's *RedisError; it ran once.
	boom := NewScript("redis.call('INCR', KEYS[1]); return redis.error_reply('BOOM it failed')")
	var re *RedisError
	if err := boom.Run(ctx, c, []string{"runs"}).Err(ctx); !errors.As(err, &re) || re.Code() != "BOOM" {
		t.Fatalf("script error: %v", err)
	}
	if n, _ := c.Send("GET", "runs").Int(ctx); n != 1 {
		t.Fatalf("the failing script ran %d times", n)
	}
	// On a dedicated connection too.
	err := c.Dedicated(ctx, func(d *DedicatedConn) error {
		n, err := incrBy.Run(ctx, d, []string{"n"}, 1).Int(ctx)
		if n != 16 {
			t.Errorf("dedicated run: %d", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
