package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/driver/cluster"
)

// Connect to a cluster through one of its nodes and use it like a PairedConn.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.Connect(ctx, cluster.Config{
		Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"},
		Node:  driver.Config{Password: "secret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	// Routed by slot; redirects are followed inside Err and String.
	if err := c.Send("SET", "user:1:name", "ada").Err(ctx); err != nil {
		fmt.Println(err)
	}
	name, err := c.Send("GET", "user:1:name").String(ctx)
	fmt.Println(name, err)

	// No reply wanted: redirects are followed in the background, and a failure is
	// counted in ForgottenErrors.
	c.SendAndForget("INCR", "user:1:pageviews")

	// Keys of one transaction share a hash tag, so they share a slot.
	var tx driver.Batch
	tx.Queue("INCR", "{user:1}:visits")
	tx.Queue("EXPIRE", "{user:1}:visits", 3600)
	for _, f := range c.SendTx(nil, &tx) {
		if err := f.Err(ctx); err != nil {
			fmt.Println(err)
		}
	}
}

func ExampleKeySlotString() {
	fmt.Println(cluster.KeySlotString("foo"), cluster.KeySlotString("{user1000}.following"), cluster.KeySlotString("{user1000}.followers"))
	// Output: 12182 3443 3443
}

// Optimistic locking on a cluster: WATCH, read, then a transaction, on the master of
// the keys' slot. A watch conflict, or a MOVED (the slot moved; the client's map now
// says where), means that the transaction did not run: run fn again.
func ExampleClient_Dedicated() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.Connect(ctx, cluster.Config{Addrs: []string{"127.0.0.1:7000"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	spend := func(d *driver.DedicatedConn) error {
		if err := d.Send("WATCH", "{acct:1}:balance").Err(ctx); err != nil {
			return err
		}
		n, err := d.Send("GET", "{acct:1}:balance").Int(ctx)
		if err != nil {
			return err
		}
		var tx driver.Batch
		tx.Queue("SET", "{acct:1}:balance", n-3)
		tx.Queue("INCRBY", "{acct:1}:spent", 3)
		for _, f := range d.SendTx(nil, &tx) {
			if err := f.Err(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	for try := 0; try < 3; try++ {
		err = c.Dedicated(ctx, "{acct:1}", spend)
		if !errors.Is(err, driver.ErrWatchConflict) && !cluster.Moved(err) {
			break
		}
	}
	fmt.Println(err)
}
