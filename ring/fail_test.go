package ring

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/respring/respring/parser"
)

func TestCancelBeforeWrite(t *testing.T) {
	r := New(8)
	s0 := mustSend(t, r, "c0", false)
	s1 := mustSend(t, r, "c1", false)
	s2 := mustSend(t, r, "c2", false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := r.View(ctx, s1, func(parser.Value, error) { called = true }); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("View with a cancelled ctx: %v (fn called %v)", err, called)
	}
	if c := collect(t, r); !equalStrings(c, []string{"c0", "c2"}) {
		t.Fatalf("collected %q, want c0 c2 (c1 was cancelled)", c)
	}
	if r.Pending() != 2 {
		t.Fatalf("Pending = %d", r.Pending())
	}
	complete(t, r, "r0", "r2")
	if err := r.Complete(parser.NewBulkString("extra")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("extra reply: %v", err)
	}
	wantReply(t, r, s0, "r0")
	wantReply(t, r, s2, "r2")
	wantSlotErr(t, r, s1, context.Canceled)
}

// TestCancelHeadFreesSpace: a cancelled command at the head frees its slot on the next
// Collect, with no reply.
func TestCancelHeadFreesSpace(t *testing.T) {
	r := New(1)
	s0 := mustSend(t, r, "c0", false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.View(ctx, s0, nil); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if c := collect(t, r); len(c) != 0 {
		t.Fatalf("collected %q", c)
	}
	s1 := mustSend(t, r, "c1", false) // would block if the slot were not freed
	collect(t, r)
	complete(t, r, "r1")
	wantReply(t, r, s1, "r1")
}

func TestCancelAfterWrite(t *testing.T) {
	r := New(8)
	s0 := mustSend(t, r, "c0", false)
	s1 := mustSend(t, r, "c1", false)
	collect(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := r.View(ctx, s0, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("View: %v", err)
	}
	complete(t, r, "r0", "r1")
	wantReply(t, r, s1, "r1")
	wantReply(t, r, s0, "r0") // the reply was read in order and kept for a later View
}

func TestFail(t *testing.T) {
	r := New(8)
	errEnc := errors.New("test: cannot encode")
	s0 := mustSend(t, r, "c0", false)
	s1, _, err := r.Reserve(nilCtx)
	if err != nil {
		t.Fatal(err)
	}
	s2 := mustSend(t, r, "c2", false)
	// The writer stops at s1, still being encoded.
	if c := collect(t, r); !equalStrings(c, []string{"c0"}) {
		t.Fatalf("collected %q", c)
	}
	if !r.Fail(s1, errEnc) {
		t.Fatal("Fail after Collect stopped at the slot: wake = false")
	}
	if r.Unwritten() != 1 {
		t.Fatalf("Unwritten = %d", r.Unwritten())
	}
	if c := collect(t, r); !equalStrings(c, []string{"c2"}) {
		t.Fatalf("collected %q", c)
	}
	complete(t, r, "r0", "r2")
	wantReply(t, r, s0, "r0")
	wantSlotErr(t, r, s1, errEnc)
	wantReply(t, r, s2, "r2")
	if r.ForgottenErrors() != 0 {
		t.Fatal("Fail counted as a forgotten error")
	}
}

func TestFailWritten(t *testing.T) {
	r := New(8)
	s0 := mustSend(t, r, "c0", false)
	s1 := mustSend(t, r, "c1", false)
	collect(t, r)
	s2 := mustSend(t, r, "c2", false)
	s3 := mustSend(t, r, "c3", false)
	complete(t, r, "r0")
	if n := r.FailWritten(errLost); n != 1 {
		t.Fatalf("FailWritten = %d, want 1", n)
	}
	if r.Pending() != 0 || r.Unwritten() != 2 {
		t.Fatalf("Pending %d, Unwritten %d", r.Pending(), r.Unwritten())
	}
	if err := r.Complete(parser.NewBulkString("late")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("reply after FailWritten: %v", err)
	}
	wantReply(t, r, s0, "r0")
	wantSlotErr(t, r, s1, errLost)
	// "Next connection": the unwritten ones are collected, the failed one never again.
	if c := collect(t, r); !equalStrings(c, []string{"c2", "c3"}) {
		t.Fatalf("collected %q", c)
	}
	complete(t, r, "r2", "r3")
	wantReply(t, r, s2, "r2")
	wantReply(t, r, s3, "r3")
	if n := r.FailWritten(nil); n != 0 {
		t.Fatalf("FailWritten with nothing written = %d", n)
	}
}

func TestUnsolicited(t *testing.T) {
	r := New(4)
	if err := r.Complete(parser.NewSimpleString("OK")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("Complete on an empty ring: %v", err)
	}
	mustSend(t, r, "c0", false) // published, not written
	if err := r.Complete(parser.NewSimpleString("OK")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("Complete with nothing written: %v", err)
	}
}

func TestClose(t *testing.T) {
	checkGoroutines(t)
	r := New(4)
	errBye := errors.New("test: bye")
	s0 := mustSend(t, r, "c0", false)
	collect(t, r)                     // s0 written
	s1 := mustSend(t, r, "c1", true)  // s1 ready, forgotten
	s2, cmd, _ := r.Reserve(nilCtx)   // s2 being encoded
	s3 := mustSend(t, r, "c3", false) // s3 ready; ring full

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // a Reserve waiting for space
		defer wg.Done()
		_, _, err := r.Reserve(nilCtx)
		errs <- err
	}()
	go func() { // a View waiting for a written command
		defer wg.Done()
		_, slotErr, err := view(nilCtx, r, s0)
		errs <- errors.Join(err, slotErr)
	}()
	go func() { // a View waiting for an unwritten one
		defer wg.Done()
		_, slotErr, err := view(nilCtx, r, s3)
		errs <- errors.Join(err, slotErr)
	}()
	r.Close(errBye)
	r.Close(errors.New("test: second close")) // the first error wins
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, errBye) {
			t.Fatalf("waiter got %v, want %v", err, errBye)
		}
	}
	if !errors.Is(r.Err(), errBye) {
		t.Fatalf("Err() = %v", r.Err())
	}
	if _, _, err := r.Reserve(nilCtx); !errors.Is(err, errBye) {
		t.Fatalf("Reserve after Close: %v", err)
	}
	*cmd = append(*cmd, "c2\n"...)
	if r.Publish(s2, true) {
		t.Fatal("Publish after Close asked for a wake-up")
	}
	wantSlotErr(t, r, s1, errBye)
	wantSlotErr(t, r, s2, errBye)
	if got := r.ForgottenErrors(); got != 2 {
		t.Fatalf("ForgottenErrors = %d, want 2 (s1 closed, s2 published after Close)", got)
	}
	if c := collect(t, r); len(c) != 0 {
		t.Fatalf("collected %q after Close", c)
	}
	// The reply to the written s0 still arrives: read and dropped, the error stays.
	complete(t, r, "r0")
	wantSlotErr(t, r, s0, errBye)
	if err := r.Complete(parser.NewBulkString("x")); !errors.Is(err, ErrUnsolicited) {
		t.Fatalf("second reply after Close: %v", err)
	}
}

