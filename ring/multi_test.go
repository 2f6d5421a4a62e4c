package ring

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/respring/respring/parser"
)

// reserveMulti reserves a slot, fills it with cmd and publishes it as a group of
// replies replies viewed by parts Futures.
func reserveMulti(t *testing.T, r *Ring, cmd string, replies, parts int) uint64 {
	t.Helper()
	seq, buf, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, cmd...)
	r.PublishMulti(seq, replies, parts)
	return seq
}

// reservePlain reserves and publishes a forgotten command.
func reservePlain(t *testing.T, r *Ring, cmd string) uint64 {
	t.Helper()
	seq, buf, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, cmd...)
	r.Publish(seq, true) // nobody reads it: its result is never parked
	return seq
}

// partText views part i of seq and returns the text of that element of the result.
func partText(r *Ring, seq uint64, i int) (string, error) {
	var out string
	var verr error
	err := r.ViewPart(nilCtx, seq, i, func(v parser.Value, e error) {
		if e != nil {
			verr = e
			return
		}
		out = v.Elems()[i].Text()
	})
	if err != nil {
		return "", err
	}
	return out, verr
}

func TestMultiGathersRepliesInOrder(t *testing.T) {
	r := New(8)
	a := reservePlain(t, r, "a;")
	g := reserveMulti(t, r, "b;c;d;", 3, 3)
	e := reservePlain(t, r, "e;")
	buf, n := r.Collect(nil)
	if string(buf) != "a;b;c;d;e;" || n != 3 {
		t.Fatalf("collected %q, %d", buf, n)
	}
	for _, s := range []string{"A", "B", "C"} {
		if err := r.Complete(parser.NewBulkString(s)); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Done(a) || r.Done(g) {
		t.Fatalf("after 3 replies: a done %v, group done %v (want true, false)", r.Done(a), r.Done(g))
	}
	if err := r.Complete(parser.NewBulkString("D")); err != nil {
		t.Fatal(err)
	}
	if !r.Done(g) || r.Done(e) {
		t.Fatalf("after 4 replies: group done %v, e done %v", r.Done(g), r.Done(e))
	}
	if err := r.Complete(parser.NewBulkString("E")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"B", "C", "D"} {
		if got, err := partText(r, g, i); err != nil || got != want {
			t.Fatalf("part %d = %q, %v", i, got, err)
		}
	}
	if err := r.Complete(parser.NewBulkString("X")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("extra reply: %v", err)
	}
}

// A group whose slot is reused before all its parts were viewed stays parked until
// each part was viewed once; a part viewed twice after that is expired.
func TestMultiParkedUntilEveryPartViewed(t *testing.T) {
	r := New(2)
	answer := func() {
		buf, _ := r.Collect(nil)
		for _, c := range strings.Split(strings.TrimSuffix(string(buf), ";"), ";") {
			if err := r.Complete(parser.NewBulkString(strings.ToUpper(c))); err != nil {
				t.Fatal(err)
			}
		}
	}
	g := reserveMulti(t, r, "x;y;z;", 3, 3)
	answer()
	if got, err := partText(r, g, 0); err != nil || got != "X" {
		t.Fatalf("part 0 = %q, %v", got, err)
	}
	// Two more commands reuse both slots of the ring.
	reservePlain(t, r, "p;")
	answer()
	reservePlain(t, r, "q;")
	answer()
	if r.Parked() != 1 {
		t.Fatalf("parked = %d, want the group", r.Parked())
	}
	if got, err := partText(r, g, 2); err != nil || got != "Z" {
		t.Fatalf("part 2 after reuse = %q, %v", got, err)
	}
	if _, err := partText(r, g, 2); !errors.Is(err, ErrExpired) {
		t.Fatalf("part 2 again: %v, want ErrExpired", err)
	}
	if got, err := partText(r, g, 1); err != nil || got != "Y" {
		t.Fatalf("part 1 after reuse = %q, %v", got, err)
	}
	if r.Parked() != 0 {
		t.Fatalf("parked = %d after every part was viewed", r.Parked())
	}
	// A group whose parts were all viewed is not parked at all.
	g2 := reserveMulti(t, r, "u;v;", 2, 2)
	answer()
	partText(r, g2, 0)
	partText(r, g2, 1)
	reservePlain(t, r, "w;")
	answer()
	reservePlain(t, r, "w;")
	answer()
	if r.Parked() != 0 {
		t.Fatalf("parked = %d, want 0", r.Parked())
	}
}

// A connection lost in the middle of a group fails it as a whole; the next
// connection's group starts gathering from scratch.
func TestMultiLostMidway(t *testing.T) {
	r := New(8)
	g := reserveMulti(t, r, "a;b;c;", 3, 3)
	r.Collect(nil)
	r.Complete(parser.NewBulkString("A"))
	if n := r.FailWritten(errLost); n != 1 {
		t.Fatalf("FailWritten failed %d", n)
	}
	if _, err := partText(r, g, 0); !errors.Is(err, errLost) {
		t.Fatalf("part 0 after loss: %v", err)
	}
	g2 := reserveMulti(t, r, "d;e;", 2, 2)
	r.Collect(nil)
	r.Complete(parser.NewBulkString("D"))
	r.Complete(parser.NewBulkString("E"))
	if got, err := partText(r, g2, 0); err != nil || got != "D" {
		t.Fatalf("next group part 0 = %q, %v", got, err)
	}
}

// Close in the middle of a group fails it; its remaining replies are still read (and
// dropped) in order, so the next command's reply is not shifted.
func TestMultiClosedMidway(t *testing.T) {
	r := New(8)
	g := reserveMulti(t, r, "a;b;", 2, 2)
	r.Collect(nil)
	r.Complete(parser.NewBulkString("A"))
	r.Close(nil)
	if _, err := partText(r, g, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("part 1 after Close: %v", err)
	}
	if err := r.Complete(parser.NewBulkString("B")); err != nil {
		t.Fatalf("late reply of the group: %v", err)
	}
	if err := r.Complete(parser.NewBulkString("C")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("a reply past the group: %v", err)
	}
}

// A group is cancelled as a whole when its View's context ends before it is written.
func TestMultiCancelledWhole(t *testing.T) {
	r := New(8)
	g := reserveMulti(t, r, "a;b;", 2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.ViewPart(ctx, g, 1, nil); err == nil {
		t.Fatal("no error from a cancelled view")
	}
	if buf, n := r.Collect(nil); len(buf) != 0 || n != 0 {
		t.Fatalf("a cancelled group was written: %q", buf)
	}
}

// Settled is true only when every reserved command is done, whether or not the loop
// has freed it yet.
func TestSettled(t *testing.T) {
	r := New(8)
	if !r.Settled() {
		t.Fatal("a new ring is not settled")
	}
	seq, buf, _ := r.Reserve(nilCtx)
	if r.Settled() {
		t.Fatal("settled with a command being encoded")
	}
	*buf = append(*buf, "a;"...)
	r.Publish(seq, false)
	r.Collect(nil)
	if r.Settled() {
		t.Fatal("settled with a command written and unanswered")
	}
	r.Complete(parser.NewBulkString("A"))
	if !r.Settled() {
		t.Fatal("not settled after the reply")
	}
	// SettledExcept passes over the commands it is given, and only those.
	own, buf, _ := r.Reserve(nilCtx)
	*buf = append(*buf, "own;"...)
	r.Publish(own, false)
	quiet, buf, _ := r.Reserve(nilCtx)
	*buf = append(*buf, "quiet;"...)
	r.PublishNoReply(quiet)
	if r.SettledExcept(quiet) || !r.SettledExcept(own, quiet) {
		t.Fatal("SettledExcept before the write: wrong")
	}
	r.Collect(nil) // the quiet command is done once written, before it is freed
	if !r.SettledExcept(own) || r.Settled() {
		t.Fatal("SettledExcept after the write: wrong")
	}
}

// A command published with PublishNoReply is done once written and takes no reply
// (NextReply passes over it): the replies go to the commands around it.
func TestPublishNoReply(t *testing.T) {
	r := New(8)
	a := reservePlain(t, r, "a;")
	seq, buf, _ := r.Reserve(nilCtx)
	*buf = append(*buf, "quiet;"...)
	r.PublishNoReply(seq)
	c := reservePlain(t, r, "c;")
	if got, _ := r.Collect(nil); string(got) != "a;quiet;c;" {
		t.Fatalf("collected %q", got)
	}
	if !r.Done(seq) || r.Done(a) {
		t.Fatalf("no-reply done %v, a done %v", r.Done(seq), r.Done(a))
	}
	if n := r.NextReply(); n != a {
		t.Fatalf("NextReply before a's reply: %d, want a (%d)", n, a)
	}
	r.Complete(parser.NewBulkString("A"))
	if n := r.NextReply(); n != c {
		t.Fatalf("NextReply after a's reply: %d, want c (%d), past the command that takes none", n, c)
	}
	r.Complete(parser.NewBulkString("C"))
	if n := r.NextReply(); n != c+1 {
		t.Fatalf("NextReply with none due: %d, want %d", n, c+1)
	}
	if !r.Done(a) || !r.Done(c) {
		t.Fatal("the replies did not reach a and c")
	}
	if err := r.Complete(parser.NewBulkString("X")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("a third reply: %v", err)
	}
	var null bool
	r.View(nilCtx, seq, func(v parser.Value, err error) { null = err == nil && v.IsNull() })
	if !null {
		t.Fatal("the no-reply command's result is not a null value")
	}
}
