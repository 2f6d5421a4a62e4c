package driver

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// Separate routed Sends redirected together go again in the order they were sent,
// whichever Future is read first, each once: RPUSHes that all got WRONGTYPE on one
// server build the list in order on the other, and each gets its own reply. Commands
// between them that were not redirected, or not routed, are passed over.
func TestRoutedSendsKeepOrder(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 10*time.Second)
	a.MustDo("SET", "sends", "a string: RPUSH gets WRONGTYPE")
	a.MustDo("SET", "plain", "p")
	rr := &wrongTypeRouter{to: cb, max: 3}
	var fs []Future
	var others []Future
	for i, x := range []string{"x1", "x2", "x3", "x4"} {
		fs = append(fs, ca.SendRouted(rr, "RPUSH", "sends", x))
		if i == 1 {
			others = append(others, ca.SendRouted(rr, "GET", "plain"), ca.Send("GET", "plain"))
		}
	}
	for _, i := range []int{2, 3, 0, 1} {
		if n, err := fs[i].Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("RPUSH %d: %d, %v; want %d", i, n, err, i+1)
		}
	}
	if l := b.MustDo("LRANGE", "sends", "0", "-1"); fmt.Sprint(texts(l)) != "[x1 x2 x3 x4]" {
		t.Fatalf("the list on the other server is %v, want [x1 x2 x3 x4]", texts(l))
	}
	if n := rr.reroutes.Load(); n != 4 {
		t.Fatalf("%d reroutes, want 4: each RPUSH once", n)
	}
	for i, f := range others {
		if s, err := f.String(ctx); err != nil || s != "p" {
			t.Fatalf("GET %d: %q, %v; want p from the first server", i, s, err)
		}
	}
}

// Commands never written (their connection closed while it was down) go elsewhere in
// the order they were sent too, read last first.
func TestRoutedUnsentSendsKeepOrder(t *testing.T) {
	b, cb, ca, ctx := downAndUp(t)
	rr := &wrongTypeRouter{to: cb, max: 3}
	var fs []Future
	for _, x := range []string{"u1", "u2", "u3"} {
		fs = append(fs, ca.SendRouted(rr, "RPUSH", "unsent:order", x))
	}
	ca.Close()
	for i := len(fs) - 1; i >= 0; i-- {
		if n, err := fs[i].Int(ctx); err != nil || n != int64(i+1) {
			t.Fatalf("RPUSH %d: %d, %v; want %d", i, n, err, i+1)
		}
	}
	if l := b.MustDo("LRANGE", "unsent:order", "0", "-1"); fmt.Sprint(texts(l)) != "[u1 u2 u3]" {
		t.Fatalf("the list on the other server is %v, want [u1 u2 u3]", texts(l))
	}
	if n := rr.reroutes.Load(); n != 3 {
		t.Fatalf("%d reroutes, want 3", n)
	}
}

// valueRouter is a Rerouter whose type cannot be compared (it holds a slice).
type valueRouter struct {
	w    *wrongTypeRouter
	tags []string
}

// String makes use of tags (its only purpose is to make the type uncomparable).
func (v valueRouter) String() string { return fmt.Sprint(v.tags) }

func (v valueRouter) Reroutes(msg []byte) bool { return v.w.Reroutes(msg) }
func (v valueRouter) Reroute(ctx context.Context, r Redirect) (Future, error) {
	return v.w.Reroute(ctx, r)
}

// With two Rerouters on one connection, or one whose type cannot be compared, the
// order is not kept (a command goes again by its own Rerouter, when its Future is
// read), and nothing else changes: each command is sent again once and gets its reply.
func TestRoutedSendsMixedRouters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  func(*wrongTypeRouter) Rerouter
		second func(*wrongTypeRouter) Rerouter
	}{
		{"two", func(w *wrongTypeRouter) Rerouter { return w }, func(w *wrongTypeRouter) Rerouter { return &wrongTypeRouter{to: w.to, max: 3} }},
		{"uncomparable first", func(w *wrongTypeRouter) Rerouter { return valueRouter{w: w} }, func(w *wrongTypeRouter) Rerouter { return valueRouter{w: w} }},
		{"uncomparable second", func(w *wrongTypeRouter) Rerouter { return w }, func(w *wrongTypeRouter) Rerouter { return valueRouter{w: w} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, ca, cb := twoServers(t)
			ctx := testCtx(t, 10*time.Second)
			a.MustDo("SET", "mixed", "a string")
			w := &wrongTypeRouter{to: cb, max: 3}
			f0 := ca.SendRouted(tc.first(w), "RPUSH", "mixed", "m1")
			f1 := ca.SendRouted(tc.second(w), "RPUSH", "mixed", "m2")
			if ca.order.first.Load() == nil && tc.name != "uncomparable first" {
				t.Fatal("no first Rerouter noted")
			}
			if !ca.order.mixed.Load() {
				t.Fatal("the order is still kept with two Rerouters")
			}
			n1, err1 := f1.Int(ctx)
			n0, err0 := f0.Int(ctx)
			if err0 != nil || err1 != nil || n0+n1 != 3 {
				t.Fatalf("RPUSH replies %d, %v and %d, %v; want 1 and 2 in some order", n0, err0, n1, err1)
			}
			if l := b.MustDo("LRANGE", "mixed", "0", "-1"); len(l.Elems()) != 2 {
				t.Fatalf("the list on the other server is %v, want two elements", texts(l))
			}
		})
	}
}

