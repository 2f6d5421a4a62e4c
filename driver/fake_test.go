package driver

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/internal/fakeredis"
	"github.com/respring/respring/parser"
)

// fakeCfg connects to a fake server with fast reconnects.
func fakeCfg(s *fakeredis.Server) Config {
	return Config{Addr: s.Addr, ReconnectMin: time.Millisecond, ReconnectMax: 10 * time.Millisecond, CloseTimeout: 100 * time.Millisecond}
}

// A server without HELLO: the driver falls back to RESP2, with AUTH and CLIENT SETNAME.
func TestFallbackToRESP2(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var seen []string
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		mu.Lock()
		seen = append(seen, strings.Join(cmd, " "))
		mu.Unlock()
		switch cmd[0] {
		case "HELLO":
			c.Write([]byte("-ERR unknown command 'HELLO', with args beginning with: '3'\r\n"))
		case "AUTH", "CLIENT", "SELECT":
			c.Write([]byte("+OK\r\n"))
		default:
			c.Write([]byte("$4\r\nresp\r\n"))
		}
		return true
	})
	cfg := fakeCfg(s)
	cfg.Password, cfg.ClientName, cfg.DB = "secret", "old", 2
	c, err := PairedConnect(testCtx(t, 5*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.Send("GET", "x").String(testCtx(t, 5*time.Second)); err != nil || v != "resp" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	want := "HELLO 3 AUTH default secret SETNAME old|AUTH secret|CLIENT SETNAME old|SELECT 2|GET x"
	mu.Lock()
	got := strings.Join(seen, "|")
	mu.Unlock()
	if got != want || c.Protocol() != 2 {
		t.Fatalf("handshake %q, protocol %d", got, c.Protocol())
	}
}

func TestHandshakeErrors(t *testing.T) {
	checkGoroutines(t)
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		c.Write([]byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n"))
		return true
	})
	cfg := fakeCfg(s)
	cfg.Password = "bad"
	_, err := PairedConnect(testCtx(t, 5*time.Second), cfg)
	var he *HandshakeError
	var re *RedisError
	if !errors.As(err, &he) || he.Step != "HELLO" || !errors.As(err, &re) || re.Code() != "WRONGPASS" {
		t.Fatalf("bad password: %v", err)
	}
	if strings.Contains(err.Error(), "bad") {
		t.Fatalf("error text shows the password: %v", err)
	}
}

// hostile answers HELLO, then answers the first GET with the given bytes.
func hostile(t *testing.T, reply string) *fakeredis.Server {
	return fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if fakeredis.Hello(c, cmd) {
			return true
		}
		if cmd[0] == "GET" {
			c.Write([]byte(reply))
			return true
		}
		c.Write([]byte("+PONG\r\n"))
		return true
	})
}

// A malicious server can neither crash the process nor make it allocate what it
// declares; the command fails with a typed error and the client serves again.
func TestHostileServer(t *testing.T) {
	cases := []struct {
		name, reply string
		wantProto   bool // a protocol error, not just an incomplete reply
	}{
		{"bulk over the limit", "$1000000000\r\nabc", true},
		{"huge bulk under the limit", "$500000000\r\nabc", false},
		{"huge array", "*100000000\r\n:1\r\n", false},
		{"max int bulk", "$9223372036854775807\r\n", true},
		{"negative bulk", "$-5\r\n", true},
		{"integer overflow", ":99999999999999999999\r\n", true},
		{"deep nesting", strings.Repeat("*1\r\n", 3_000_000), true},
		{"unknown type", "@x\r\n", true},
		{"bare LF", "+OK\nX\r\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			s := hostile(t, tc.reply)
			c, err := PairedConnect(testCtx(t, 5*time.Second), fakeCfg(s))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			wait := 200 * time.Millisecond
			_, err = c.Send("GET", "k").String(testCtx(t, wait))
			runtime.ReadMemStats(&after)
			if tc.wantProto {
				if !errors.Is(err, ErrConnLost) || !errors.Is(err, ErrProtocol) || !errors.As(err, new(*parser.ProtocolError)) {
					t.Fatalf("GET: %v; want ErrConnLost wrapping a protocol error", err)
				}
			} else if !errors.Is(err, errDeadline()) {
				t.Fatalf("GET: %v; want the caller's deadline", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("allocated %d MiB for a %d-byte reply", grew>>20, len(tc.reply))
			}
			if tc.wantProto {
				// The connection was dropped and re-established: it serves again.
				if v, err := c.Send("PING").String(testCtx(t, 5*time.Second)); err != nil || v != "PONG" {
					t.Fatalf("PING after the bad reply: %q, %v", v, err)
				}
			}
		})
	}
}

