package sentinel_test

import (
	"context"
	"fmt"
	"time"

	"github.com/respring/respring/driver"
	"github.com/respring/respring/driver/sentinel"
)

// Connect to the master the sentinels call "mymaster"; the connection follows it
// through failovers.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sentinel.PairedConnect(ctx, sentinel.Config{
		MasterName:       "mymaster",
		Sentinels:        []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
		Node:             driver.Config{Password: "data-secret"},
		SentinelPassword: "sentinel-secret",
	})
	if err != nil {
		fmt.Println(err) // ErrNoSentinel, ErrUnknownMaster, ...
		return
	}
	defer c.Close()
	n, err := c.Send("INCR", "visits").Int(ctx)
	fmt.Println(n, err)
}