// Many readers, each reading every Future in its own random order at once: each
// command goes again once, and the list is built in the order of sending.
func TestRoutedSendsKeepOrderConcurrent(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 20*time.Second)
	a.MustDo("SET", "many", "a string")
	rr := &wrongTypeRouter{to: cb, max: 3}
	const n = 64
	fs := make([]Future, n)
	want := make([]string, n)
	for i := range fs {
		want[i] = fmt.Sprint("v", i)
		fs[i] = ca.SendRouted(rr, "RPUSH", "many", want[i])
	}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(seed int64) {
			rnd := rand.New(rand.NewSource(seed))
			for _, i := range rnd.Perm(n) {
				if k, err := fs[i].Int(ctx); err != nil || k != int64(i+1) {
					errs <- fmt.Errorf("RPUSH %d: %d, %v; want %d", i, k, err, i+1)
					return
				}
			}
			errs <- nil
		}(int64(g))
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if l := b.MustDo("LRANGE", "many", "0", "-1"); fmt.Sprint(texts(l)) != fmt.Sprint(want) {
		t.Fatalf("the list on the other server is %v, want %v", texts(l), want)
	}
	if k := rr.reroutes.Load(); k != n {
		t.Fatalf("%d reroutes, want %d: each command once", k, n)
	}
}

// failFirstRouter is wrongTypeRouter whose Reroute of the command holding bad fails
// (as a cluster's does when the node it must dial does not answer).
type failFirstRouter struct {
	wrongTypeRouter
	bad string
}

var errUnreachable = errors.New("unreachable")

func (f *failFirstRouter) Reroute(ctx context.Context, r Redirect) (Future, error) {
	if strings.Contains(string(r.Cmd), f.bad) {
		f.reroutes.Add(1)
		return Future{}, errUnreachable
	}
	return f.wrongTypeRouter.Reroute(ctx, r)
}

// A command ahead whose Reroute fails gets that error, and the commands after it are
// left to their own readers instead of being tried one after the other; the reader
// that met it follows its own command.
func TestRoutedSendsAheadFails(t *testing.T) {
	a, b, ca, cb := twoServers(t)
	ctx := testCtx(t, 10*time.Second)
	a.MustDo("SET", "ahead", "a string")
	rr := &failFirstRouter{wrongTypeRouter: wrongTypeRouter{to: cb, max: 3}, bad: "f1"}
	f1 := ca.SendRouted(rr, "RPUSH", "ahead", "f1")
	f2 := ca.SendRouted(rr, "RPUSH", "ahead", "f2")
	f3 := ca.SendRouted(rr, "RPUSH", "ahead", "f3")
	if n, err := f3.Int(ctx); err != nil || n != 1 {
		t.Fatalf("RPUSH f3: %d, %v; want 1", n, err)
	}
	if n := rr.reroutes.Load(); n != 2 {
		t.Fatalf("%d reroutes after reading f3, want 2 (f1, which failed, and f3)", n)
	}
	if n, err := f2.Int(ctx); err != nil || n != 2 {
		t.Fatalf("RPUSH f2: %d, %v; want 2", n, err)
	}
	if _, err := f1.Int(ctx); !errors.Is(err, errUnreachable) {
		t.Fatalf("RPUSH f1: %v, want its Reroute's error", err)
	}
	if l := b.MustDo("LRANGE", "ahead", "0", "-1"); fmt.Sprint(texts(l)) != "[f3 f2]" {
		t.Fatalf("the list on the other server is %v, want [f3 f2]", texts(l))
	}
}
