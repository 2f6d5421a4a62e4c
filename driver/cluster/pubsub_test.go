package cluster

import (
	"strconv"
	"testing"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/internal/redistest"
)

func recv(t *testing.T, s *driver.Subscription) driver.Message {
	t.Helper()
	select {
	case m, ok := <-s.Messages():
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return driver.Message{}
}

// publishUntil publishes until the message reaches a subscriber (a subscription that
// is moving misses what is published meanwhile) and returns what it received.
func publishUntil(t *testing.T, c *Client, cmd, ch string, s *driver.Subscription) driver.Message {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n, err := c.Send(cmd, ch, "msg").Int(ctx)
		if err == nil && n > 0 {
			return recv(t, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s %s reached nobody for 20 s", cmd, ch)
	return driver.Message{}
}

// Shard channels follow their slot: after a migration (the server drops the
// subscription with an unrequested sunsubscribe) and after a failover of its owner,
// messages arrive on the same Subscription. Classic channels survive the loss of the
// node they were subscribed on.
func TestPubsubFollowsSlots(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	c := connect(t, cl, Config{})
	ctx := testCtx(t, 60*time.Second)
	ch := "{news}sport"
	slot := KeySlotString(ch)
	ss, err := c.SSubscribe(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SSubscribe(ctx, "{a}x", "{b}y"); err != ErrCrossSlot {
		t.Fatalf("SSubscribe across slots: %v", err)
	}
	classic, err := c.Subscribe(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	if m := publishUntil(t, c, "SPUBLISH", ch, ss); m.Channel != ch {
		t.Fatalf("shard message %+v", m)
	}
	publishUntil(t, c, "PUBLISH", "all", classic)

	// Kill the node the classic subscription is on: it moves to another node.
	var host *redistest.Server
	for _, n := range cl.Nodes {
		if v := n.MustDo("PUBSUB", "NUMSUB", "all").Elems(); len(v) == 2 && v[1].Int() == 1 {
			host = n
		}
	}
	if host == nil {
		t.Fatal("no node has the classic subscriber")
	}
	heir := cl.ReplicaOf(host)
	host.Stop()
	if heir != nil {
		waitRole(t, heir, "master")
	}
	publishUntil(t, c, "PUBLISH", "all", classic)
	host.Restart()
	if err := cl.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Migrate the slot (it has no keys) to another master.
	src, dst := srcDst(t, cl, slot)
	s := strconv.Itoa(slot)
	dst.MustDo("CLUSTER", "SETSLOT", s, "IMPORTING", src.NodeID())
	src.MustDo("CLUSTER", "SETSLOT", s, "MIGRATING", dst.NodeID())
	for _, m := range append([]*redistest.Server{dst, src}, cl.Masters()...) {
		m.MustDo("CLUSTER", "SETSLOT", s, "NODE", dst.NodeID())
	}
	if m := publishUntil(t, c, "SPUBLISH", ch, ss); m.Channel != ch {
		t.Fatalf("after the migration: %+v", m)
	}
	if n := dst.MustDo("PUBSUB", "SHARDNUMSUB", ch).Elems(); len(n) != 2 || n[1].Int() != 1 {
		t.Fatalf("the new owner has %v subscribers", n)
	}

	// Kill the slot's new owner: its replica takes over, and the subscription too.
	if err := cl.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	heir = cl.ReplicaOf(dst)
	dst.Stop()
	waitRole(t, heir, "master")
	if m := publishUntil(t, c, "SPUBLISH", ch, ss); m.Channel != ch {
		t.Fatalf("after the failover: %+v", m)
	}
	if ss.Err() != nil || classic.Err() != nil {
		t.Fatalf("subscriptions ended: %v, %v", ss.Err(), classic.Err())
	}
}
