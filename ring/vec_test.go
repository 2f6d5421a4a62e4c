package ring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/respring/respring/parser"
)

// publishKept is publish for a command marked with Keep.
func publishKept(t *testing.T, r *Ring, cmd string) uint64 {
	t.Helper()
	seq, buf, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, cmd...)
	r.Keep(seq)
	r.Publish(seq, false)
	return seq
}

// publish reserves a slot, fills it with cmd and publishes it.
func publish(t *testing.T, r *Ring, cmd string) uint64 {
	t.Helper()
	seq, buf, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, cmd...)
	r.Publish(seq, false)
	return seq
}

func TestCollectVec(t *testing.T) {
	r := New(64)
	big := strings.Repeat("B", 100)
	cmds := []string{"a;", big + "1;", "b;", "c;", big + "2;", big + "3;", "d;"}
	var seqs []uint64
	for _, c := range cmds {
		seqs = append(seqs, publish(t, r, c))
	}
	// A small dst forces growth after a reference, so later parts start in a new
	// array while vec keeps the old one.
	dst, vec, n := r.CollectVec(make([]byte, 0, 1), nil, 50)
	if n != len(cmds) {
		t.Fatalf("n = %d, want %d", n, len(cmds))
	}
	if got, want := string(bytes.Join(vec, nil)), strings.Join(cmds, ""); got != want {
		t.Fatalf("vec joins to %q, want %q", got, want)
	}
	refs := 0
	for _, b := range vec {
		if len(b) > 50 {
			refs++
		}
	}
	if refs != 3 {
		t.Fatalf("%d commands referenced, want 3 (vec %q)", refs, vec)
	}
	if strings.Contains(string(dst), "B") {
		t.Fatalf("a large command was copied into dst %q", dst)
	}
	for _, i := range []int{1, 4, 5} {
		if r.slot(seqs[i]).cmd == nil {
			t.Fatalf("slot of command %d let go of its buffer before its reply", i)
		}
	}
	// Appending to a vec part must not overwrite the next part (cap is clipped).
	for _, b := range vec {
		if cap(b) != len(b) && len(b) <= 50 {
			t.Fatalf("part %q has spare capacity %d", b, cap(b)-len(b))
		}
	}

	// With nothing large, vec stays empty and dst holds everything.
	publish(t, r, "e;")
	publish(t, r, "f;")
	dst, vec, n = r.CollectVec(dst[:0], vec[:0], 50)
	if n != 2 || len(vec) != 0 || string(dst) != "e;f;" {
		t.Fatalf("CollectVec = %q, %q, %d; want \"e;f;\", no vec, 2", dst, vec, n)
	}
}

func TestCollectVecRefLimit(t *testing.T) {
	r := New(256)
	big := strings.Repeat("B", 64)
	var want strings.Builder
	for i := 0; i < MaxVecRefs+5; i++ {
		c := big + ";"
		publish(t, r, c)
		want.WriteString(c)
	}
	dst, vec, n := r.CollectVec(nil, nil, 10)
	if n != MaxVecRefs+5 {
		t.Fatalf("n = %d", n)
	}
	if len(vec) > 2*MaxVecRefs+1 {
		t.Fatalf("vec has %d parts, more than %d", len(vec), 2*MaxVecRefs+1)
	}
	if got := string(bytes.Join(vec, nil)); got != want.String() {
		t.Fatalf("vec joins to %d bytes, want %d", len(got), want.Len())
	}
	if len(dst) != 5*len(big+";") {
		t.Fatalf("dst holds %d bytes, want the 5 commands past the limit", len(dst))
	}
}

// viewCmd returns what ViewCmd shows of seq: the command buffer and the reply text.
func viewCmd(t *testing.T, r *Ring, seq uint64, part int) (cmd, reply string) {
	t.Helper()
	err := r.ViewCmd(testCtx(t), seq, part, func(c []byte, v parser.Value, err error, _ *Memo) {
		if err != nil {
			t.Fatalf("slot error %v", err)
		}
		cmd, reply = string(c), string(v.Bytes())
	})
	if err != nil {
		t.Fatal(err)
	}
	return cmd, reply
}

