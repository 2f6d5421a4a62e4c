package cluster

import (
	"sync/atomic"
	"time"
)

// retryLevels is the number of backoff steps (attempts 1 to 7 and after).
const retryLevels = 7

// retryGates spaces the retries of commands whose replies proved they did not run
// (TRYAGAIN, CLUSTERDOWN, ...): one backoff for each attempt level, shared by the
// retries of that level that come together. The driver follows a connection's
// redirects in the order the commands were sent, one after the other (driver.Rerouter),
// so a burst of CLUSTERDOWN replies would otherwise wait out one backoff per command,
// in a row; retries read from many goroutines at once wait about as before.
type retryGates struct {
	until [retryLevels]atomic.Int64 // unix nanoseconds: the end of the level's last backoff
}

// retryDelay is the backoff of a retry at attempt (1 for the first): 10 ms doubling
// up to 500 ms; a retry waits about half of it (see wait).
func retryDelay(attempt int) time.Duration {
	return min(10*time.Millisecond<<min(attempt-1, 6), 500*time.Millisecond)
}

// wait returns how long a retry at attempt made at now waits: until the end of its
// level's backoff if one is under way; not at all if one ended less than a full delay
// ago (the retry is one of that backoff's burst, sent after the one before it); else a
// new backoff of about half the delay, with jitter, which it starts.
func (g *retryGates) wait(attempt int, now time.Time) time.Duration {
	lvl := min(max(attempt, 1), retryLevels) - 1
	d := retryDelay(attempt)
	t := now.UnixNano()
	end := g.until[lvl].Load()
	switch {
	case t < end:
		return time.Duration(end - t)
	case t-end < int64(d):
		return 0
	}
	w := jitter(d / 2)
	if !g.until[lvl].CompareAndSwap(end, t+int64(w)) {
		return g.wait(attempt, now) // another retry started one: join it
	}
	return w
}
