package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/grovedev/grove/discovery"
)

func ExampleParseSpec() {
	spec, err := discovery.ParseSpec("kube:grove@prod/grove:4370")
	if err != nil {
		log.Fatal(err)
	}
	k := spec.Kubernetes
	fmt.Println(spec.Kind, k.Namespace, k.Service, k.Port, k.NodeBasename)

	_, err = discovery.ParseSpec("dns:grove-headless:dist")
	fmt.Println(err)
	fmt.Println(errors.Is(err, discovery.ErrInvalidSpec))
	// Output:
	// kube prod grove 4370 grove
	// discovery: invalid spec "dns:grove-headless:dist": dns: port "dist" is not a number
	// true
}

func ExampleNewPoller() {
	seeds, err := discovery.NewStatic(
		discovery.Peer{Name: "a@h1", Addr: "h1:4370"},
		discovery.Peer{Name: "b@h2", Addr: "h2:4370"},
	)
	if err != nil {
		log.Fatal(err)
	}
	updates := make(chan discovery.Update, 1)
	p, err := discovery.NewPoller(seeds, func(u discovery.Update) {
		updates <- u // a membership layer would join the added peers here
	}, discovery.PollerConfig{Interval: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	u := <-updates
	for _, peer := range u.Added {
		fmt.Println("found", peer.Name, "at", peer.Addr)
	}
	// Output:
	// found a@h1 at h1:4370
	// found b@h2 at h2:4370
}

func ExampleStrategyFunc() {
	// A strategy of one's own, here one that fails every other time. The
	// poller's first poll (call 1) runs at start, then each Refresh polls once.
	calls := 0
	s := discovery.StrategyFunc(func(ctx context.Context) ([]discovery.Peer, error) {
		calls++
		if calls%2 == 0 {
			return nil, errors.New("registry unavailable")
		}
		return []discovery.Peer{{Addr: fmt.Sprintf("10.0.0.%d:4370", calls)}}, nil
	})
	p, err := discovery.NewPoller(s, func(discovery.Update) {}, discovery.PollerConfig{
		Interval: time.Hour,
		Logger:   slog.New(slog.DiscardHandler), // the failures are counted in p.Stats() too
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	for range 3 {
		err := p.Refresh(ctx) // polls now instead of waiting for the interval
		fmt.Println(p.Peers(), err)
	}
	fmt.Println("errors:", p.Stats().Errors)
	// Output:
	// [10.0.0.1:4370] registry unavailable
	// [10.0.0.1:4370 10.0.0.3:4370] <nil>
	// [10.0.0.1:4370 10.0.0.3:4370] registry unavailable
	// errors: 2
}

func ExampleNewKubernetes() {
	// In a pod whose service account may list EndpointSlices: the ready pods
	// of Service "grove" in the pod's namespace, at their port named "dist".
	k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
		Service:      "grove",
		PortName:     "dist",
		NodeBasename: "grove",
	})
	if err != nil {
		log.Fatal(err) // outside a pod: names the missing file or variable
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := k.Discover(ctx)
	fmt.Println(peers, err)
}
