package cluster_test

import (
	"context"
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
