//go:build !race

package parser

import "testing"

// A reused Parser reads a stream of replies without allocating once warm.
func TestParseSteadyStateAllocatesNothing(t *testing.T) {
	stream := []byte(crlf("+OK/:12345/$16/0123456789abcdef/*3/$3/foo/$-1/:7/%2/+a/*1/:1/+b/,3.5/" +
		"|1/+ttl/:10/$2/hi/>3/+message/+ch/$1/x/$?/;2/ab/;0/*?/:1/./~2/+x/+y"))
	var p Parser
	parseAll := func() {
		b := stream
		for len(b) > 0 {
			_, n, err := p.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
	}
	parseAll() // warm the arenas and the chunk pool
	if a := testing.AllocsPerRun(100, parseAll); a != 0 {
		t.Fatalf("%v allocations per stream, want 0", a)
	}
}

// Gathering the same replies again after a Rewind allocates nothing.
func TestStoreAppendAllocs(t *testing.T) {
	v, _, err := Parse([]byte("*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n:7\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var s Gather
	gather := func() {
		s.Rewind()
		for i := 0; i < 100; i++ {
			s.Append(v)
		}
		_ = s.Appended()
	}
	gather()
	if a := testing.AllocsPerRun(100, gather); a != 0 {
		t.Fatalf("%v allocs per gather", a)
	}
}
