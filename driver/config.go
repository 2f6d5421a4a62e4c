package driver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/respring/respring/parser"
)

// Config describes one Redis server and how to talk to it. The zero values of the
// optional fields select the defaults given with them.
type Config struct {
	Addr        string        // "host:port", or "/path/to.sock" for a unix socket
	Username    string        // ACL user; "" means "default"
	Password    string        // never printed by String(), %v or errors
	DB          int           // SELECT after connect (and after every reconnect)
	Protocol    int           // 3 (default; falls back to 2 if HELLO is unknown) or 2
	ClientName  string        // CLIENT SETNAME after connect (and after every reconnect)
	TLS         *tls.Config   // non-nil: TLS (ServerName defaults to the Addr's host; no renegotiation)
	DialTimeout time.Duration // dial plus handshake; default 5s

	// RingSize caps the commands in flight on a PairedConn (default 1024, rounded up to
	// a power of two). A full ring makes Send wait.
	RingSize int
	// ReconnectMin and ReconnectMax bound the exponential backoff (with jitter) between
	// reconnect attempts; defaults 10ms and 2s. A lost connection is dialled again at
	// once, but when it was lost less than ReconnectMax after it was made, and so was
	// the one before it, the reconnect waits first as the backoff says (each such
	// loss in a row counts as a failed attempt), so that a server that accepts and
	// then drops every connection is not dialled in a loop. The dedicated pool paces
	// its dials after its connections' losses the same way. Reconnect dials at once.
	ReconnectMin, ReconnectMax time.Duration
	// CloseTimeout is how long Close waits for commands in flight before failing them
	// with ErrClosed; default 5s.
	CloseTimeout time.Duration
	// MessageBuffer is the capacity of each Subscription's channel and of a low-level
	// Conn's receive queue (default 4096). A reader that lets it fill ends with
	// ErrSlowConsumer.
	MessageBuffer int
	// Limits bound what the parser accepts from the server (zero: parser.DefaultLimits).
	Limits parser.Limits
	// DedicatedPoolSize bounds the dedicated connections of a PairedConn, used by
	// Dedicated and by blocking commands (default 32). When all are in use, Dedicated
	// and blocking commands wait for one (see PairedConn.Dedicated).
	DedicatedPoolSize int
	// SendBuffer bounds, in bytes, the commands a low-level Conn holds queued and not
	// yet handed to the socket (while the socket is full, or the connection is being
	// re-established): past it, Send and SendValue return ErrSendBufferFull and queue
	// nothing (default 64 MiB; Conn.Flush waits for room). The queue is taken for
	// writing only once the last batch is written out, so a Conn holds at most about
	// twice SendBuffer: the queue, and that batch (outside Linux, where the driver has
	// no output poller, batches go on being taken and gnet buffers them). A
	// PairedConn's bound is its RingSize.
	SendBuffer int
	// DedicatedIdleTimeout is how long an unused dedicated connection stays open
	// (default 1 minute).
	DedicatedIdleTimeout time.Duration
	// HealthCheck is how often a PairedConn checks that its connection is alive (see
	// ErrHealthCheck): 0 means the default, 5s; a negative value turns it off. A
	// connection that read nothing for one interval is sent a PING; one that still
	// read nothing by the next is declared dead and re-established. A dedicated
	// connection blocked in BLPOP and the like is not taken for dead for its silence
	// until the command's own timeout (counted from when nothing is ahead of it in
	// flight), plus the interval (at least 1s), ran out; with a timeout of 0 (or of
	// 1ms or less, or one the driver cannot read), never (keepalive and
	// TCP_USER_TIMEOUT still apply). On Linux, a positive value also sets
	// TCP_USER_TIMEOUT on every socket of this Config (Conn and PubsubConn too) to
	// twice the interval, at least 10 s: data written and not acknowledged by the
	// peer for that long breaks the connection. A negative value turns that off as
	// well, leaving the kernel's retransmission timeout (about 15 minutes). TCP
	// keepalive is on for every TCP socket (not unix sockets): the kernel probes a
	// connection silent for the interval (at least 1s, at most 15s) and again at that
	// pace; a peer that answers no probe is taken for gone at the first probe due once
	// TCP_USER_TIMEOUT has passed since it was last heard (Linux: 10s at the default
	// interval), elsewhere after 3 probes where the system lets the count be set (macOS,
	// FreeBSD, Windows 10 1709 and later: 20s at the default); with a negative value,
	// probes every 15s and 9 of them.
	HealthCheck time.Duration

	// Hooks for layers above the driver (driver/cluster, driver/sentinel).

	// Resolve, if set, gives the address to dial at every connect and reconnect, in
	// place of Addr, also as the source of the TLS ServerName's default.
	// driver/sentinel asks the sentinels for the master here. ctx bounds it with the
	// dial.
	Resolve func(ctx context.Context) (string, error)
	// Init are commands run after the handshake on every connection, in order (a
	// cluster replica's READONLY); an error reply fails that connection attempt with
	// a *HandshakeError.
	Init [][]string
	// Verify, if set, runs at the end of every handshake with a function that sends
	// one command on the new connection and returns its reply; an error fails that
	// connection attempt (a *HandshakeError at step "Verify"), and the reconnect goes
	// on. driver/sentinel checks ROLE there: a node that is no longer the master is
	// never used.
	Verify func(do func(args ...string) (parser.Value, error)) error
	// OnDisconnect, if set, is told when the connection is lost, and why, before any
	// reconnect starts. It runs on the event loop: it must return at once (driver/
	// cluster schedules a topology refresh there).
	OnDisconnect func(err error)

	// skipProbe, set by the dedicated pool for each of its dials, has the handshake
	// check CLIENT REPLY (see probeReplySkip) and receives the verdict.
	skipProbe *skipProbe
}

