package ring

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

// recordReleases makes r's release function record the buffers it is given, then
// scribble over them as a reuse would (a View still reading one would see zeros).
func recordReleases(r *Ring) func() [][]byte {
	var mu sync.Mutex
	var released [][]byte
	r.SetRelease(func(b []byte) {
		mu.Lock()
		released = append(released, b)
		mu.Unlock()
		clear(b[:cap(b)])
	})
	return func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(released)
	}
}

// completeOwned sends a command, writes it and completes it with a large reply kept
// as it is, in buffer buf; it returns the command's seq.
func completeOwned(t *testing.T, r *Ring, buf []byte) uint64 {
	t.Helper()
	seq := mustSend(t, r, "GET", false)
	collect(t, r)
	v, n, err := parser.Parse(buf)
	if err != nil || n != len(buf) {
		t.Fatalf("Parse of the reply: %v, %d of %d bytes", err, n, len(buf))
	}
	kept, err := r.CompleteOwned(v, buf)
	if err != nil || !kept {
		t.Fatalf("CompleteOwned = %v, %v; want kept", kept, err)
	}
	return seq
}

// bulk encodes a bulk string of n bytes of c.
func bulk(c byte, n int) []byte {
	s := "$" + strconv.Itoa(n) + "\r\n" + strings.Repeat(string(c), n) + "\r\n"
	return []byte(s)
}

// A large reply kept as it was read stays readable, again and again, until bigKept
// later such replies were read; then its buffer goes to the release function (once),
// and its Views return ErrExpired.
func TestOwnedRetire(t *testing.T) {
	r := New(64)
	releases := recordReleases(r)
	const n = 1000
	bufs := make([][]byte, bigKept+2)
	seqs := make([]uint64, len(bufs))
	for i := range bufs {
		bufs[i] = bulk(byte('a'+i), n)
		seqs[i] = completeOwned(t, r, bufs[i])
	}
	want := func(i int) string { return strings.Repeat(string(rune('a'+i)), n) }
	// Read the first one twice: still there, and the second View is no new read.
	wantReply(t, r, seqs[0], want(0))
	wantReply(t, r, seqs[0], want(0))
	// bigKept-1 more reads keep it.
	for i := 1; i < bigKept; i++ {
		wantReply(t, r, seqs[i], want(i))
	}
	wantReply(t, r, seqs[0], want(0))
	if released := releases(); len(released) != 0 {
		t.Fatalf("%d buffers released with %d large replies read", len(released), bigKept)
	}
	// The next read lets go of the first.
	wantReply(t, r, seqs[bigKept], want(bigKept))
	if released := releases(); len(released) != 1 || &released[0][0] != &bufs[0][0] {
		t.Fatalf("after %d reads: %d released, want the first reply's buffer", bigKept+1, len(released))
	}
	if _, _, err := view(testCtx(t), r, seqs[0]); !errors.Is(err, ErrExpired) {
		t.Fatalf("View of a retired reply: %v, want ErrExpired", err)
	}
	// The others are still readable; reusing the slots lets go of them, each once.
	for i := 1; i < len(seqs); i++ {
		wantReply(t, r, seqs[i], want(i))
	}
	for range r.Size() {
		s := mustSend(t, r, "x", false)
		collect(t, r)
		complete(t, r, "y")
		wantReply(t, r, s, "y")
	}
	released := releases()
	if len(released) != len(bufs) {
		t.Fatalf("after reuse: %d released, want %d", len(released), len(bufs))
	}
	seen := map[*byte]bool{}
	for _, b := range released {
		if seen[&b[0]] {
			t.Fatal("a buffer was released twice")
		}
		seen[&b[0]] = true
	}
}

// A large reply nobody read when its slot is reused is parked with its buffer (left
// to the garbage collector, never released to the pool) and still read correctly.
func TestOwnedParked(t *testing.T) {
	r := New(2)
	released := 0
	r.SetRelease(func([]byte) { released++ })
	buf := bulk('p', 500)
	seq := completeOwned(t, r, buf)
	for range r.Size() {
		s := mustSend(t, r, "x", false)
		collect(t, r)
		complete(t, r, "y")
		wantReply(t, r, s, "y")
	}
	wantReply(t, r, seq, strings.Repeat("p", 500))
	if released != 0 {
		t.Fatalf("%d buffers released; a parked reply's buffer must not be", released)
	}
}