// A kept command stays viewable with its reply: kept after an error reply, also once
// parked, and a large one let go after a reply that is not an error.
func TestKeepViewCmd(t *testing.T) {
	r := New(4)
	big := strings.Repeat("K", cmdKeep+1)
	reserveKept := func(cmd string) uint64 { return publishKept(t, r, cmd) }
	a := reserveKept(big)
	b := reserveKept("small;")
	plain := publish(t, r, "plain;")
	_, vec, n := r.CollectVec(nil, nil, 16)
	if n != 3 || string(bytes.Join(vec, nil)) != big+"small;plain;" {
		t.Fatalf("CollectVec: n %d, vec %d parts", n, len(vec))
	}
	for _, v := range []parser.Value{parser.NewSimpleError("MOVED 1 x:1"), parser.NewSimpleError("ASK 2 y:2"), parser.NewSimpleString("OK")} {
		if err := r.Complete(v); err != nil {
			t.Fatal(err)
		}
	}
	if cmd, reply := viewCmd(t, r, a, -1); cmd != big || reply != "MOVED 1 x:1" {
		t.Fatalf("kept large command after an error: %d bytes, %q", len(cmd), reply)
	}
	if cmd, _ := viewCmd(t, r, plain, -1); cmd != "" {
		t.Fatalf("a command not kept shows %q", cmd)
	}

	// b was not viewed: reuse its slot (ring of 4) and find the parked command.
	for i := 0; i < 4; i++ {
		publish(t, r, "x;")
		r.Collect(nil)
		if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
			t.Fatal(err)
		}
	}
	if cmd, reply := viewCmd(t, r, b, -1); cmd != "small;" || reply != "ASK 2 y:2" {
		t.Fatalf("parked kept command: %q, %q", cmd, reply)
	}

	// A large kept command answered without error is let go at once.
	c := reserveKept(big)
	r.Collect(nil)
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if cmd, reply := viewCmd(t, r, c, -1); cmd != "" || reply != "OK" {
		t.Fatalf("large kept command after OK: %d bytes kept, %q", len(cmd), reply)
	}
}

// A kept command with a string attached shows its viewers the whole command, the
// string in its place: after an error reply, and once parked; Collect writes it whole.
func TestKeepAttached(t *testing.T) {
	r := New(4)
	str := strings.Repeat("S", 100)
	keepAttached := func() uint64 {
		seq, buf, err := r.Reserve(nilCtx)
		if err != nil {
			t.Fatal(err)
		}
		*buf = append(*buf, "pre:"...)
		r.Attach(seq, len(*buf), str)
		*buf = append(*buf, ":post"...)
		r.Keep(seq)
		r.Publish(seq, false)
		return seq
	}
	whole := "pre:" + str + ":post"
	viewed, parked := keepAttached(), keepAttached()
	_, vec, n := r.CollectVec(nil, nil, 50)
	if n != 2 || string(bytes.Join(vec, nil)) != whole+whole {
		t.Fatalf("CollectVec: n %d, %q", n, bytes.Join(vec, nil))
	}
	for range 2 {
		if err := r.Complete(parser.NewSimpleError("MOVED 1 x:1")); err != nil {
			t.Fatal(err)
		}
	}
	if cmd, reply := viewCmd(t, r, viewed, -1); cmd != whole || reply != "MOVED 1 x:1" {
		t.Fatalf("kept command with a string attached: %q, %q", cmd, reply)
	}
	for i := 0; i < 4; i++ { // reuse the slots: the unread one is parked
		publish(t, r, "x;")
		r.Collect(nil)
		if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
			t.Fatal(err)
		}
	}
	if cmd, _ := viewCmd(t, r, parked, -1); cmd != whole {
		t.Fatalf("parked kept command with a string attached: %q", cmd)
	}

	// Answered without an error while the writer holds its batch: it is kept no more,
	// so ViewCmd shows no command (not one Wrote lets go of under it), before and
	// after Wrote.
	ok := keepAttached()
	r.CollectVec(nil, nil, 50)
	r.Hold()
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if cmd, reply := viewCmd(t, r, ok, -1); cmd != "" || reply != "OK" {
		t.Fatalf("kept command answered OK while held: %q, %q", cmd, reply)
	}
	r.Wrote()
	if cmd, _ := viewCmd(t, r, ok, -1); cmd != "" {
		t.Fatalf("kept command answered OK, after Wrote: %q", cmd)
	}
}

// A large command buffer is given to the release function once its reply came (a
// referenced one stays with its slot until then), or when its slot is reused.
func TestRelease(t *testing.T) {
	r := New(4)
	var released [][]byte
	r.SetRelease(func(b []byte) { released = append(released, b) })
	big := strings.Repeat("R", cmdKeep+1)
	a := publish(t, r, big)
	_, vec, _ := r.CollectVec(nil, nil, 16)
	if len(vec) != 1 || len(released) != 0 {
		t.Fatalf("vec %d parts, %d released before the reply", len(vec), len(released))
	}
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if len(released) != 1 || &released[0][0] != &vec[0][0] || r.slot(a).cmd != nil {
		t.Fatalf("after the reply: %d released", len(released))
	}
	// Copied (not referenced): let go once copied.
	publish(t, r, big)
	r.Collect(nil)
	if len(released) != 2 {
		t.Fatalf("after a copy: %d released", len(released))
	}
}

