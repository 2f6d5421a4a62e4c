package parser

import (
	"bytes"
	"strconv"
	"testing"
)

func repeatStream(n int, one func(i int) string) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, one(i)...)
	}
	return b
}

// benchStream parses the whole stream per op: "each" with one ParseEach call (the
// driver's way), "single" with one Parse call per value.
func benchStream(b *testing.B, stream []byte) {
	b.Run("each", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(stream)))
		var p Parser
		nop := func(Value) error { return nil }
		for b.Loop() {
			if n, err := p.ParseEach(stream, nop); err != nil || n != len(stream) {
				b.Fatal(err)
			}
		}
	})
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(stream)))
		var p Parser
		for b.Loop() {
			buf := stream
			for len(buf) > 0 {
				_, n, err := p.Parse(buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = buf[n:]
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	b.Run("1000xOK", func(b *testing.B) {
		benchStream(b, repeatStream(1000, func(int) string { return "+OK\r\n" }))
	})
	b.Run("1000xInt", func(b *testing.B) {
		benchStream(b, repeatStream(1000, func(i int) string { return ":" + strconv.Itoa(i*7919) + "\r\n" }))
	})
	b.Run("1000xBulk16", func(b *testing.B) {
		benchStream(b, repeatStream(1000, func(int) string { return "$16\r\n0123456789abcdef\r\n" }))
	})
	b.Run("100xArray10", func(b *testing.B) {
		one := "*10\r\n" + string(repeatStream(10, func(i int) string { return "$8\r\nvalue-0" + strconv.Itoa(i) + "\r\n" }))
		benchStream(b, repeatStream(100, func(int) string { return one }))
	})
	b.Run("Bulk1MiB", func(b *testing.B) {
		benchStream(b, []byte("$1048576\r\n"+string(bytes.Repeat([]byte("x"), 1<<20))+"\r\n"))
	})
	b.Run("Map", func(b *testing.B) {
		// A HELLO 3 reply.
		benchStream(b, []byte("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"+
			"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:42\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"+
			"$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"))
	})
}
