package faultproxy

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// A Gate accepts at once and reaches its target only once released; then bytes go
// both ways.
func TestGate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var reached atomic.Int32
	go func() { // echo
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	g := StartGate(t, ln.Addr().String())
	c, err := net.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	<-g.Accepted
	if n := reached.Load(); n != 0 {
		t.Fatalf("the target was reached %d times before Release", n)
	}
	g.Release()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the gate: %q, %v", buf, err)
	}
	if n := reached.Load(); n != 1 {
		t.Fatalf("the target was reached %d times, want 1", n)
	}
}
