package faultproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Gate accepts connections on loopback and forwards each to its target only once
// Release was called: a client dialling through it waits in its handshake until then
// (a dial under way, for tests of what happens meanwhile).
type Gate struct {
	Addr string // where clients connect
	// Accepted gets a value, if it has room, at each connection accepted.
	Accepted chan struct{}
	release  chan struct{}
	once     sync.Once
}

// StartGate starts a Gate to target, closed with the test.
func StartGate(t testing.TB, target string) *Gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{Addr: ln.Addr().String(), Accepted: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); g.Release() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case g.Accepted <- struct{}{}:
			default:
			}
			go g.forward(in, target)
		}
	}()
	return g
}

// Release lets every connection through, those waiting and those to come.
func (g *Gate) Release() { g.once.Do(func() { close(g.release) }) }

func (g *Gate) forward(in net.Conn, target string) {
	defer in.Close()
	<-g.release
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	go func() { io.Copy(out, in); out.Close() }()
	io.Copy(in, out)
}
