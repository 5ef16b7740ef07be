package memnet_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/grovedev/grove/transport/memnet"
)

func Example() {
	ctx := context.Background()
	nw := memnet.New(memnet.Config{})
	a, b := nw.Endpoint("a"), nw.Endpoint("b")
	defer a.Close()
	defer b.Close()

	ln, _ := b.Listen(ctx, "b:4370")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()

	conn, _ := a.Dial(ctx, "b:4370")
	defer conn.Close()
	_, _ = conn.Write([]byte("hello"))
	buf := make([]byte, 5)
	_, _ = io.ReadFull(conn, buf)
	fmt.Println(string(buf))

	// Partition a from b: new connections fail until the link heals.
	nw.Block("a", "b")
	_, err := a.Dial(ctx, "b:4370")
	fmt.Println(errors.Is(err, memnet.ErrUnreachable))
	nw.Unblock("a", "b")
	// Output:
	// hello
	// true
}
