package ring

import (
	"bytes"
	"context"
	"testing"

	"github.com/respring/respring/parser"
)

// lendCmd reserves a slot, encodes "<pre>" plus b lent after it plus "\r\n", and
// publishes it.
func lendCmd(t *testing.T, r *Ring, pre string, b []byte) uint64 {
	t.Helper()
	seq, buf, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, pre...)
	r.Lend(seq, len(*buf), b)
	*buf = append(*buf, "\r\n"...)
	r.Publish(seq, false)
	return seq
}

// awaitAsync runs AwaitLent in a goroutine; the channel gets its result.
func awaitAsync(r *Ring, ctx context.Context, seq uint64, down func() bool) chan bool {
	ch := make(chan bool, 1)
	go func() { ch <- r.AwaitLent(ctx, seq, down) }()
	return ch
}

// A lent buffer written by reference stays the ring's until Wrote: AwaitLent returns
// only then, and vec referenced the sender's own bytes.
func TestLendReferencedUntilWrote(t *testing.T) {
	r := New(8)
	b := bytes.Repeat([]byte("v"), 100)
	seq := lendCmd(t, r, "hdr:", b)
	got := awaitAsync(r, nilCtx, seq, nil)
	_, vec, n := r.CollectVec(nil, nil, 50)
	if n != 1 || string(bytes.Join(vec, nil)) != "hdr:"+string(b)+"\r\n" {
		t.Fatalf("collected %d: %q", n, vec)
	}
	shared := false
	for _, p := range vec {
		shared = shared || (len(p) == len(b) && &p[0] == &b[0])
	}
	if !shared {
		t.Fatal("vec does not reference the lent bytes")
	}
	if r.slot(seq).lent.Load() == 0 {
		t.Fatal("the bytes were handed back before Wrote")
	}
	select {
	case <-got:
		t.Fatal("AwaitLent returned before Wrote")
	default:
	}
	r.Wrote()
	if wake := <-got; wake {
		t.Fatal("AwaitLent asked for a wake though nothing was taken back")
	}
}

// A lent buffer copied by Collect (no vec) is handed back by it.
func TestLendCopied(t *testing.T) {
	r := New(8)
	b := []byte("payload")
	seq := lendCmd(t, r, "x:", b)
	dst, _ := r.Collect(nil)
	r.AwaitLent(nilCtx, seq, nil) // returns: Collect copied them
	copy(b, "XXXXXXX")
	if string(dst) != "x:payload\r\n" {
		t.Fatalf("dst = %q", dst)
	}
}

// With no connection up (down) or the context ended, a command not yet written takes
// its bytes back: the sender may change them at once, and the command goes out as
// it was given.
func TestLendTakeBack(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		down func() bool
	}{
		{"down", nil, func() bool { return true }},
		{"ctx", cancelled, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(8)
			r.Collect(nil) // the writer is idle: the next Publish asks for a wake
			b := []byte("0123456789")
			seq := lendCmd(t, r, "k:", b)
			r.AwaitLent(tc.ctx, seq, tc.down)
			copy(b, "abcdefghij")
			dst, n := r.Collect(nil)
			if n != 1 || string(dst) != "k:0123456789\r\n" {
				t.Fatalf("collected %d: %q", n, dst)
			}
			if r.Done(seq) {
				t.Fatal("the command was completed instead of queued")
			}
		})
	}
}

// Once written by reference, neither the context nor down lets the sender go: only
// Wrote (written, or dropped with the connection) does.
func TestLendWrittenIgnoresCtx(t *testing.T) {
	r := New(8)
	b := bytes.Repeat([]byte("w"), 64)
	seq := lendCmd(t, r, "h:", b)
	_, vec, _ := r.CollectVec(nil, nil, 32)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := awaitAsync(r, ctx, seq, func() bool { return true })
	if r.slot(seq).lent.Load() == 0 || len(vec) == 0 {
		t.Fatal("not lent while referenced")
	}
	select {
	case <-got:
		t.Fatal("AwaitLent returned while the writer references the bytes")
	default:
	}
	r.FailWritten(ErrFailed) // the connection is lost: the writer drops vec, then Wrote
	r.Wrote()
	<-got
}

// Close hands back the bytes of a command not yet written; one written by reference
// keeps them until Wrote.
func TestLendClose(t *testing.T) {
	r := New(8)
	big := bytes.Repeat([]byte("c"), 64)
	written := lendCmd(t, r, "a:", big)
	r.CollectVec(nil, nil, 32)
	queued := lendCmd(t, r, "b:", []byte("small"))
	gotW := awaitAsync(r, nilCtx, written, nil)
	r.Close(nil)
	r.AwaitLent(nilCtx, queued, nil) // returns: Close failed it before it was written
	if r.slot(written).lent.Load() == 0 {
		t.Fatal("Close handed back bytes the writer references")
	}
	r.Wrote()
	<-gotW
}

// While the writer holds a batch (Hold), a reply to one of its commands (a server
// answering before it read the command whole) neither frees the slot for reuse nor
// lets go of its buffer; Wrote does both.
func TestHoldDefersReuse(t *testing.T) {
	r := New(4)
	var released [][]byte
	r.SetRelease(func(b []byte) { released = append(released, b) })
	big := bytes.Repeat([]byte("B"), cmdKeep+1)
	seq, buf, _ := r.Reserve(nilCtx)
	*buf = append((*buf)[:0], big...)
	r.Publish(seq, false)
	_, vec, _ := r.CollectVec(nil, nil, 1024)
	if len(vec) != 1 || &vec[0][0] != &(*buf)[0] {
		t.Fatal("the large command was not referenced")
	}
	r.Hold()
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if r.slot(seq).cmd == nil || len(released) != 0 {
		t.Fatal("the held command's buffer was let go of at its reply")
	}
	for range 3 {
		if _, _, err := r.Reserve(nilCtx); err != nil {
			t.Fatal(err)
		}
	}
	full, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Reserve(full); err != context.Canceled {
		t.Fatalf("Reserve with the held slot's reuse due: %v, want no space", err)
	}
	r.Wrote()
	if len(released) != 1 || &released[0][0] != &vec[0][0] {
		t.Fatalf("after Wrote: %d buffers released, want the held one", len(released))
	}
	if _, _, err := r.Reserve(full); err != nil {
		t.Fatalf("Reserve after Wrote: %v", err)
	}
}
