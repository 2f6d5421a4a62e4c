package asm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// oracleNext computes, for every from in [0, len(b)], the answer Next must
// give.
func oracleNext(b []byte) []int {
	next := make([]int, len(b)+1)
	next[len(b)] = -1
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\r' || b[i] == '\n' {
			next[i] = i
		} else {
			next[i] = next[i+1]
		}
	}
	return next
}

// checkScanner runs Next on b for every from, in increasing order, in
// decreasing order and in a random order, and compares with the oracle.
func checkScanner(t *testing.T, sc *Scanner, b []byte, r *rand.Rand) {
	t.Helper()
	want := oracleNext(b)
	check := func(order string, from int) {
		if got := sc.Next(from); got != want[from] {
			t.Fatalf("%v, len %d, %s order: Next(%d) = %d, want %d", Current(), len(b), order, from, got, want[from])
		}
	}
	sc.Reset(b)
	for from := 0; from <= len(b); from++ {
		check("increasing", from)
	}
	sc.Reset(b)
	for from := len(b); from >= 0; from-- {
		check("decreasing", from)
	}
	sc.Reset(b)
	for _, from := range r.Perm(len(b) + 1) {
		check("random", from)
	}
	// The walk a parser does: from one terminator to the next.
	sc.Reset(b)
	for from := 0; from <= len(b); {
		check("walk", from)
		if want[from] < 0 {
			break
		}
		from = want[from] + 1
	}
	// Out of range.
	if got := sc.Next(-1); got != want[0] {
		t.Fatalf("Next(-1) = %d, want %d", got, want[0])
	}
	if got := sc.Next(len(b) + 1); got != -1 {
		t.Fatalf("Next(len+1) = %d, want -1", got)
	}
}

func TestScannerRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var sc Scanner
	arena := make([]byte, 64+63+600+64)
	for _, l := range Levels() {
		restore := setLevelForTest(l)
		for n := 0; n <= 600; n++ {
			fillGuard(arena)
			off := 64 + n%64
			b := arena[off : off+n : off+n]
			fillRandom(r, b)
			checkScanner(t, &sc, b, r)
			// Sparse terminators: long jumps between blocks.
			for i := range b {
				if r.IntN(50) == 0 {
					b[i] = "\r\n"[r.IntN(2)]
				} else {
					b[i] = 'a' + byte(r.IntN(26))
				}
			}
			checkScanner(t, &sc, b, r)
		}
		restore()
	}
}

func TestScannerCrafted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	resp := strings.Repeat("+OK\r\n:12345\r\n$16\r\n0123456789abcdef\r\n*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n", 20)
	cases := map[string][]byte{
		"empty":       {},
		"nil":         nil,
		"all CR":      []byte(strings.Repeat("\r", 300)),
		"all LF":      []byte(strings.Repeat("\n", 300)),
		"none":        []byte(strings.Repeat("x", 1000)),
		"last byte":   []byte(strings.Repeat("x", 999) + "\r"),
		"first byte":  []byte("\n" + strings.Repeat("x", 999)),
		"high bit":    []byte(strings.Repeat("\x8d\x8a", 200)),
		"resp stream": []byte(resp),
		"bare LF":     []byte("+OK\n:1\r\n+bad\rx\n"),
	}
	for _, at := range []int{62, 63, 64, 65, 127, 128, 129} {
		b := []byte(strings.Repeat("y", 200))
		b[at] = '\r'
		cases[fmt.Sprintf("single at %d", at)] = b
	}
	for _, l := range Levels() {
		restore := setLevelForTest(l)
		for name, b := range cases {
			t.Run(l.String()+"/"+name, func(t *testing.T) {
				var sc Scanner
				checkScanner(t, &sc, b, r)
			})
		}
		restore()
	}
}

func TestScannerZeroValue(t *testing.T) {
	var sc Scanner
	if got := sc.Next(0); got != -1 {
		t.Fatalf("zero Scanner: Next(0) = %d, want -1", got)
	}
	sc.Reset([]byte("ab\r\n"))
	if got := sc.Next(0); got != 2 {
		t.Fatalf("Next(0) = %d, want 2", got)
	}
	// Reset drops the cache: the same positions answer for the new buffer.
	sc.Reset([]byte("\nb\r\n"))
	if got := sc.Next(0); got != 0 {
		t.Fatalf("after Reset: Next(0) = %d, want 0", got)
	}
}

func FuzzScanner(f *testing.F) {
	f.Add([]byte("+OK\r\n:1\r\n$3\r\nfoo\r\n"))
	f.Add([]byte(strings.Repeat("a\rb\n", 40)))
	f.Add(make([]byte, 130))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := rand.New(rand.NewPCG(uint64(len(b)), 9))
		for _, l := range Levels() {
			restore := setLevelForTest(l)
			var sc Scanner
			checkScanner(t, &sc, b, r)
			if len(b) >= 64 {
				checkMasks(t, b)
			}
			restore()
		}
	})
}
