package driver

import "testing"

// Every size from 1 byte to 64 MiB gets the smallest class that holds it: classes are
// quarter steps of each power of two, so a buffer wastes less than a quarter of its
// size (a 1 MiB value and its header take 1.25 MiB); larger sizes get no class.
func TestBigClasses(t *testing.T) {
	prev := 0
	for k := 0; k < bigClasses; k++ {
		if s := bigSize(k); s <= prev {
			t.Fatalf("class %d: size %d after %d", k, s, prev)
		}
		prev = bigSize(k)
	}
	if bigSize(0) != 128<<10 || bigSize(bigClasses-1) != 64<<20 || bigSize(12) != 1<<20 || bigSize(13) != 1280<<10 {
		t.Fatalf("class sizes %d .. %d, 1 MiB at 12: %d, next %d", bigSize(0), bigSize(bigClasses-1), bigSize(12), bigSize(13))
	}
	check := func(n int) {
		k := bigClass(n)
		if n > 64<<20 {
			if k != -1 {
				t.Fatalf("bigClass(%d) = %d, want -1", n, k)
			}
			return
		}
		if k < 0 || bigSize(k) < n || (k > 0 && bigSize(k-1) >= n) {
			t.Fatalf("bigClass(%d) = %d (size %d), not the smallest class holding it", n, k, bigSize(max(k, 0)))
		}
	}
	for n := 1; n <= 1<<20; n += 997 {
		check(n)
	}
	for k := 0; k < bigClasses; k++ {
		for _, d := range []int{-1, 0, 1} {
			check(bigSize(k) + d)
		}
	}
	// Only buffers of a class's exact size are pooled; getBig gives them back.
	b := getBig(1<<20 + 20)
	if cap(b) != 1280<<10 || len(b) != 0 {
		t.Fatalf("getBig(1 MiB + 20): len %d cap %d", len(b), cap(b))
	}
	putBig(b)
	putBig(make([]byte, 0, 1<<20+20)) // not a class size: dropped
}
