package bench

import (
	"context"
	"errors"
	"os"
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

// TestErlangDistribution runs the Erlang side at a small size. Starting
// two BEAM VMs takes seconds under load, so it runs only with
// GROVE_TEST_ERLANG=1 (and needs Erlang/OTP installed).
func TestErlangDistribution(t *testing.T) {
	if os.Getenv("GROVE_TEST_ERLANG") == "" {
		t.Skip("set GROVE_TEST_ERLANG=1 to run two Erlang VMs")
	}
	res, err := RunErlang(context.Background(), ErlangConfig{RoundTrips: 200, SmallMessages: 2000, KiBMessages: 500, BigMessages: 20})
	if errors.Is(err, ErrNoErlang) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.OTP == "" || res.RTTP50us <= 0 || res.RTTP99us < res.RTTP50us || res.SmallMPS <= 0 || res.KiBMiBps <= 0 || res.BigMiBps <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestParseErlang(t *testing.T) {
	res, err := parseErlang([]byte("noise\nERLANG 25 30.5 99.0 123456.7 40.25 300.00\n"))
	if err != nil || res != (ErlangResult{OTP: "25", RTTP50us: 30.5, RTTP99us: 99, SmallMPS: 123456.7, KiBMiBps: 40.25, BigMiBps: 300}) {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := parseErlang([]byte("ERROR error:badarg []\n")); err == nil {
		t.Fatal("no error for output without figures")
	}
}