// String describes the config without the password.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = " password=<redacted>"
	}
	return fmt.Sprintf("respring.Config{addr=%s user=%q%s db=%d protocol=%d name=%q tls=%t}",
		c.Addr, c.Username, pw, c.DB, c.Protocol, c.ClientName, c.TLS != nil)
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb use String, so the password is never printed.
func (c Config) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// network returns "unix" or "tcp" for the address.
func (c *Config) network() string {
	if strings.HasPrefix(c.Addr, "/") || strings.HasPrefix(c.Addr, "@") {
		return "unix"
	}
	return "tcp"
}

// withDefaults validates c and fills the defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:6379"
	}
	if c.network() == "tcp" {
		if _, port, err := net.SplitHostPort(c.Addr); err != nil {
			return c, &ConfigError{"Addr", fmt.Sprintf("%q is neither host:port nor a unix socket path", c.Addr)}
		} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return c, &ConfigError{"Addr", fmt.Sprintf("bad port in %q", c.Addr)}
		}
	}
	switch c.Protocol {
	case 0:
		c.Protocol = 3
	case 2, 3:
	default:
		return c, &ConfigError{"Protocol", fmt.Sprintf("%d is not 2 or 3", c.Protocol)}
	}
	if c.DB < 0 {
		return c, &ConfigError{"DB", "negative"}
	}
	if c.Username != "" && c.Password == "" {
		return c, &ConfigError{"Password", "a Username needs a Password"}
	}
	if strings.ContainsAny(c.ClientName, " \r\n") {
		return c, &ConfigError{"ClientName", "may not contain spaces or newlines"}
	}
	if c.DialTimeout < 0 || c.ReconnectMin < 0 || c.ReconnectMax < 0 || c.CloseTimeout < 0 || c.RingSize < 0 || c.MessageBuffer < 0 || c.SendBuffer < 0 ||
		c.DedicatedPoolSize < 0 || c.DedicatedIdleTimeout < 0 {
		return c, &ConfigError{"timeouts and sizes", "negative"}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RingSize == 0 {
		c.RingSize = 1024
	}
	if c.RingSize > 1<<20 {
		return c, &ConfigError{"RingSize", "over 1<<20"}
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = 10 * time.Millisecond
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 2 * time.Second
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.MessageBuffer == 0 {
		c.MessageBuffer = 4096
	}
	if c.DedicatedPoolSize == 0 {
		c.DedicatedPoolSize = 32
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 64 << 20
	}
	if c.HealthCheck == 0 {
		c.HealthCheck = 5 * time.Second
	}
	if c.DedicatedIdleTimeout == 0 {
		c.DedicatedIdleTimeout = time.Minute
	}
	return c, nil
}

// ParseURL parses redis://[[user]:password@]host[:port][/db][?protocol=2&client_name=x&dial_timeout=2s],
// rediss://... (TLS, verifying the server's certificate for the host) and
// unix://[[user]:password@]/path/to.sock[?db=N].
func ParseURL(rawURL string) (Config, error) {
	// A '/', '?', '#' or '@' left unescaped in a password splits the URL in the
	// wrong place, and the pieces of the password turn up as a port, a host, a
	// database, an option or a fragment. So, when the URL has an '@' at all, no
	// error quotes any part of it: it only says what was wrong.
	secret := strings.Contains(rawURL, "@")
	u, err := url.Parse(rawURL)
	if err != nil {
		if secret {
			return Config{}, &ConfigError{"URL", "cannot parse: " + urlErrorKind(err) + userinfoRedacted}
		}
		return Config{}, &ConfigError{"URL", "cannot parse: " + redactURLError(err)}
	}
	if before, _, _ := strings.Cut(rawURL, "?"); strings.Contains(before, "@") && u.User == nil && u.Host != "" {
		// The '@' is past the authority (url.Parse takes userinfo from the authority
		// alone), so what was read as the host may well be the start of a password:
		// redis://pw#rest@host parses, and would dial "pw:6379". (An '@' in the query,
		// as in client_name=svc@prod, is an option's; one there that ends a password
		// cut at a '?' makes an unknown option, refused below.)
		return Config{}, &ConfigError{"URL", "'@' after the host" + userinfoRedacted}
	}
	var c Config
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if _, hasPw := u.User.Password(); !hasPw {
			// redis://secret@host is a password alone, as redis-cli reads it.
			c.Password, c.Username = c.Username, ""
		}
	}
	q := u.Query()
	switch u.Scheme {
	case "redis", "rediss":
		if u.Opaque != "" {
			return Config{}, &ConfigError{"URL", "missing // after the scheme"}
		}
		host, port := u.Hostname(), u.Port()
		if host == "" {
			host = "localhost"
		}
		if port == "" {
			port = "6379"
		}
		c.Addr = net.JoinHostPort(host, port)
		if p := strings.Trim(u.Path, "/"); p != "" {
			db, err := strconv.Atoi(p)
			if err != nil {
				if secret {
					return Config{}, &ConfigError{"URL", "database is not a number" + userinfoRedacted}
				}
				return Config{}, &ConfigError{"URL", fmt.Sprintf("database %q is not a number", p)}
			}
			c.DB = db
		}
		if u.Scheme == "rediss" {
			c.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
	case "unix":
		if u.Path == "" {
			return Config{}, &ConfigError{"URL", "unix:// needs a socket path"}
		}
		c.Addr = u.Path
	default:
		// The scheme ends at the first ':', so it holds at most a user name (of
		// "user:pw@host" with no "redis://"), never a password.
		return Config{}, &ConfigError{"URL", fmt.Sprintf("scheme %q is not redis, rediss or unix", u.Scheme)}
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		var err error
		switch k {
		case "db":
			c.DB, err = strconv.Atoi(v)
		case "protocol":
			c.Protocol, err = strconv.Atoi(v)
		case "client_name":
			c.ClientName = v
		case "dial_timeout":
			c.DialTimeout, err = time.ParseDuration(v)
		default:
			if secret {
				return Config{}, &ConfigError{"URL", "unknown option" + userinfoRedacted}
			}
			return Config{}, &ConfigError{"URL", fmt.Sprintf("unknown option %q", k)}
		}
		if err != nil {
			if secret {
				// k is one of the names above; the value may be a piece of a password.
				return Config{}, &ConfigError{"URL", "option " + k + ": invalid value" + userinfoRedacted}
			}
			return Config{}, &ConfigError{"URL", fmt.Sprintf("option %s: %v", k, err)}
		}
	}
	if _, err := c.withDefaults(); err != nil {
		var ce *ConfigError
		if secret && errors.As(err, &ce) && ce.Field == "Addr" {
			// withDefaults quotes the address, made of the URL's host and port.
			return Config{}, &ConfigError{"Addr", "bad port" + userinfoRedacted}
		}
		return Config{}, err
	}
	return c, nil
}

// userinfoRedacted ends the ParseURL errors that quote nothing of a URL with an
// '@', and says the likely cause.
const userinfoRedacted = " (userinfo redacted; percent-encode any '/', '?', '#' or '@' in a password)"

// urlErrorKind names what url.Parse found wrong, from a fixed list: its messages
// quote pieces of the URL (invalid port ":s3cr" after host), and for one whose
// quoting is not known here it says nothing more than "malformed URL".
func urlErrorKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee url.EscapeError
	var he url.InvalidHostError
	msg := err.Error()
	switch {
	case errors.As(err, &ee):
		return "invalid %-escape"
	case errors.As(err, &he):
		return "invalid character in host name"
	case strings.HasPrefix(msg, "invalid port "):
		return "invalid port"
	case msg == "net/url: invalid userinfo":
		return "invalid character in userinfo"
	case msg == "net/url: invalid control character in URL":
		return "control character in URL"
	case msg == "missing protocol scheme", msg == "missing ']' in host", msg == "invalid IP-literal",
		msg == "first path segment in URL cannot contain colon":
		return msg
	}
	return "malformed URL"
}

// redactURLError drops the URL from a url.Parse error, for a URL without an '@':
// what the error still quotes (a port, an escape) cannot be a password then.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "malformed URL"
}
