package faultproxy

import (
	"bufio"
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
