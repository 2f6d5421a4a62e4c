package parser

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// feed gives p the stream in pieces of size piece, retrying Parse after each piece
// only once NeedBytes is reached, as a driver would. It returns the value, the number
// of Parse calls, and the bytes examined by the items read.
func feed(t *testing.T, p *Parser, stream []byte, piece int) (Value, int) {
	t.Helper()
	var buf []byte
	calls := 0
	for off := 0; ; {
		end := min(off+piece, len(stream))
		buf = append(buf, stream[off:end]...)
		off = end
		if need := p.NeedBytes(); need > len(buf) && off < len(stream) {
			continue
		}
		calls++
		v, n, err := p.Parse(buf)
		if errors.Is(err, ErrIncomplete) {
			if off == len(stream) {
				t.Fatal("incomplete at end of stream")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n != len(stream) {
			t.Fatalf("consumed %d of %d", n, len(stream))
		}
		return v, calls
	}
}

func TestLargeBulkInPiecesIsLinear(t *testing.T) {
	const size = 64 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	stream := append([]byte("$"+strconv.Itoa(size)+"\r\n"), payload...)
	stream = append(stream, "\r\n"...)
	var p Parser
	v, calls := feed(t, &p, stream, 16<<10)
	if !bytes.Equal(v.Bytes(), payload) {
		t.Fatal("payload differs")
	}
	// Once the header is read, NeedBytes holds the caller back until the whole bulk is
	// there: two calls, not one per piece.
	if calls != 2 {
		t.Fatalf("%d Parse calls, want 2", calls)
	}
}

func TestLargeArrayInPiecesIsLinear(t *testing.T) {
	const n = 200_000
	var stream []byte
	stream = append(stream, "*"+strconv.Itoa(n)+"\r\n"...)
	for i := 0; i < n; i++ {
		stream = append(stream, "$6\r\n"...)
		stream = append(stream, strconv.Itoa(100000+i)...)
		stream = append(stream, "\r\n"...)
	}
	var p Parser
	before := p.items
	v, calls := feed(t, &p, stream, 16<<10)
	if len(v.Elems()) != n || v.Elems()[n-1].Text() != strconv.Itoa(100000+n-1) {
		t.Fatalf("got %d elements", len(v.Elems()))
	}
	// Each call re-reads at most the one item it stopped in: linear, not quadratic.
	if items := p.items - before; items > n+1+calls {
		t.Fatalf("%d items read for %d elements in %d calls", items, n+1, calls)
	}
}

// allocatedBy returns the bytes allocated while f runs (ReadMemStats flushes every P's
// cache, so the figure is exact).
func allocatedBy(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// Consecutive attribute maps are merged in one copy when they attach, not map by map:
// that copied the run so far for every map, and 3 KB of "|1 _ _" took 22 MB.
func TestManyAttributesAreLinear(t *testing.T) {
	shapes := []struct {
		name, pre, attr, post string
		per                   int // attribute pairs per attr
	}{
		{"top", "", "|1\r\n:1\r\n_\r\n", ":7\r\n", 1},
		{"element", "*?\r\n", "|1\r\n:1\r\n_\r\n", ":7\r\n.\r\n", 1},
		{"before aggregate", "", "|1\r\n:1\r\n_\r\n", "*1\r\n:7\r\n", 1},
		// each map's key carries a merged run of its own
		{"nested runs", "", "|1\r\n|1\r\n_\r\n_\r\n|1\r\n_\r\n_\r\n:1\r\n_\r\n", ":7\r\n", 1},
	}
	for _, s := range shapes {
		alloc := func(k int) uint64 {
			stream := []byte(s.pre + strings.Repeat(s.attr, k) + s.post)
			var v Value
			var n int
			var err error
			got := allocatedBy(func() {
				var p Parser
				v, n, err = p.Parse(stream)
			})
			if err != nil || n != len(stream) {
				t.Fatalf("%s: %v, %d of %d", s.name, err, n, len(stream))
			}
			if v.Kind() == Array && s.pre != "" {
				v = v.Elems()[0]
			}
			if a := v.Attrs(); len(a) != 2*s.per*k || a[len(a)-2].Int() != 1 {
				t.Fatalf("%s: %d attributes, want %d", s.name, len(a), 2*s.per*k)
			}
			return got
		}
		small, large := alloc(1000), alloc(8000)
		// Linear: 8x the maps, about 8x the bytes (slice growth varies); quadratic was 64x.
		if large > 16*small {
			t.Errorf("%s: %d bytes for 1000 attributes, %d for 8000", s.name, small, large)
		}
	}
}
