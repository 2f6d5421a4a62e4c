package sentinel

// Asking the sentinels at a (re)connect: hedged, so that one that accepts
// connections and never answers does not hold up the answer of the others.

import (
	"context"
	"sync"
	"time"
)

// hedgeDelay is how long a question to a sentinel goes unanswered before the next
// sentinel is asked as well: a hung sentinel first in the list costs a (re)connect
// this much, not askTimeout. A sentinel answers in well under a millisecond on a
// LAN, so the next one is seldom asked for nothing.
const hedgeDelay = 50 * time.Millisecond

// answer is one sentinel's answer to a question of hedged.
type answer[T any] struct {
	i   int // the sentinel's index in the list
	v   T
	err error
}

// hedged asks the sentinels of list, in order, with ask, each question bounded by
// timeout: the first at once, each next one as soon as every question out has
// failed, or hedgeDelay after the last one was asked without an answer. The first
// answer without an error is taken: a sentinel that has not answered within
// hedgeDelay loses its rank to the next, and among answers received together the
// sentinel first in list wins. The questions still out are then cancelled, and
// hedged returns once every goroutine it started has ended: one per sentinel at
// most, none left behind.
//
// It returns the index in list of the sentinel whose answer was taken and that
// answer, or -1; and the error of each sentinel that failed (errs[i] for list[i]):
// with an answer, those that failed before it (nil for one cancelled or not asked);
// with none, every one asked (nil for one not asked, when ctx ended first). done, if
// set, is told of the end of every question, before hedged returns.
func hedged[T any](ctx context.Context, list []string, timeout time.Duration,
	ask func(ctx context.Context, s string) (T, error), done func(s string, err error)) (int, T, []error) {
	var zero T
	if len(list) == 0 { // never the watcher's list: Config.Sentinels always stay in it
		return -1, zero, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // deferred first, so it runs after cancel
	defer cancel()
	results := make(chan answer[T], len(list)) // room for every answer: none waits to report
	errs := make([]error, len(list))
	asked, out := 0, 0
	next := func() {
		i := asked
		asked++
		out++
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, acancel := context.WithTimeout(ctx, timeout)
			v, err := ask(actx, list[i])
			acancel()
			if done != nil {
				done(list[i], err)
			}
			results <- answer[T]{i: i, v: v, err: err}
		}()
	}
	hedge := time.NewTimer(hedgeDelay)
	defer hedge.Stop()
	next()
	for out > 0 {
		var tick <-chan time.Time
		if asked < len(list) && ctx.Err() == nil {
			tick = hedge.C
		}
		select {
		case r := <-results:
			got := []answer[T]{r}
			for more := true; more; { // and those that arrived with it
				select {
				case r := <-results:
					got = append(got, r)
				default:
					more = false
				}
			}
			out -= len(got)
			best := -1
			var v T
			for _, r := range got {
				switch {
				case r.err != nil:
					errs[r.i] = r.err
				case best < 0 || r.i < best:
					best, v = r.i, r.v
				}
			}
			if best >= 0 {
				return best, v, errs
			}
			if out == 0 && asked < len(list) && ctx.Err() == nil {
				next() // all failed: no reason to wait
				hedge.Reset(hedgeDelay)
			}
		case <-tick:
			next()
			hedge.Reset(hedgeDelay)
		}
	}
	return -1, zero, errs
}