// An error reply with no text (simple "-\r\n" or blob "!0\r\n\r\n") is a
// *RedisError all the same, with an empty Code and an Error that says what it is
// rather than nothing; the connection goes on serving.
func TestEmptyErrorReply(t *testing.T) {
	for _, reply := range []string{"-\r\n", "!0\r\n\r\n"} {
		checkGoroutines(t)
		s := hostile(t, reply)
		c, err := PairedConnect(testCtx(t, 5*time.Second), fakeCfg(s))
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t, 5*time.Second)
		_, err = c.Send("GET", "k").String(ctx)
		var re *RedisError
		if !errors.As(err, &re) || re.Code() != "" || err.Error() != noText {
			t.Fatalf("%q: %v (%T), want a *RedisError with no code reading %q", reply, err, err, noText)
		}
		if v, err := c.Send("PING").String(ctx); err != nil || v != "PONG" {
			t.Fatalf("%q: PING after it: %q, %v", reply, v, err)
		}
		if n := c.Reconnects(); n != 0 {
			t.Fatalf("%q: the connection was re-established %d times", reply, n)
		}
		c.Close()
	}
}

// A reply when no command is outstanding fails that connection only.
func TestUnsolicitedReply(t *testing.T) {
	checkGoroutines(t)
	s := fakeredis.Start(t, func(c *fakeredis.Conn, cmd []string) bool {
		if fakeredis.Hello(c, cmd) {
			return true
		}
		if cmd[0] == "DOUBLE" && c.N == 0 {
			c.Write([]byte("+one\r\n+two\r\n")) // two replies to one command
			return true
		}
		c.Reply(parser.NewBulkString(strings.Join(cmd, " ")))
		return true
	})
	c, err := PairedConnect(testCtx(t, 5*time.Second), fakeCfg(s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t, 5*time.Second)
	if v, err := c.Send("DOUBLE").String(ctx); err != nil || v != "one" {
		t.Fatalf("DOUBLE = %q, %v", v, err)
	}
	waitFor(t, func() bool { return s.Accepts() == 2 })
	if v, err := c.Send("ECHO", "again").String(ctx); err != nil || v != "ECHO again" {
		t.Fatalf("after the unsolicited reply: %q, %v", v, err)
	}
}

func errDeadline() error { return errDeadlineExceeded }

func TestConfig(t *testing.T) {
	bad := []Config{
		{Addr: "nohostport"},
		{Addr: "h:0"},
		{Addr: "h:99999"},
		{Protocol: 4},
		{DB: -1},
		{Username: "u"},
		{ClientName: "has space"},
		{DialTimeout: -1},
	}
	for _, cfg := range bad {
		_, err := PairedConnect(testCtx(t, time.Second), cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%v: %v, want *ConfigError", cfg, err)
		}
	}
	cfg := Config{Addr: "h:1", Password: "hunter2"}
	for _, s := range []string{cfg.String(), fmtAll(cfg)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
}

func TestParseURL(t *testing.T) {
	good := map[string]Config{
		"redis://localhost":                     {Addr: "localhost:6379"},
		"redis://:pw@h:7000/3":                  {Addr: "h:7000", Password: "pw", DB: 3},
		"redis://user:pw@h/0?protocol=2":        {Addr: "h:6379", Username: "user", Password: "pw", Protocol: 2},
		"redis://pw@[::1]:6380?client_name=app": {Addr: "[::1]:6380", Password: "pw", ClientName: "app"},
		"unix:///tmp/redis.sock?db=5":           {Addr: "/tmp/redis.sock", DB: 5},
		"redis://h?dial_timeout=250ms":          {Addr: "h:6379", DialTimeout: 250 * time.Millisecond},
		"unix://:secret@/var/run/redis.sock":    {Addr: "/var/run/redis.sock", Password: "secret"},
	}
	for u, want := range good {
		got, err := ParseURL(u)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseURL(%q) = %v, %v; want %v", u, got, err, want)
		}
	}
	for _, u := range []string{"http://h", "redis://h/x", "redis://h?nope=1", "redis://h:port", "unix://",
		"redis://h?protocol=9", "redis://:pa ss@h%zz"} {
		_, err := ParseURL(u)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("ParseURL(%q) = %v, want *ConfigError", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "pa ss") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