// Strings attached to a command go on the wire at their offsets: copied into the
// batch by Collect, referenced (not copied) by CollectVec, and let go of once written
// by copy, or once the reply came when referenced.
func TestAttach(t *testing.T) {
	r := New(8)
	big := strings.Repeat("A", 100)
	attach := func(head, tail string) uint64 {
		seq, buf, err := r.Reserve(nilCtx)
		if err != nil {
			t.Fatal(err)
		}
		*buf = append(*buf, head...)
		r.Attach(seq, len(*buf), big)
		*buf = append(*buf, tail...)
		r.Attach(seq, len(*buf), big[:50])
		r.Publish(seq, false)
		return seq
	}
	want := func(head, tail string) string { return head + big + tail + big[:50] }
	a := publish(t, r, "x;")
	b := attach("h1<", ">t1")
	dst, n := r.Collect(nil)
	if n != 2 || string(dst) != "x;"+want("h1<", ">t1") {
		t.Fatalf("Collect: %d commands, %q", n, dst)
	}
	if len(r.slot(b).ext) != 0 {
		t.Fatal("attached strings kept after the command was copied")
	}
	complete(t, r, "1", "2")
	wantReply(t, r, a, "1")
	c := attach("h2<", ">t2")
	publish(t, r, ";y")
	dst, vec, n := r.CollectVec(nil, nil, 64)
	var whole []byte
	referenced := false
	for _, p := range vec {
		whole = append(whole, p...)
		if len(p) == len(big) && &p[0] == unsafe.StringData(big) {
			referenced = true
		}
	}
	if n != 2 || string(whole) != want("h2<", ">t2")+";y" || !referenced {
		t.Fatalf("CollectVec: %d commands, %q (referenced %v), dst %q", n, whole, referenced, dst)
	}
	if len(r.slot(c).ext) != 2 {
		t.Fatal("attached strings of a referenced command let go of before its reply")
	}
	complete(t, r, "3")
	if len(r.slot(c).ext) != 0 {
		t.Fatal("attached strings kept after the reply")
	}
	wantReply(t, r, c, "3")
}

