package bench

import (
	"context"
	"testing"
)

// TestRemoteSmall runs the remote benchmarks at a small size with both
// sides in this process, over real TCP.
func TestRemoteSmall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sec := LinkSecurity{Cookie: []byte("bench")}
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- RunPeer(ctx, sec, func(a string) { addrs <- a }) }()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatal(err)
	}
	res, err := Drive(ctx, addr, sec, RemoteConfig{SmallMessages: 5000, KiBMessages: 500, BigMessages: 20, RoundTrips: 200}, false, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.SmallMPS <= 0 || res.KiBMiBps <= 0 || res.BigMiBps <= 0 || res.RTTP50us <= 0 || res.RTTP99us < res.RTTP50us {
		t.Fatalf("result %+v", res)
	}
	rawAddrs := make(chan string, 1)
	rawDone := make(chan error, 1)
	go func() { rawDone <- RunRawSink(ctx, func(a string) { rawAddrs <- a }) }()
	mps, err := RawStream(ctx, <-rawAddrs, 5000, make([]byte, 8))
	if err != nil || mps <= 0 {
		t.Fatalf("raw: %v %v", mps, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-rawDone; err != nil {
		t.Fatal(err)
	}
}
