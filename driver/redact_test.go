package driver

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A '/', '?', '#' or '@' left unescaped in a password makes url.Parse split the URL
// inside it; the error then names what was wrong without quoting any of the URL.
func TestParseURLRedactsUserinfo(t *testing.T) {
	cases := []struct {
		url    string
		secret string // a piece of the password that must not show
		what   string // what the error says instead
	}{
		{"redis://user:s3cr/et@host:6379/0", "s3cr", "invalid port"},
		{"redis://user:s3cr#et@host:6379", "s3cr", "invalid port"},
		{"redis://:hunter2?x@host", "hunter2", "invalid port"},
		{"redis://user:pa%zzss@host", "zz", "invalid %-escape"},
		{"redis://admin:pa ss@host", "pa ss", "invalid character in userinfo"},
		// These parse, with a piece of the password for the host, port, path or
		// query.
		{"redis://user:1234/tail@host", "tail", "'@' after the host"},
		{"redis://user:1234#tail@host", "1234", "'@' after the host"},
		{"redis://pw#rest@host", "pw", "'@' after the host"},
		{"redis://pa55?w0rd@host", "w0rd", "unknown option"},
		{"unix://:12/ab@/tmp/redis.sock", "ab", "'@' after the host"},
		{"redis://:pw@host/tail@x", "tail", "database is not a number"},
		{"redis://:pw@host?secret@x=1", "secret", "unknown option"},
		{"redis://:pw@host?db=secret@x", "secret", "option db: invalid value"},
		{"redis://:pw@host:99999", "99999", "bad port"},
	}
	for _, tc := range cases {
		_, err := ParseURL(tc.url)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("ParseURL(%q) = %v, want *ConfigError", tc.url, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, tc.secret) || !strings.Contains(msg, tc.what) ||
			!strings.Contains(msg, "userinfo redacted") {
			t.Errorf("ParseURL(%q): %q, want %q, redacted, and no %q", tc.url, msg, tc.what, tc.secret)
		}
	}

	// Without an '@' nothing can be a password, and the errors quote what they found.
	for u, want := range map[string]string{
		"redis://h:port":                        `invalid port ":port" after host`,
		"redis://h%zz":                          `invalid URL escape "%zz"`,
		"redis://h/x":                           `database "x" is not a number`,
		"redis://h?nope=1":                      `unknown option "nope"`,
		"redis://h?db=x":                        `option db: strconv.Atoi: parsing "x"`,
		"redis://h:99999":                       `bad port in "h:99999"`,
		"http://h":                              `scheme "http"`,
		"unix:///tmp/a@b.sock":                  "", // an '@' in a unix socket path, no host: fine
		"redis://:pw@h?db=2":                    "",
		"redis://h:6379/0?client_name=svc@prod": "", // an option's at sign
		"redis://u:p%2Fw%23@h:1/":               "",
	} {
		_, err := ParseURL(u)
		if want == "" {
			if err != nil {
				t.Errorf("ParseURL(%q): %v", u, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q): %v, want %q in it", u, err, want)
		}
	}
}

// A server that does not know AUTH (renamed away) quotes its arguments, the
// password among them, in its error reply; the HandshakeError shows <redacted>.
func TestHandshakeRedactsPassword(t *testing.T) {
	s := startServer(t, "--rename-command", "AUTH", "", "--rename-command", "HELLO", "")
	long := strings.Repeat("0123456789", 20) // Redis quotes 128 bytes of it
	for _, tc := range []struct {
		name     string
		cfg      Config
		password string
	}{
		{"RESP2", Config{Protocol: 2}, "hunter2"},
		{"RESP3 fallback", Config{Protocol: 3}, "hunter2"},
		{"with user", Config{Protocol: 2, Username: "app"}, "hunter2"},
		{"cut short", Config{Protocol: 2}, long},
		{"cut short with user", Config{Protocol: 2, Username: "app"}, long},
		{"newline", Config{Protocol: 2}, "hun\nter\r2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			cfg := tc.cfg
			cfg.Addr, cfg.Password = s.Addr, tc.password
			_, err := PairedConnect(testCtx(t, 5*time.Second), cfg)
			var he *HandshakeError
			var re *RedisError
			if !errors.As(err, &he) || he.Step != "AUTH" || !errors.As(err, &re) || re.Code() != "ERR" {
				t.Fatalf("err = %v, want a *HandshakeError at AUTH with an ERR reply", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "unknown command") || !strings.Contains(msg, "'<redacted>'") {
				t.Fatalf("err = %q, want the server's text with the password redacted", msg)
			}
			// Any 8 bytes in a row of the password, in either form the server sends.
			for _, pw := range []string{tc.password, strings.NewReplacer("\r", " ", "\n", " ").Replace(tc.password)} {
				for i := 0; i+min(8, len(pw)) <= len(pw); i++ {
					if piece := pw[i : i+min(8, len(pw))]; strings.Contains(msg, piece) {
						t.Fatalf("err = %q shows %q of the password", msg, piece)
					}
				}
			}
		})
	}
}

// Only the quoted arguments that are the password are redacted: a short password that
// also occurs in the server's own words ("own" in "unknown command") leaves them be,
// so the RESP2 fallback still reads a HELLO the server does not know as such.
func TestHandshakeRedactsOnlyArguments(t *testing.T) {
	s := startServer(t, "--rename-command", "HELLO", "", "--requirepass", "own")
	c, err := PairedConnect(testCtx(t, 5*time.Second), Config{Addr: s.Addr, Protocol: 3, Password: "own"})
	if err != nil {
		t.Fatalf("RESP3 asked of a server without HELLO, password %q: %v; want the RESP2 fallback", "own", err)
	}
	defer c.Close()
	if got, err := c.Send("PING").String(testCtx(t, 5*time.Second)); err != nil || got != "PONG" {
		t.Fatalf("PING: %q, %v", got, err)
	}
}
