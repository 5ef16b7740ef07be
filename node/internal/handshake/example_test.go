package handshake_test

import (
	"context"
	"fmt"

	"github.com/grovedev/grove/node/certs"
	"github.com/grovedev/grove/node/internal/handshake"
	"github.com/grovedev/grove/transport/memnet"
)

func Example() {
	ctx := context.Background()
	ca, err := certs.NewCA("example CA")
	if err != nil {
		panic(err)
	}
	config := func(name string) *handshake.Config {
		cert, err := ca.Issue(name)
		if err != nil {
			panic(err)
		}
		return &handshake.Config{
			Name:     name,
			Creation: 1,
			Secret:   []byte("optional second factor"),
			TLS:      &handshake.TLSConfig{Certificate: cert, Roots: ca.Pool()},
		}
	}

	nw := memnet.New(memnet.Config{})
	a, b := nw.Endpoint("host1"), nw.Endpoint("host2")
	defer a.Close()
	defer b.Close()
	ln, _ := b.Listen(ctx, "host2:4370")
	defer ln.Close()

	accepted := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			accepted <- err.Error()
			return
		}
		peer, err := handshake.Server(ctx, conn, config("b@host2"))
		if err != nil {
			conn.Close()
			accepted <- err.Error()
			return
		}
		defer peer.Conn.Close()
		accepted <- "server accepted " + peer.Name
	}()

	conn, _ := a.Dial(ctx, "host2:4370")
	peer, err := handshake.Client(ctx, conn, config("a@host1"), "b@host2")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer peer.Conn.Close()
	fmt.Println("client reached", peer.Name)
	fmt.Println(<-accepted)
	// Output:
	// client reached b@host2
	// server accepted a@host1
}
