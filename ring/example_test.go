package ring_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/respring/respring/parser"
	"github.com/respring/respring/ring"
)

// Example shows the three sides of a ring: senders reserve, encode and publish; a loop
// goroutine collects the commands and completes them with replies in order; each sender
// views its own reply.
func Example() {
	r := ring.New(16) // room for all 8 commands: no reply expires before its View
	wake := make(chan struct{}, 1)
	quit := make(chan struct{})
	var loop sync.WaitGroup
	loop.Add(1)
	go func() { // the fake event loop: echoes each command back, upper-cased
		defer loop.Done()
		var buf []byte
		for {
			select {
			case <-wake:
			case <-quit:
				return
			}
			buf, _ = r.Collect(buf[:0]) // one "write" per batch
			for _, cmd := range bytes.Fields(buf) {
				if err := r.Complete(parser.NewBulk(bytes.ToUpper(cmd))); err != nil {
					panic(err) // unsolicited reply: a real driver drops the connection
				}
			}
		}
	}()

	ctx := context.Background()
	var senders sync.WaitGroup
	replies := make([]string, 8)
	for i := range replies {
		senders.Add(1)
		go func() {
			defer senders.Done()
			seq, cmd, err := r.Reserve(ctx)
			if err != nil {
				return
			}
			*cmd = fmt.Appendf(*cmd, "hello-%d\n", i)
			if r.Publish(seq, false) {
				select { // wake the loop
				case wake <- struct{}{}:
				default:
				}
			}
			err = r.View(ctx, seq, func(v parser.Value, err error) {
				replies[i] = string(v.Bytes()) // copy: v is valid only during fn
			})
			if err != nil { // ring.ErrExpired once 16 later commands reused the slot
				replies[i] = err.Error()
			}
		}()
	}
	senders.Wait()
	close(quit)
	loop.Wait()
	r.Close(nil)

	for _, s := range replies {
		fmt.Println(s)
	}
	fmt.Println(r.Err())
	// Output:
	// HELLO-0
	// HELLO-1
	// HELLO-2
	// HELLO-3
	// HELLO-4
	// HELLO-5
	// HELLO-6
	// HELLO-7
	// ring: closed
}
