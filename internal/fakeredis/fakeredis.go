// Package fakeredis is a scripted Redis server for tests, built on the parser and
// writer packages: it reads commands and lets a handler answer each with any bytes,
// including malformed and hostile ones.
package fakeredis

import (
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/writer"
)

// Handler answers one command on one connection. It runs on that connection's
// goroutine; returning false closes the connection.
type Handler func(c *Conn, cmd []string) bool

// Server listens on a loopback port until the test ends.
type Server struct {
	Addr string

	ln      net.Listener
	handler Handler
	mu      sync.Mutex
	conns   map[*Conn]struct{}
	wg      sync.WaitGroup
	accepts int
}

// Conn is one client connection of the fake server.
type Conn struct {
	nc  net.Conn
	srv *Server
	mu  sync.Mutex
	N   int // index of the connection, from 0, in accept order
}

// Start listens on 127.0.0.1:0 and serves with h.
func Start(t testing.TB, h Handler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, handler: h, conns: map[*Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		c := &Conn{nc: nc, srv: s, N: s.accepts}
		s.accepts++
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go c.serve()
	}
}

// Accepts returns how many connections were accepted so far.
func (s *Server) Accepts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepts
}

// Close stops listening, closes every connection and waits for their goroutines.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (c *Conn) serve() {
	defer c.srv.wg.Done()
	defer func() {
		c.nc.Close()
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
	}()
	var p parser.Parser
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		v, n, err := p.Parse(buf)
		if errors.Is(err, parser.ErrIncomplete) {
			m, err := c.nc.Read(chunk)
			if err != nil {
				return
			}
			buf = append(buf, chunk[:m]...)
			continue
		}
		if err != nil {
			return
		}
		var cmd []string
		for _, e := range v.Elems() {
			cmd = append(cmd, string(e.Bytes()))
		}
		buf = buf[n:]
		if !c.srv.handler(c, cmd) {
			return
		}
	}
}

// Write sends raw bytes.
func (c *Conn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// Reply sends values.
func (c *Conn) Reply(vs ...parser.Value) error {
	var b []byte
	for _, v := range vs {
		b = writer.AppendValue(b, v)
	}
	return c.Write(b)
}

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }

// Hello answers HELLO 3 as Redis 7 does (a map), and reports whether cmd was HELLO.
func Hello(c *Conn, cmd []string) bool {
	if len(cmd) == 0 || cmd[0] != "HELLO" {
		return false
	}
	c.Reply(parser.NewMap(
		parser.NewBulkString("server"), parser.NewBulkString("fakeredis"),
		parser.NewBulkString("proto"), parser.NewInteger(3),
	))
	return true
}
