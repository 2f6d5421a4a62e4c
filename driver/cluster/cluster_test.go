package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// connect starts a client on cl's first node.
func connect(t testing.TB, cl *redistest.Cluster, cfg Config) *Client {
	t.Helper()
	if cfg.Addrs == nil {
		cfg.Addrs = []string{cl.Nodes[0].Addr}
	}
	c, err := Connect(testCtx(t, 20*time.Second), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Our slots agree with the server's CLUSTER KEYSLOT, hash tags included, and key
// positions with its COMMAND GETKEYS, for commands with keys in odd places.
func TestKeySlotsAndPositionsMatchServer(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	s := cl.Nodes[0]
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		b := make([]byte, r.IntN(12))
		for j := range b {
			b[j] = "ab{}c:1"[r.IntN(7)]
		}
		k := string(b)
		want := int(s.MustDo("CLUSTER", "KEYSLOT", k).Int())
		if got := KeySlotString(k); got != want {
			t.Fatalf("KeySlot(%q) = %d, server says %d", k, got, want)
		}
	}

	c := connect(t, cl, Config{})
	if len(c.cmds) < 100 {
		t.Fatalf("command table has %d commands", len(c.cmds))
	}
	for _, cmd := range [][]string{
		{"GET", "k"},
		{"SET", "k", "v", "EX", "10"},
		{"MSET", "a", "1", "b", "2", "c", "3"},
		{"EVAL", "return 1", "2", "k1", "k2", "arg"},
		{"EVALSHA", "abc", "1", "k1", "arg"},
		{"FCALL", "f", "1", "k1", "x"},
		{"XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", ">"},
		{"ZUNIONSTORE", "dst", "2", "z1", "z2", "WEIGHTS", "1", "2"},
		{"ZINTER", "2", "z1", "z2"},
		{"LMPOP", "2", "l1", "l2", "LEFT"},
		{"OBJECT", "ENCODING", "k"},
		{"MEMORY", "USAGE", "k"},
		{"XINFO", "STREAM", "s1"},
		{"SORT", "k", "LIMIT", "0", "1"},
		{"SORT", "k", "BY", "w_*", "LIMIT", "0", "1", "STORE", "d"},
		{"SORT_RO", "k", "GET", "#"},
		{"GEOSEARCHSTORE", "dst", "src", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"},
		{"BITOP", "AND", "dst", "a", "b"},
		{"RENAME", "a", "b"},
		{"BLMOVE", "a", "b", "LEFT", "RIGHT", "0"},
	} {
		args := make([]any, len(cmd))
		for i, a := range cmd {
			args[i] = a
		}
		var got []string
		for _, k := range c.cmds.keysOf(args) {
			got = append(got, string(k))
		}
		v := s.MustDo(append([]string{"COMMAND", "GETKEYS"}, cmd...)...)
		var want []string
		for _, e := range v.Elems() {
			want = append(want, e.Text())
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%v: keys %q, server says %q", cmd, got, want)
		}
	}
	// MIGRATE's key is "" when KEYS lists them: that empty key is no key.
	keys := c.cmds.keysOf([]any{"MIGRATE", "h", "1", "", "0", "100", "KEYS", "{t}a", "{t}b"})
	if len(keys) != 2 || string(keys[0]) != "{t}a" {
		t.Errorf("MIGRATE keys %q", keys)
	}
	// Keyless commands have no slot; unknown ones are routed by their second argument.
	if slot, _, err := c.cmds.slotOf([]any{"PING"}); slot != noKey || err != nil {
		t.Errorf("PING: slot %d, %v", slot, err)
	}
	if slot, _, _ := c.cmds.slotOf([]any{"MODULE.CMD", "foo"}); slot != KeySlotString("foo") {
		t.Errorf("unknown command: slot %d", slot)
	}
	if _, ro, _ := c.cmds.slotOf([]any{"get", "k"}); !ro {
		t.Error("GET not read-only")
	}
	if _, ro, _ := c.cmds.slotOf([]any{"SET", "k", "v"}); ro {
		t.Error("SET read-only")
	}
}

// Commands reach the node of their slot, keyless ones any node; keys in different
// slots fail with ErrCrossSlot before anything is sent; hash tags keep them together.
func TestRouting(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{})
	ctx := testCtx(t, 20*time.Second)
	for i := 0; i < 500; i++ {
		k := "key:" + strconv.Itoa(i)
		if err := c.Send("SET", k, i).Err(ctx); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for i := 0; i < 500; i++ {
		k := "key:" + strconv.Itoa(i)
		if n, err := c.Send("GET", k).Int(ctx); err != nil || n != int64(i) {
			t.Fatalf("GET %s = %d, %v", k, n, err)
		}
	}
	// Each key is on the node that owns its slot: no redirect was needed, so every
	// node connection saw none (a MOVED would show in the node's DBSIZE anyway).
	total := 0
	for _, m := range cl.Masters() {
		total += int(m.MustDo("DBSIZE").Int())
	}
	if total != 500 {
		t.Fatalf("%d keys in the cluster, want 500", total)
	}
	if err := c.Send("MSET", "a", 1, "b", 2).Err(ctx); !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("MSET a b = %v, want ErrCrossSlot", err)
	}
	if err := c.Send("MSET", "{u}a", 1, "{u}b", 2).Err(ctx); err != nil {
		t.Fatalf("MSET with one tag: %v", err)
	}
	// SORT's STORE destination is a key of the command too.
	if err := c.Send("RPUSH", "{u}list", 3, 1, 2).Err(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Send("SORT", "{u}list", "STORE", "sorted").Err(ctx); !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("SORT {u}list STORE sorted = %v, want ErrCrossSlot", err)
	}
	if n, err := c.Send("SORT", "{u}list", "LIMIT", 0, 2, "STORE", "{u}sorted").Int(ctx); err != nil || n != 2 {
		t.Fatalf("SORT STORE with one tag = %d, %v", n, err)
	}
	if v, err := c.Do(ctx, "LRANGE", "{u}sorted", 0, -1); err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "2" {
		t.Fatalf("the SORT's destination holds %v, %v", v, err)
	}
	if got, err := c.Send("PING").String(ctx); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if v, err := c.Do(ctx, "MGET", "{u}a", "{u}b"); err != nil || len(v.Elems()) != 2 || v.Elems()[1].Text() != "2" {
		t.Fatalf("MGET = %v, %v", v, err)
	}
	var re *driver.RedisError
	if err := c.Send("INCR", "{u}a", "extra").Err(ctx); !errors.As(err, &re) {
		t.Fatalf("bad INCR: %v, want the server's error", err)
	}
}

// A slot being migrated answers ASK for keys not on the source yet: the client sends
// ASKING and the command to the target without changing its map; once the slot is
// moved, MOVED sends the command to the new owner and the map follows.
func TestAskAndMoved(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	key := "{ask}k"
	slot := KeySlotString(key)
	src, dst := srcDst(t, cl, slot)
	if err := c.Send("SET", "{ask}old", "here").Err(ctx); err != nil {
		t.Fatal(err)
	}
	s := strconv.Itoa(slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
	// A new key of the slot: the source answers ASK; the target takes it with ASKING.
	if err := c.Send("SET", key, "new").Err(ctx); err != nil {
		t.Fatalf("SET during migration: %v", err)
	}
	if n := dst.MustDo("CLUSTER", "COUNTKEYSINSLOT", s).Int(); n != 1 {
		t.Fatalf("the target holds %d keys of the slot, want the new one", n)
	}
	if n := src.MustDo("CLUSTER", "COUNTKEYSINSLOT", s).Int(); n != 1 {
		t.Fatalf("the source holds %d keys of the slot, want the old one", n)
	}
	if got, err := c.Send("GET", key).String(ctx); err != nil || got != "new" {
		t.Fatalf("GET during migration = %q, %v", got, err)
	}
	if got, err := c.Send("GET", "{ask}old").String(ctx); err != nil || got != "here" {
		t.Fatalf("GET of a key not migrated yet = %q, %v", got, err)
	}
	// A command that the driver's first look cannot tell from a special one (RPUSH
	// and RESET share first letter and length) is redirected just the same.
	if n, err := c.Send("RPUSH", "{ask}list", "a").Int(ctx); err != nil || n != 1 {
		t.Fatalf("RPUSH during migration = %d, %v", n, err)
	}
	if c.topo.Load().slots[slot].Load().master.addr != src.Addr {
		t.Fatal("ASK changed the map")
	}
	// Finish: move the old key, give the slot to the target everywhere.
	src.MustDo("MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS", "{ask}old")
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	if got, err := c.Send("GET", "{ask}old").String(ctx); err != nil || got != "here" {
		t.Fatalf("GET after the move = %q, %v", got, err)
	}
	if a := c.topo.Load().slots[slot].Load().master.addr; a != dst.Addr {
		t.Fatalf("after MOVED the slot maps to %s, want %s", a, dst.Addr)
	}

	// A burst of MOVED replies makes a refresh or two, not one per reply: move the
	// slot back behind the client's back and send 200 commands at once.
	dst.MustDo("DEL", key, "{ask}old", "{ask}list") // a node gives no slot away while it holds keys of it
	for _, m := range cl.Masters() {
		if v := m.MustDo("CLUSTER", "SETSLOT", s, "NODE", src.NodeID()); v.IsError() {
			t.Fatal(v)
		}
	}
	time.Sleep(300 * time.Millisecond) // let a refresh already asked for pass
	before := c.Stats()
	var fs []driver.Future
	for i := 0; i < 200; i++ {
		fs = append(fs, c.Send("GET", "{ask}"+strconv.Itoa(i)))
	}
	for _, f := range fs {
		if err := f.Err(ctx); err != nil && !errors.Is(err, driver.ErrNil) {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	after := c.Stats()
	if after.Moved-before.Moved < 100 || after.Refreshes-before.Refreshes > 3 {
		t.Fatalf("%d MOVED made %d refreshes", after.Moved-before.Moved, after.Refreshes-before.Refreshes)
	}
	t.Logf("%d MOVED made %d refreshes", after.Moved-before.Moved, after.Refreshes-before.Refreshes)

	// A redirect not followed, because the new node's connection could not be made
	// (its ctx is done, and nothing answers there), is not counted: one given up on
	// its ctx is followed again by its Future's next reader, which counts it. (Last
	// in the test: the MOVED leaves the slot mapped to that address.)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	before = c.Stats()
	cmd := []byte("*2\r\n$3\r\nGET\r\n$5\r\n{ask}\r\n")
	for _, reply := range []string{"ASK " + s + " 127.0.0.1:1", "MOVED " + s + " 127.0.0.1:1"} {
		if _, err := c.Reroute(gone, driver.Redirect{Reply: reply, Cmd: cmd, Attempt: 1}); err == nil {
			t.Fatalf("%s followed with its ctx done", reply)
		}
	}
	if after := c.Stats(); after.Asked != before.Asked || after.Moved != before.Moved {
		t.Fatalf("redirects not followed were counted: asked %d → %d, moved %d → %d",
			before.Asked, after.Asked, before.Moved, after.Moved)
	}
}

// Connect needs one seed that answers; with none it fails with ErrNoSeed.
func TestSeeds(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	dead := redistest.Start(t)
	deadAddr := dead.Addr
	dead.Stop()
	c := connect(t, cl, Config{Addrs: []string{deadAddr, cl.Nodes[1].Addr}})
	if _, err := c.Do(testCtx(t, 10*time.Second), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	_, err := Connect(testCtx(t, 10*time.Second), Config{Addrs: []string{deadAddr}})
	if !errors.Is(err, ErrNoSeed) {
		t.Fatalf("no seed answering: %v, want ErrNoSeed", err)
	}
}

// srcDst returns the master serving slot and another master, for a migration.
func srcDst(t *testing.T, cl *redistest.Cluster, slot int) (src, dst *redistest.Server) {
	t.Helper()
	for _, m := range cl.Masters() {
		if owner(t, m, slot) == m.NodeID() {
			src = m
		} else if dst == nil {
			dst = m
		}
	}
	if src == nil || dst == nil {
		t.Fatal("no source and target for a migration")
	}
	return src, dst
}

// owner returns the node id serving slot, as node s sees it.
func owner(t *testing.T, s *redistest.Server, slot int) string {
	t.Helper()
	for _, line := range strings.Split(s.MustDo("CLUSTER", "NODES").Text(), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") {
			continue
		}
		for _, r := range f[8:] {
			from, to, _ := strings.Cut(r, "-")
			if to == "" {
				to = from
			}
			a, err1 := strconv.Atoi(from)
			b, err2 := strconv.Atoi(to)
			if err1 == nil && err2 == nil && a <= slot && slot <= b {
				return f[0]
			}
		}
	}
	return ""
}

// Over TLS the nodes name their TLS ports (tls-cluster): the client connects to them
// with the Node template's TLS configuration.
func TestClusterTLS(t *testing.T) {
	certs := redistest.NewCerts(t)
	cl := redistest.StartClusterTLS(t, certs, 3, 0)
	c := connect(t, cl, Config{
		Addrs: []string{cl.TLSAddrs[0]},
		Node:  driver.Config{TLS: &tls.Config{RootCAs: certs.CAPool}},
	})
	ctx := testCtx(t, 20*time.Second)
	tlsAddrs := map[string]bool{}
	for _, a := range cl.TLSAddrs {
		tlsAddrs[a] = true
	}
	for _, m := range c.topo.Load().masters {
		if !tlsAddrs[m.addr] {
			t.Fatalf("master %s is not a TLS address (%v)", m.addr, cl.TLSAddrs)
		}
	}
	for i := 0; i < 100; i++ {
		k := "tls:" + strconv.Itoa(i)
		if err := c.Send("SET", k, i).Err(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Send("GET", k).Int(ctx); err != nil || n != int64(i) {
			t.Fatalf("GET %s = %d, %v", k, n, err)
		}
	}
}

// SendAndForget follows ASK and MOVED as Send does, in the background: the writes
// land on the node that serves their slot now. Its failures are counted in
// ForgottenErrors: the last error reply after a redirect, and commands refused
// before they were sent.
func TestForgetFollowsRedirects(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 30*time.Second)
	slot := KeySlotString("{fg}")
	src, dst := srcDst(t, cl, slot)
	if err := c.Send("SET", "{fg}str", "x").Err(ctx); err != nil {
		t.Fatal(err)
	}
	s := strconv.Itoa(slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
	const n = 300
	for i := 0; i < n; i++ { // new keys of a migrating slot: ASK
		c.SendAndForget("SET", "{fg}ask"+strconv.Itoa(i), i)
	}
	waitKeys(t, ctx, dst, s, n)

	// Finish the migration behind the client's back: the map still names the source.
	src.MustDo("MIGRATE", "127.0.0.1", strconv.Itoa(dst.Port), "", "0", "5000", "KEYS", "{fg}str")
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	if a := c.topo.Load().slots[slot].Load().master.addr; a != src.Addr {
		t.Fatalf("the client already maps the slot to %s", a)
	}
	for i := 0; i < n; i++ { // MOVED
		c.SendAndForget("SET", "{fg}moved"+strconv.Itoa(i), i)
	}
	waitKeys(t, ctx, dst, s, 2*n+1)
	if got := dst.MustDo("GET", "{fg}moved"+strconv.Itoa(n-1)).Text(); got != strconv.Itoa(n-1) {
		t.Fatalf("the last forgotten SET left %q", got)
	}
	if st := c.Stats(); st.Asked < n || st.Moved < 1 {
		t.Fatalf("stats %+v: want %d ASK followed and a MOVED", st, n)
	}
	if got := c.ForgottenErrors(); got != 0 {
		t.Fatalf("ForgottenErrors %d after redirects that all landed", got)
	}

	// Failures are counted: an error reply, a command across slots, an empty one.
	c.SendAndForget("LPUSH", "{fg}str", "y") // WRONGTYPE
	c.SendAndForget("MSET", "a", "1", "b", "2")
	c.SendAndForget()
	for c.ForgottenErrors() < 3 {
		if ctx.Err() != nil {
			t.Fatalf("ForgottenErrors %d, want 3", c.ForgottenErrors())
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Send("PING").Err(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.ForgottenErrors(); got != 3 {
		t.Fatalf("ForgottenErrors %d, want 3", got)
	}
}

// waitKeys waits until s holds n keys of slot.
func waitKeys(t *testing.T, ctx context.Context, s *redistest.Server, slot string, n int) {
	t.Helper()
	for {
		got := s.MustDo("CLUSTER", "COUNTKEYSINSLOT", slot).Int()
		if got == int64(n) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the node holds %d keys of slot %s, want %d", got, slot, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// With cluster-preferred-endpoint-type unknown-endpoint, MOVED says the port and not
// the host ("MOVED 3999 :7001"): the client cannot follow it as it is, so it asks for
// a refresh of the map (whose "?" hosts are those of the node asked) and sends the
// command again to the slot's master there, as a retry. MOVED proves it did not run.
func TestMovedUnknownEndpoint(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0, "--cluster-preferred-endpoint-type", "unknown-endpoint")
	c := connect(t, cl, Config{RefreshInterval: -1})
	ctx := testCtx(t, 20*time.Second)
	key := "{ue}k"
	slot := KeySlotString(key)
	src, dst := srcDst(t, cl, slot)
	if err := c.Send("SET", key, "1").Err(ctx); err != nil {
		t.Fatal(err)
	}
	src.MustDo("DEL", key) // a node gives no slot away while it holds keys of it
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "NODE", dst.NodeID())
	}
	if v := src.MustDo("SET", key, "x"); !v.IsError() || !strings.HasPrefix(v.Text(), "MOVED ") || !strings.Contains(v.Text(), " :") {
		t.Fatalf("the old owner answers %q, want a MOVED with no host", v.Text())
	}
	before := c.Stats()
	if err := c.Send("SET", key, "2").Err(ctx); err != nil {
		t.Fatalf("SET after the slot moved: %v", err)
	}
	if got := dst.MustDo("GET", key).Text(); got != "2" {
		t.Fatalf("the new owner holds %q, want 2", got)
	}
	if after := c.Stats(); after.Retried == before.Retried || after.Refreshes == before.Refreshes {
		t.Fatalf("stats before %+v, after %+v: want a retry and a refresh", before, after)
	}
	if a := c.topo.Load().slots[slot].Load().master.addr; a != dst.Addr {
		t.Fatalf("the slot maps to %s, want %s", a, dst.Addr)
	}
}

// Do's ctx bounds the wait for room in a full ring too: with the node's ring full of
// commands it does not answer yet (CLIENT PAUSE), a Do whose ctx ended fails with
// ctx's error at once, while they are still unanswered, and sends nothing, as
// PairedConn.Do does.
func TestDoCtxRingFull(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1, Node: driver.Config{RingSize: 4, HealthCheck: -1}})
	ctx := testCtx(t, 20*time.Second)
	key := "{full}k"
	slot := KeySlotString(key)
	src, _ := srcDst(t, cl, slot)
	if err := c.Send("SET", key, "0").Err(ctx); err != nil {
		t.Fatal(err)
	}
	src.MustDo("CLIENT", "PAUSE", "5000", "ALL")
	var held []driver.Future
	for range 4 {
		held = append(held, c.Send("INCR", key))
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Do(gone, "INCR", "{full}do"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with its ctx done and the ring full: %v, want context.Canceled", err)
	}
	// Still paused: Do did not wait for the room their replies make. (Read with
	// gone, held[0] gives its reply up: not sent if it was not written yet.)
	if err := held[0].Err(gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("the first held INCR when Do returned: %v, want it unanswered yet", err)
	}
	for _, f := range held[1:] {
		if err := f.Err(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Send("EXISTS", "{full}do").Int(ctx); err != nil || n != 0 {
		t.Fatalf("EXISTS of the Do's key after the pause: %d, %v; want 0 (not sent)", n, err)
	}
}

// A redirect followed into a full ring waits for room within the reader's ctx: the
// read ends with ctx's error, nothing sent, and the next read follows the redirect
// again, once: the command runs once.
func TestRedirectCtxRingFull(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := connect(t, cl, Config{RefreshInterval: -1, Node: driver.Config{RingSize: 4, HealthCheck: -1}})
	ctx := testCtx(t, 30*time.Second)
	key := "{rf}k"
	slot := KeySlotString(key)
	_, dst := srcDst(t, cl, slot)
	var other string // a key dst serves already
	for i := 0; other == ""; i++ {
		if k := "d" + strconv.Itoa(i); owner(t, dst, KeySlotString(k)) == dst.NodeID() {
			other = k
		}
	}
	if err := c.Send("GET", other).Err(ctx); err != nil && !errors.Is(err, driver.ErrNil) {
		t.Fatal(err) // dst's connection is up
	}
	for _, m := range cl.Masters() {
		m.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "NODE", dst.NodeID())
	}
	dst.MustDo("CLIENT", "PAUSE", "4000", "ALL")
	for range 4 { // dst's ring full, unanswered
		c.SendAndForget("INCR", other)
	}
	before := c.Stats()
	f := c.Send("INCR", key) // to src, which answers MOVED to dst
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := f.Err(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("INCR redirected into a full ring, read within a short ctx: %v, want DeadlineExceeded", err)
	}
	if m := c.Stats().Moved; m != before.Moved {
		t.Fatalf("Moved %d → %d: the redirect was sent (or counted) though the ring had no room", before.Moved, m)
	}
	if n, err := f.Int(ctx); err != nil || n != 1 {
		t.Fatalf("INCR read again: %d, %v; want 1 (run once)", n, err)
	}
	if m := c.Stats().Moved; m != before.Moved+1 {
		t.Fatalf("Moved %d → %d, want one redirect followed", before.Moved, m)
	}
	if got := dst.MustDo("GET", key).Text(); got != "1" {
		t.Fatalf("the key on its new owner is %q, want 1", got)
	}
}
