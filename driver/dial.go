package driver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// dial opens a connection and runs the handshake with blocking I/O, before the
// connection is handed to the event loops: HELLO (with AUTH and SETNAME), or the RESP2
// fallback of AUTH and CLIENT SETNAME; then SELECT. It returns the protocol spoken and
// the address dialled (Config.Resolve's answer, else Config.Addr).
//
// With Config.TLS, the TLS handshake runs first on the same socket, and the RESP
// handshake inside TLS; the returned tlsState is then switched to the event loop's
// in-memory transport (see tls.go) and the socket is for gnet alone.
func dial(ctx context.Context, cfg *Config) (net.Conn, *tlsState, int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{KeepAliveConfig: keepAlive(cfg.HealthCheck)}
	if cfg.Resolve != nil {
		a, err := cfg.Resolve(ctx)
		if err != nil {
			return nil, nil, 0, "", err
		}
		// The resolved address stands for Addr in all of this dial: the network,
		// and the TLS ServerName's default (the master's host, not the sentinel's).
		rc := *cfg
		rc.Addr = a
		cfg = &rc
	}
	nc, err := d.DialContext(ctx, cfg.network(), cfg.Addr)
	if err != nil {
		return nil, nil, 0, "", err
	}
	if cfg.HealthCheck > 0 {
		setUserTimeout(nc, max(2*cfg.HealthCheck, 10*time.Second))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	var ts *tlsState
	rw := nc
	if cfg.TLS != nil {
		if ts, err = tlsClient(ctx, nc, cfg); err == nil {
			rw = ts.tc
		}
	}
	proto := 0
	if err == nil {
		proto, err = handshake(rw, cfg)
	}
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, 0, "", err
	}
	_ = nc.SetDeadline(time.Time{})
	if ts != nil {
		ts.toLoop()
	}
	return nc, ts, proto, cfg.Addr, nil
}

// keepAlive is the TCP keepalive of every TCP socket of a Config whose health check is
// hc. The kernel probes a connection silent for the interval (at least 1 s, at most
// 15 s), and again at that interval: the one liveness check a connection the health
// check cannot probe has (a dedicated connection blocked in BLPOP 0, a Conn, a
// PubsubConn). Where TCP_USER_TIMEOUT is set (Linux, a positive hc), the kernel breaks
// the connection at the first unanswered probe past that timeout (10 s by default);
// elsewhere, after Count unanswered probes. With the health check off, Go's defaults:
// 15 s and 9 probes.
func keepAlive(hc time.Duration) net.KeepAliveConfig {
	const slowest = 15 * time.Second
	if hc <= 0 {
		return net.KeepAliveConfig{Enable: true, Idle: slowest, Interval: slowest, Count: 9}
	}
	every := min(max(hc, time.Second), slowest)
	return net.KeepAliveConfig{Enable: true, Idle: every, Interval: every, Count: 3}
}

// syncConn does request/reply over a blocking connection (the handshake only).
type syncConn struct {
	nc  net.Conn
	p   parser.Parser
	buf []byte
	out []byte
	// password is Config.Password, kept out of the error replies of step: a server
	// may quote the arguments it was sent.
	password string
}

func (s *syncConn) do(args ...string) (parser.Value, error) {
	s.out = writer.AppendCommand(s.out[:0], args...)
	if _, err := s.nc.Write(s.out); err != nil {
		return parser.Value{}, err
	}
	return s.read()
}

// read reads the next reply (not a push).
func (s *syncConn) read() (parser.Value, error) {
	for {
		v, n, err := s.p.Parse(s.buf)
		if err == nil {
			v = v.Clone()
			s.buf = s.buf[n:]
			if v.Kind() == parser.Push {
				continue // not a reply
			}
			return v, nil
		}
		if !errors.Is(err, parser.ErrIncomplete) {
			return parser.Value{}, &protocolError{reason: "handshake reply", cause: err}
		}
		if cap(s.buf)-len(s.buf) < 512 {
			s.buf = append(make([]byte, 0, 2*cap(s.buf)+4096), s.buf...)
		}
		n, err = s.nc.Read(s.buf[len(s.buf):cap(s.buf)])
		if err != nil {
			return parser.Value{}, err
		}
		s.buf = s.buf[:len(s.buf)+n]
	}
}

// step runs one handshake command and turns an error reply into a *HandshakeError.
func (s *syncConn) step(name string, args ...string) (parser.Value, error) {
	v, err := s.do(args...)
	if err != nil {
		return v, &HandshakeError{Step: name, Err: err}
	}
	if v.IsError() {
		return v, &HandshakeError{Step: name, Err: redactedRedisError(v, s.password)}
	}
	return v, nil
}

func handshake(nc net.Conn, cfg *Config) (int, error) {
	s := &syncConn{nc: nc, password: cfg.Password}
	s.p.Limits = cfg.Limits
	proto := 2
	if cfg.Protocol == 3 {
		args := []string{"HELLO", "3"}
		if cfg.Password != "" {
			user := cfg.Username
			if user == "" {
				user = "default"
			}
			args = append(args, "AUTH", user, cfg.Password)
		}
		if cfg.ClientName != "" {
			args = append(args, "SETNAME", cfg.ClientName)
		}
		_, err := s.step("HELLO", args...)
		var re *RedisError
		switch {
		case err == nil:
			proto = 3
		case errors.As(err, &re) && (re.Code() == "NOPROTO" || strings.Contains(strings.ToLower(re.msg), "unknown command")):
			// A server without RESP3: carry on in RESP2.
		default:
			return 0, err
		}
	}
	if proto == 2 {
		if cfg.Password != "" {
			args := []string{"AUTH", cfg.Password}
			if cfg.Username != "" {
				args = []string{"AUTH", cfg.Username, cfg.Password}
			}
			if _, err := s.step("AUTH", args...); err != nil {
				return 0, err
			}
		}
		if cfg.ClientName != "" {
			if _, err := s.step("CLIENT SETNAME", "CLIENT", "SETNAME", cfg.ClientName); err != nil {
				return 0, err
			}
		}
	}
	if cfg.DB != 0 {
		if _, err := s.step("SELECT", "SELECT", strconv.Itoa(cfg.DB)); err != nil {
			return 0, err
		}
	}
	for _, cmd := range cfg.Init {
		if len(cmd) == 0 {
			continue
		}
		if _, err := s.step(strings.ToUpper(cmd[0]), cmd...); err != nil {
			return 0, err
		}
	}
	if cfg.Verify != nil {
		if err := cfg.Verify(s.do); err != nil {
			return 0, &HandshakeError{Step: "Verify", Err: err}
		}
	}
	if cfg.skipProbe != nil {
		if err := s.probeReplySkip(cfg.skipProbe); err != nil {
			return 0, &HandshakeError{Step: "CLIENT REPLY", Err: err}
		}
	}
	if len(s.buf) != 0 {
		return 0, &HandshakeError{Step: "end", Err: &protocolError{reason: "unexpected bytes after the handshake"}}
	}
	return proto, nil
}