func TestCloseNil(t *testing.T) {
	r := New(2)
	r.Close(nil)
	if _, _, err := r.Reserve(nilCtx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reserve after Close(nil): %v", err)
	}
}

func TestForgottenErrors(t *testing.T) {
	r := New(8)
	for i := range 4 {
		mustSend(t, r, "f"+strconv.Itoa(i), true)
	}
	collect(t, r)
	if err := r.Complete(parser.NewSimpleError("ERR one")); err != nil {
		t.Fatal(err)
	}
	if err := r.Complete(parser.NewSimpleString("OK")); err != nil {
		t.Fatal(err)
	}
	if got := r.ForgottenErrors(); got != 1 {
		t.Fatalf("after an error reply: %d", got)
	}
	r.FailWritten(errLost) // two forgotten commands lost
	if got := r.ForgottenErrors(); got != 3 {
		t.Fatalf("after FailWritten: %d", got)
	}
	mustSend(t, r, "f4", true)
	mustSend(t, r, "f5", false)
	collect(t, r)
	if err := r.Complete(parser.NewBulkError("ERR two")); err != nil {
		t.Fatal(err)
	}
	if err := r.Complete(parser.NewSimpleError("ERR not forgotten")); err != nil {
		t.Fatal(err)
	}
	if got := r.ForgottenErrors(); got != 4 {
		t.Fatalf("after a bulk error: %d", got)
	}
	mustSend(t, r, "f6", true)
	r.Close(nil)
	if got := r.ForgottenErrors(); got != 5 {
		t.Fatalf("after Close: %d", got)
	}
}