// A reply that is not kept as it is (a forgotten command's, a batch part) leaves its
// buffer with the caller.
func TestOwnedNotKept(t *testing.T) {
	r := New(8)
	mustSend(t, r, "SET", true)
	collect(t, r)
	buf := bulk('f', 300)
	v, _, _ := parser.Parse(buf)
	if kept, err := r.CompleteOwned(v, buf); kept || err != nil {
		t.Fatalf("forgotten command: CompleteOwned = %v, %v; want not kept", kept, err)
	}
	seq, cmd, _ := r.Reserve(nilCtx)
	*cmd = append(*cmd, "a\nb\n"...)
	r.PublishMulti(seq, 2, 2)
	r.Collect(nil)
	for i := 0; i < 2; i++ {
		if kept, err := r.CompleteOwned(v, buf); kept || err != nil {
			t.Fatalf("batch part %d: CompleteOwned = %v, %v; want not kept", i, kept, err)
		}
	}
	buf[5] = 'X' // the caller reuses its buffer: the batch kept copies
	err := r.ViewPart(testCtx(t), seq, 1, func(v parser.Value, err error) {
		if err != nil || len(v.Elems()) != 2 || string(v.Elems()[1].Bytes()) != strings.Repeat("f", 300) {
			t.Errorf("batch result %v, %v", v, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Concurrent readers of large replies and reuse of their slots: every View gets its
// own reply or ErrExpired, and every buffer is released once at most (run with -race).
func TestOwnedConcurrent(t *testing.T) {
	r := New(8)
	var mu sync.Mutex
	released := map[*byte]int{}
	r.SetRelease(func(b []byte) {
		mu.Lock()
		released[&b[0]]++
		mu.Unlock()
		clear(b[:cap(b)]) // as a reuse would: a View still reading it sees zeros
	})
	const total = 400
	done := make(chan struct{})
	var wg sync.WaitGroup
	type sent struct {
		seq uint64
		c   byte
	}
	sentCh := make(chan sent, total)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range sentCh {
				for k := 0; k < 2; k++ {
					var got string
					err := r.View(testCtx(t), s.seq, func(v parser.Value, err error) { got = string(v.Bytes()) })
					if err == nil && got != strings.Repeat(string(s.c), 64) {
						t.Errorf("seq %d: got %.8q..., want %c", s.seq, got, s.c)
					}
					if err != nil && !errors.Is(err, ErrExpired) {
						t.Errorf("seq %d: %v", s.seq, err)
					}
				}
			}
		}()
	}
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			c := byte('a' + i%26)
			seq, cmd, err := r.Reserve(testCtx(t))
			if err != nil {
				t.Error(err)
				return
			}
			*cmd = append(*cmd, "GET\n"...)
			r.Publish(seq, false)
			r.Collect(nil)
			buf := bulk(c, 64)
			v, _, _ := parser.Parse(buf)
			if _, err := r.CompleteOwned(v, buf); err != nil {
				t.Error(err)
				return
			}
			sentCh <- sent{seq, c}
		}
		close(sentCh)
	}()
	<-done
	wg.Wait()
	for p, n := range released {
		if n != 1 {
			t.Fatalf("buffer %p released %d times", p, n)
		}
	}
}

// retire waits for a View still reading the reply it lets go of: the reader gets the
// whole reply, and the buffer is released (scribbled over) only after it finished.
func TestOwnedRetireWaitsForReader(t *testing.T) {
	r := New(64)
	releases := recordReleases(r)
	first := completeOwned(t, r, bulk('r', 5000))
	wantReply(t, r, first, strings.Repeat("r", 5000)) // its first read
	others := make([]uint64, bigKept)
	for i := range others {
		others[i] = completeOwned(t, r, bulk(byte('s'+i), 100))
	}
	reading, goOn := make(chan struct{}), make(chan struct{})
	done := make(chan string)
	go func() {
		var got string
		err := r.View(testCtx(t), first, func(v parser.Value, err error) {
			close(reading)
			<-goOn // hold the read claim while the retire runs
			got = string(v.Bytes())
		})
		if err != nil {
			got = err.Error()
		}
		done <- got
	}()
	<-reading
	retired := make(chan struct{})
	go func() {
		for i := range others {
			wantReply(t, r, others[i], strings.Repeat(string(rune('s'+i)), 100))
		}
		close(retired)
	}()
	// The retire of first waits for the reader: nothing is released until it ends.
	select {
	case <-retired:
		t.Fatal("retire went on while the reply was being read")
	case <-time.After(50 * time.Millisecond):
	}
	if n := len(releases()); n != 0 {
		t.Fatalf("%d buffers released while the reply was being read", n)
	}
	close(goOn)
	if got := <-done; got != strings.Repeat("r", 5000) {
		t.Fatalf("the reader got %.20q... (%d bytes)", got, len(got))
	}
	<-retired
	if n := len(releases()); n != 1 {
		t.Fatalf("%d buffers released after the read, want 1", n)
	}
	if _, _, err := view(testCtx(t), r, first); !errors.Is(err, ErrExpired) {
		t.Fatalf("View after the retire: %v, want ErrExpired", err)
	}
}

// Peek does not count as a read: a large reply peeked at is not let go of after four
// more reads, and a result only peeked at is still parked when its slot is reused.
func TestPeekIsNotARead(t *testing.T) {
	r := New(8)
	r.SetRelease(func([]byte) {})
	seq := completeOwned(t, r, bulk('p', 300))
	if err := r.Peek(testCtx(t), seq, func(v parser.Value, err error) {}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < bigKept+1; i++ {
		s := completeOwned(t, r, bulk('q', 10))
		wantReply(t, r, s, strings.Repeat("q", 10))
	}
	wantReply(t, r, seq, strings.Repeat("p", 300))

	small := mustSend(t, r, "x", false)
	collect(t, r)
	complete(t, r, "kept")
	if err := r.Peek(testCtx(t), small, func(v parser.Value, err error) {}); err != nil {
		t.Fatal(err)
	}
	for range r.Size() {
		s := mustSend(t, r, "y", false)
		collect(t, r)
		complete(t, r, "z")
		wantReply(t, r, s, "z")
	}
	wantReply(t, r, small, "kept") // parked, since only peeked at
}
