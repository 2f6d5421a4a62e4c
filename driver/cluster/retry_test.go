package cluster

import (
	"testing"
	"time"
)

// Retries of one attempt level that come together wait out one backoff: a retry during
// a backoff waits until its end, one right after it goes at once, one a full delay
// later starts a new backoff; levels do not share backoffs.
func TestRetryGates(t *testing.T) {
	var g retryGates
	t0 := time.Unix(1000, 0)
	d := retryDelay(1)
	first := g.wait(1, t0)
	if first < d/2 || first > d/2+d/4 {
		t.Fatalf("first retry waits %v, want %v to %v", first, d/2, d/2+d/4)
	}
	end := t0.Add(first)
	if w := g.wait(1, t0.Add(time.Millisecond)); w != first-time.Millisecond {
		t.Fatalf("a retry during the backoff waits %v, want %v (until its end)", w, first-time.Millisecond)
	}
	for _, after := range []time.Duration{0, time.Millisecond, d - time.Nanosecond} {
		if w := g.wait(1, end.Add(after)); w != 0 {
			t.Fatalf("a retry %v after the backoff waits %v, want 0", after, w)
		}
	}
	if w := g.wait(2, end); w < retryDelay(2)/2 {
		t.Fatalf("a retry of the next level waits %v, want a backoff of its own (at least %v)", w, retryDelay(2)/2)
	}
	if w := g.wait(1, end.Add(d)); w < d/2 {
		t.Fatalf("a retry a full delay after the backoff waits %v, want a new one (at least %v)", w, d/2)
	}
	if w := g.wait(50, t0); w < retryDelay(50)/2 || retryDelay(50) != 500*time.Millisecond {
		t.Fatalf("attempt 50 waits %v (delay %v), want the last level's", w, retryDelay(50))
	}
}
