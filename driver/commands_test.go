package driver

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		args []any
		want cmdClass
	}{
		{[]any{"GET", "k"}, clsPlain},
		{[]any{"set", "k", "v"}, clsPlain},
		{[]any{"blpop", "q", 0}, clsBlocking},
		{[]any{[]byte("BzPoPmIn"), "z", 1}, clsBlocking},
		{[]any{"XREAD", "COUNT", 1, "STREAMS", "s", "0"}, clsPlain},
		{[]any{"XREAD", "block", 0, "STREAMS", "s", "$"}, clsBlocking},
		{[]any{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}, clsPlain},
		{[]any{"XREADGROUP", "GROUP", "g", "c", []byte("BLOCK"), 5, "STREAMS", "s", ">"}, clsBlocking},
		{[]any{"XREAD", "STREAMS", "block", "0"}, clsPlain},                                          // a stream named block
		{[]any{"XREADGROUP", "GROUP", "STREAMS", "c", "BLOCK", 0, "STREAMS", "s", ">"}, clsBlocking}, // a group named STREAMS
		{[]any{"XREADGROUP", "GROUP", "g", []byte("streams"), "BLOCK", 0, "STREAMS", "s", ">"}, clsBlocking},
		{[]any{"XREAD", "COUNT", "STREAMS", "STREAMS", "s", "$"}, clsPlain},            // COUNT's value (refused)
		{[]any{"XREAD", "NEWOPTION", 1, "BLOCK", 0, "STREAMS", "s", "$"}, clsBlocking}, // not known here: the pool
		{[]any{"XREADGROUP", "NOACK", "GROUP", "g", "c", "STREAMS", "s", ">"}, clsPlain},
		{[]any{"WAIT", 1, 0}, clsBlocking},
		{[]any{"watch", "k"}, clsWatch},
		{[]any{"SELECT", 1}, clsSession},
		{[]any{"HELLO"}, clsPlain},
		{[]any{"HELLO", 3}, clsSession},
		{[]any{"client", "reply", "off"}, clsReply},
		{[]any{"CLIENT", "TRACKING", "on"}, clsSession},
		{[]any{"CLIENT", "ID"}, clsPlain},
		{[]any{"CLIENT"}, clsPlain},
		{[]any{"Multi"}, clsSession},
		{[]any{"ssubscribe", "c"}, clsSession},
		{[]any{"MONITOR"}, clsSession},
		{[]any{}, clsEmpty},
		{[]any{42}, clsPlain},
		{[]any{"averyveryverylongcommandname"}, clsPlain},
	}
	for _, c := range cases {
		if got, _ := classify(c.args); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.args, got, c.want)
		}
	}
}

// The table agrees with the server: every command COMMAND INFO flags "blocking" is a
// blocking command of the table, and every blocking command of the table that the
// server knows is flagged blocking, except WAIT and WAITAOF, which block the caller
// without the flag (they wait for replicas).
func TestCommandTableMatchesServer(t *testing.T) {
	s := startServer(t)
	all := s.MustDo("COMMAND")
	flagged := map[string]bool{}
	known := map[string]bool{}
	for _, cmd := range all.Elems() {
		e := cmd.Elems()
		name := strings.ToLower(e[0].Text())
		known[name] = true
		for _, f := range e[2].Elems() {
			if f.Text() == "blocking" {
				flagged[name] = true
			}
		}
	}
	for name := range flagged {
		if info, ok := commandTable[name]; !ok || info.class != clsBlocking {
			t.Errorf("server flags %s blocking; the table does not", name)
		}
	}
	for name, info := range commandTable {
		if !known[name] {
			t.Logf("%s: not known to this server", name)
			continue
		}
		if info.class == clsBlocking && !flagged[name] && name != "wait" && name != "waitaof" {
			t.Errorf("table says %s blocks; the server does not flag it", name)
		}
	}
}

// Each refused command fails with ErrNotOnSharedConn naming what to use instead, and
// nothing of it reaches the server (its commandstats stay empty).
func TestRefusedCommandsNeverSent(t *testing.T) {
	s := startServer(t)
	c := pairedTo(t, s, Config{})
	defer c.Close()
	ctx := testCtx(t, 10*time.Second)
	s.MustDo("CONFIG", "RESETSTAT") // forget the handshake's HELLO
	refused := [][]any{
		{"SELECT", 1}, {"select", 1}, {"AUTH", "x"}, {"HELLO", 2}, {"RESET"}, {"QUIT"},
		{"CLIENT", "REPLY", "OFF"}, {"client", "tracking", "on"}, {"CLIENT", "SETNAME", "x"},
		{"MULTI"}, {"EXEC"}, {"DISCARD"}, {"WATCH", "k"}, {"UNWATCH"},
		{"SUBSCRIBE", "c"}, {"PSUBSCRIBE", "c*"}, {"SSUBSCRIBE", "c"},
		{"UNSUBSCRIBE"}, {"PUNSUBSCRIBE"}, {"SUNSUBSCRIBE"}, {"MONITOR"},
	}
	for _, args := range refused {
		err := c.Send(args...).Err(ctx)
		var ne *NotOnSharedConnError
		if !errors.Is(err, ErrNotOnSharedConn) || !errors.As(err, &ne) || ne.Use == "" {
			t.Errorf("%v: %v", args, err)
		}
		c.SendAndForget(args...)
	}
	if n := c.ForgottenErrors(); n != uint64(len(refused)) {
		t.Errorf("ForgottenErrors = %d, want %d", n, len(refused))
	}
	if err := c.Send().Err(ctx); !errors.Is(err, errEmptyCommand) {
		t.Errorf("empty command: %v", err)
	}
	if v, err := c.Do(ctx, "PING"); err != nil || v.Text() != "PONG" {
		t.Fatalf("PING: %v %v", v, err)
	}
	stats := s.MustDo("INFO", "commandstats").Text()
	for _, name := range []string{"select", "auth", "hello", "reset", "quit", "client|reply", "client|tracking",
		"client|setname", "multi", "exec", "discard", "watch", "unwatch", "subscribe", "psubscribe",
		"ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "monitor"} {
		if strings.Contains(stats, "cmdstat_"+name+":") {
			t.Errorf("%s reached the server:\n%s", name, stats)
		}
	}
	if !strings.Contains(stats, "cmdstat_ping:") {
		t.Fatalf("commandstats do not show the PING: the check cannot work\n%s", stats)
	}
}

// The cost classify adds to every Send of an ordinary command.
func BenchmarkClassify(b *testing.B) {
	for _, args := range [][]any{{"GET", "k"}, {"HSET", "h", "f", "v"}, {"SINTER", "a", "b"}, {"BLPOP", "q", 0}} {
		b.Run(args[0].(string), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				classify(args)
			}
		})
	}
}