// Close tells ViewCmd which commands it failed before they were written (Unsent, with
// the close error inside); one written, and every View, get the close error as it is.
func TestCloseUnsent(t *testing.T) {
	r := New(4)
	kept := func(cmd string) uint64 { return publishKept(t, r, cmd) }
	written := kept("written;")
	r.Collect(nil)
	unsent := kept("unsent;")
	late, buf, err := r.Reserve(nilCtx) // published only after Close
	if err != nil {
		t.Fatal(err)
	}
	*buf = append(*buf, "late;"...)
	r.Keep(late)
	closeErr := errors.New("closed")
	r.Close(closeErr)
	r.Publish(late, false)
	for _, c := range []struct {
		seq     uint64
		cmd     string
		unsent  bool
		comment string
	}{
		{written, "written;", false, "written"},
		{unsent, "unsent;", true, "never written"},
		{late, "late;", true, "published after Close"},
	} {
		err := r.ViewCmd(nilCtx, c.seq, -1, func(cmd []byte, _ parser.Value, e error, _ *Memo) {
			var un *Unsent
			if string(cmd) != c.cmd || errors.As(e, &un) != c.unsent || !errors.Is(e, closeErr) {
				t.Errorf("%s: ViewCmd gives %q, %v (Unsent: %v)", c.comment, cmd, e, un != nil)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.View(nilCtx, c.seq, func(_ parser.Value, e error) {
			if e != closeErr {
				t.Errorf("%s: View gives %v, want the close error itself", c.comment, e)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// A result's Memo is shared by all its viewers, moves with it when its slot is reused
// before every part was viewed (parked), and is gone once the result is.
func TestMemo(t *testing.T) {
	r := New(4)
	memo := func(seq uint64, part int, keep any) (got any) {
		t.Helper()
		err := r.ViewCmd(nilCtx, seq, part, func(_ []byte, _ parser.Value, _ error, m *Memo) { got = m.Keep(keep) })
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	seq := publish(t, r, "a;")
	r.Collect(nil)
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if a, b := memo(seq, -1, "first"), memo(seq, -1, "second"); a != "first" || b != "first" {
		t.Fatalf("plain result: memos %v, %v; want first twice", a, b)
	}
	// Two parts; part 0 viewed, then the slot reused: part 1 is read from the park.
	mseq, _, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	r.PublishMulti(mseq, 2, 2)
	r.Collect(nil)
	for range 2 {
		if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
			t.Fatal(err)
		}
	}
	if got := memo(mseq, 0, "multi"); got != "multi" {
		t.Fatalf("part 0: memo %v", got)
	}
	for i := 0; i < 4; i++ { // reuse every slot
		publish(t, r, "x;")
		r.Collect(nil)
		if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
			t.Fatal(err)
		}
	}
	if r.Parked() != 1 {
		t.Fatalf("%d parked, want the multi result", r.Parked())
	}
	if got := memo(mseq, 1, "other"); got != "multi" {
		t.Fatalf("parked part 1: memo %v, want the one part 0 kept", got)
	}
	// The reused slot of seq starts with no memo.
	if got := memo(seq+4, -1, "fresh"); got != "fresh" {
		t.Fatalf("reused slot: memo %v, want a fresh one", got)
	}
}

// SetRescue: an error reply to a forgotten kept command that the rescue takes stays
// viewable with its command (also once parked) and is not counted; one it does not
// take, a forgotten command not kept, and a reply that is not an error are forgotten
// as before, and the rescue is not asked about the last two.
func TestRescueForgotten(t *testing.T) {
	r := New(4)
	var asked []string
	r.SetRescue(func(seq uint64, msg []byte) bool {
		asked = append(asked, string(msg))
		return strings.HasPrefix(string(msg), "MOVED")
	})
	forgetKept := func(cmd string) uint64 {
		seq, buf, err := r.Reserve(nilCtx)
		if err != nil {
			t.Fatal(err)
		}
		*buf = append(*buf, cmd...)
		r.Keep(seq)
		r.Publish(seq, true)
		return seq
	}
	a := forgetKept("a;")
	forgetKept("b;")
	mustSend(t, r, "c;", true) // forgotten, not kept
	forgetKept("d;")
	r.Collect(nil)
	for _, v := range []parser.Value{parser.NewSimpleError("MOVED 1 x:1"), parser.NewSimpleError("ERR no"),
		parser.NewSimpleError("MOVED 2 y:2"), parser.NewSimpleString("OK")} {
		if err := r.Complete(v); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(asked, ","); got != "MOVED 1 x:1,ERR no" {
		t.Fatalf("rescue asked about %q", got)
	}
	if got := r.ForgottenErrors(); got != 2 {
		t.Fatalf("ForgottenErrors %d, want 2 (ERR no, and c's MOVED)", got)
	}
	// a was rescued: reuse its slot (ring of 4), then find it parked.
	for i := 0; i < 4; i++ {
		publish(t, r, "x;")
		r.Collect(nil)
		if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
			t.Fatal(err)
		}
	}
	if cmd, reply := viewCmd(t, r, a, -1); cmd != "a;" || reply != "MOVED 1 x:1" {
		t.Fatalf("rescued command: %q, %q", cmd, reply)
	}
}

// SetRescue for a forgotten kept command that Close fails before it is written: the
// rescue is asked with a nil message; taken, the command stays viewable (its error an
// *Unsent) and is not counted; not taken, it is counted.
func TestRescueUnsent(t *testing.T) {
	for _, take := range []bool{false, true} {
		r := New(4)
		var asked []uint64
		r.SetRescue(func(seq uint64, msg []byte) bool {
			if msg != nil {
				t.Errorf("asked with %q", msg)
			}
			asked = append(asked, seq)
			return take
		})
		seq, buf, err := r.Reserve(nilCtx)
		if err != nil {
			t.Fatal(err)
		}
		*buf = append(*buf, "a;"...)
		r.Keep(seq)
		r.Publish(seq, true)
		r.Close(errLost)
		if len(asked) != 1 || asked[0] != seq {
			t.Fatalf("take=%v: rescue asked about %v, want [%d]", take, asked, seq)
		}
		want := uint64(1)
		if take {
			want = 0
			err := r.ViewCmd(testCtx(t), seq, -1, func(c []byte, _ parser.Value, err error, _ *Memo) {
				var un *Unsent
				if string(c) != "a;" || !errors.As(err, &un) {
					t.Errorf("rescued unsent command: %q, %v", c, err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := r.ForgottenErrors(); got != want {
			t.Fatalf("take=%v: ForgottenErrors %d, want %d", take, got, want)
		}
	}
}

// A slot fills whole cache lines (256 bytes on amd64): a field added in the wrong place
// adds padding, and each slot then spills into the next one's first line.
func TestSlotCacheLines(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n%64 != 0 || (unsafe.Sizeof(uintptr(0)) == 8 && n > 256) {
		t.Fatalf("a slot is %d bytes: not whole 64-byte lines, or past 256", n)
	}
}
