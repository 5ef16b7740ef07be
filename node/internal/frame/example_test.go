package frame_test

import (
	"context"
	"fmt"
	"net"

	"github.com/grovedev/grove/node/internal/frame"
)

func Example() {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()

	w := frame.NewWriter(a, frame.Config{})
	defer w.Close()
	go func() {
		// A message bigger than ChunkSize is fragmented on lane 1; the small
		// one on lane 2 is not stuck behind it.
		_ = w.Write(ctx, frame.Message{Kind: 16, Lane: 1, Payload: make([]byte, 200<<10)})
	}()
	go func() {
		_ = w.Write(ctx, frame.Message{Kind: 17, Lane: 2, Payload: []byte("hi")})
	}()

	r := frame.NewReader(b, frame.Config{})
	got := map[frame.Kind]int{}
	for len(got) < 2 {
		m, err := r.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		got[m.Kind] = len(m.Payload)
	}
	fmt.Println(got[16], got[17])
	// Output: 204800 2
}
