package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echo serves a line echo on loopback for the proxy's tests.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	n := 0
	for n < len(buf) {
		k, err := c.Read(buf[n:])
		n += k
		if err != nil {
			return string(buf[:n]), err
		}
	}
	return string(buf), nil
}

func TestForwardResetRefuse(t *testing.T) {
	p := Start(t, echo(t))
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "hello\n"); err != nil || got != "hello\n" {
		t.Fatalf("forwarded: %q, %v", got, err)
	}
	p.ResetAt(3) // three more bytes reach the client, then RST
	got, err := roundTrip(c, "abcdef\n")
	if err == nil || got != "abc" {
		t.Fatalf("after ResetAt(3): %q, %v (want 3 bytes and an error)", got, err)
	}
	p.Refuse(true)
	r, err := net.Dial("tcp", p.Addr)
	if err == nil {
		_, err = roundTrip(r, "x\n")
		r.Close()
	}
	if err == nil {
		t.Fatal("a refused connection worked")
	}
	p.Refuse(false)
	ok, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	if got, err := roundTrip(ok, "again\n"); err != nil || got != "again\n" {
		t.Fatalf("after Refuse(false): %q, %v", got, err)
	}
}

// Stall holds what the client sends until Resume, then forwards it, in order.
func TestStallResume(t *testing.T) {
	p := Start(t, echo(t))
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "one\n"); err != nil || got != "one\n" {
		t.Fatalf("forwarded: %q, %v", got, err)
	}
	p.Stall()
	if _, err := c.Write([]byte("two\nthree\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 16)); n != 0 || err == nil {
		t.Fatalf("read %d bytes (%v) through a stalled proxy", n, err)
	}
	p.Resume()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for _, want := range []string{"two\n", "three\n"} {
		if got, err := r.ReadString('\n'); err != nil || got != want {
			t.Fatalf("after Resume: %q, %v, want %q", got, err, want)
		}
	}
}

// Let passes that many of the client's bytes through a stall, in order, and no more
// (nor anything the other way) until the next Let or Resume.
func TestLet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := Start(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p.Conns() == 0 { // the proxy registers the pair after its dial returned
		time.Sleep(time.Millisecond)
	}
	p.Stall()
	if _, err := c.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("down")); err != nil {
		t.Fatal(err)
	}
	nothing := func(conn net.Conn, what string) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := conn.Read(make([]byte, 16)); n != 0 || err == nil {
			t.Fatalf("%s: read %d bytes (%v) past what Let allowed", what, n, err)
		}
	}
	read := func(conn net.Conn, want string) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != want {
			t.Fatalf("read %q, %v; want %q", buf, err, want)
		}
	}
	p.Let(4)
	read(s, "0123")
	nothing(s, "server after Let(4)")
	nothing(c, "client while stalled")
	p.Let(3)
	read(s, "456")
	nothing(s, "server after Let(3)")
	p.Resume()
	read(s, "789")
	read(c, "down")
}
