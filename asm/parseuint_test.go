package asm

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"9", 9, true},
		{"10", 10, true},
		{"12345", 12345, true},
		{"00000000000000000007", 0, false}, // 20 bytes
		{"0000000000000000007", 7, true},
		{"12345678", 12345678, true},
		{"123456789", 123456789, true},
		{"9999999999999999999", 9999999999999999999, true}, // max, 19 digits
		{"1844674407370955161", 1844674407370955161, true},
		{"18446744073709551615", 0, false}, // 20 digits: rejected, even if it fits
		{"10000000000000000000", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1a", 0, false},
		{"a1", 0, false},
		{"12 3", 0, false},
		{"1\r", 0, false},
		{"/", 0, false}, // '0'-1
		{":", 0, false}, // '9'+1
		{"1234567/", 0, false},
		{"1234567:", 0, false},
		{"\xb1", 0, false}, // '1'|0x80
		{"123456789012345x", 0, false},
	}
	parsers := map[string]func([]byte) (uint64, bool){
		"ParseUint": ParseUint, "loop": parseUintLoop, "swar": parseUintSWAR,
	}
	for name, parse := range parsers {
		for _, tt := range tests {
			// Tight capacity and spare capacity full of digits: the
			// SWAR variant reads into the capacity.
			tight := []byte(tt.in)
			roomy := append([]byte(tt.in), "99999999"...)[:len(tt.in)]
			for _, b := range [][]byte{tight[:len(tight):len(tight)], roomy} {
				n, ok := parse(b)
				if n != tt.want || ok != tt.ok {
					t.Errorf("%s(%q) = %d, %v; want %d, %v", name, tt.in, n, ok, tt.want, tt.ok)
				}
			}
		}
	}
}

// TestParseUintRandom compares the candidates with strconv.
func TestParseUintRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	for i := 0; i < 100000; i++ {
		k := 1 + r.IntN(19)
		s := make([]byte, k, k+8)
		for j := range s {
			s[j] = '0' + byte(r.IntN(10))
		}
		if r.IntN(4) == 0 {
			s[r.IntN(k)] = byte(r.Uint32())
		}
		want, err := strconv.ParseUint(string(s), 10, 64)
		for name, parse := range map[string]func([]byte) (uint64, bool){"ParseUint": ParseUint, "swar": parseUintSWAR} {
			n, ok := parse(s[: k : k+r.IntN(8)])
			if ok != (err == nil) || (ok && n != want) {
				t.Fatalf("%s(%q) = %d, %v; strconv: %d, %v", name, s, n, ok, want, err)
			}
		}
	}
}
