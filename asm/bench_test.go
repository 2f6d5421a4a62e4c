package asm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// replyStream builds count replies the way a busy connection delivers them:
// simple strings, integers, 16-byte bulk strings and two-element arrays of
// bulk strings. Bulk payloads may contain terminators; a parser skips them
// by length.
func replyStream(count int) (buf []byte, lines int) {
	r := rand.New(rand.NewPCG(12, 13))
	payload := func() {
		buf = append(buf, "$16\r\n"...)
		for range 16 {
			buf = append(buf, "abcdefghijklmnopqrstuvwxyz0123\r\n"[r.IntN(32)])
		}
		buf = append(buf, "\r\n"...)
		lines++
	}
	for range count {
		switch x := r.IntN(20); {
		case x < 5:
			buf = append(buf, "+OK\r\n"...)
			lines++
		case x < 10:
			buf = append(buf, ':')
			buf = strconv.AppendUint(buf, uint64(r.IntN(100000)), 10)
			buf = append(buf, "\r\n"...)
			lines++
		case x < 17:
			payload()
		default:
			buf = append(buf, "*2\r\n"...)
			lines++
			payload()
			payload()
		}
	}
	return buf, lines
}

// walkScanner finds every header line end in a reply stream with Scanner,
// jumping over bulk payloads. It returns the number of header lines, or -1
// on a malformed stream.
func walkScanner(sc *Scanner, buf []byte) int {
	sc.Reset(buf)
	lines := 0
	for pos := 0; pos < len(buf); {
		i := sc.Next(pos)
		if i < 0 || i+1 >= len(buf) || buf[i] != '\r' || buf[i+1] != '\n' {
			return -1
		}
		lines++
		if buf[pos] == '$' {
			n, ok := ParseUint(buf[pos+1 : i])
			if !ok {
				return -1
			}
			pos = i + 2 + int(n) + 2
		} else {
			pos = i + 2
		}
	}
	return lines
}

// walkIndexByte is walkScanner with bytes.IndexByte(buf[pos:], '\r') per
// line.
func walkIndexByte(buf []byte) int {
	lines := 0
	for pos := 0; pos < len(buf); {
		j := bytes.IndexByte(buf[pos:], '\r')
		if j < 0 {
			return -1
		}
		i := pos + j
		if i+1 >= len(buf) || buf[i+1] != '\n' {
			return -1
		}
		lines++
		if buf[pos] == '$' {
			n, ok := ParseUint(buf[pos+1 : i])
			if !ok {
				return -1
			}
			pos = i + 2 + int(n) + 2
		} else {
			pos = i + 2
		}
	}
	return lines
}

func TestWalkers(t *testing.T) {
	buf, lines := replyStream(1000)
	t.Logf("stream of 1000 replies: %d bytes, %d header lines", len(buf), lines)
	var sc Scanner
	for _, l := range Levels() {
		restore := setLevelForTest(l)
		if got := walkScanner(&sc, buf); got != lines {
			t.Errorf("walkScanner at %v: %d lines, want %d", l, got, lines)
		}
		restore()
	}
	if got := walkIndexByte(buf); got != lines {
		t.Errorf("walkIndexByte: %d lines, want %d", got, lines)
	}
}

// BenchmarkStream times finding every header line end of 1,000 replies.
func BenchmarkStream(b *testing.B) {
	buf, lines := replyStream(1000)
	for _, l := range Levels() {
		b.Run("impl=scanner-"+l.String(), func(b *testing.B) {
			restore := setLevelForTest(l)
			defer restore()
			var sc Scanner
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if walkScanner(&sc, buf) != lines {
					b.Fatal("bad walk")
				}
			}
		})
	}
	b.Run("impl=indexbyte", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			if walkIndexByte(buf) != lines {
				b.Fatal("bad walk")
			}
		}
	})
}

var sinkMask uint64

// BenchmarkMask64 computes the masks of 64 KiB, 64 bytes at a time.
func BenchmarkMask64(b *testing.B) {
	buf := make([]byte, 64<<10)
	fillRandom(rand.New(rand.NewPCG(14, 15)), buf)
	for _, l := range Levels() {
		b.Run("level="+l.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			var m uint64
			for b.Loop() {
				for i := 0; i+64 <= len(buf); i += 64 {
					m ^= Mask64Level(l, buf[i:])
				}
			}
			sinkMask = m
		})
	}
}

var sinkUint uint64

// BenchmarkParseUint compares the plain loop with the SWAR candidate,
// both called directly so that each is inlined where the compiler would
// inline it in the parser. Inputs sit in a larger buffer (followed by
// "\r\n"), as in a parser; "mix1-5" cycles through 1..5-digit inputs so
// that the loop's exit branch is not always predicted.
func BenchmarkParseUint(b *testing.B) {
	type input struct {
		name string
		in   [][]byte
	}
	var inputs []input
	for _, digits := range []int{1, 2, 3, 4, 5, 8, 12, 19} {
		s := append(bytes.Repeat([]byte("7"), digits), "\r\n0123456789"...)
		inputs = append(inputs, input{fmt.Sprintf("digits=%d", digits), [][]byte{s[:digits]}})
	}
	mix := input{name: "digits=mix1-5"}
	r := rand.New(rand.NewPCG(16, 17))
	for range 64 {
		s := strconv.AppendUint(nil, uint64(r.IntN(100000)), 10)
		mix.in = append(mix.in, append(s, "\r\n0123456789"...)[:len(s)])
	}
	inputs = append(inputs, mix)
	for _, in := range inputs {
		size := 0
		for _, s := range in.in {
			size += len(s)
		}
		b.Run(in.name+"/impl=loop", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size / len(in.in)))
			var sum uint64
			i := 0
			for b.Loop() {
				n, _ := ParseUint(in.in[i%len(in.in)])
				sum += n
				i++
			}
			sinkUint = sum
		})
		b.Run(in.name+"/impl=swar", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size / len(in.in)))
			var sum uint64
			i := 0
			for b.Loop() {
				n, _ := parseUintSWAR(in.in[i%len(in.in)])
				sum += n
				i++
			}
			sinkUint = sum
		})
	}
}
