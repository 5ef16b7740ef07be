package discovery

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSpecGood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Spec
	}{
		{"static:a@h1:4370,b@h2:4370", Spec{Kind: KindStatic, Peers: []Peer{{Name: "a@h1", Addr: "h1:4370"}, {Name: "b@h2", Addr: "h2:4370"}}}},
		{"static:10.0.0.5:4370", Spec{Kind: KindStatic, Peers: []Peer{{Addr: "10.0.0.5:4370"}}}},
		{"static:n@[fd00::1]:1,[::1]:65535", Spec{Kind: KindStatic, Peers: []Peer{{Name: "n@fd00::1", Addr: "[fd00::1]:1"}, {Addr: "[::1]:65535"}}}},
		{"dns:grove-headless:4370", Spec{Kind: KindDNS, DNS: DNSConfig{Name: "grove-headless", Port: 4370}}},
		{"dns:grove@grove.default.svc.cluster.local.:4370", Spec{Kind: KindDNS, DNS: DNSConfig{Name: "grove.default.svc.cluster.local.", Port: 4370, NodeBasename: "grove"}}},
		{"dns:grove", Spec{Kind: KindDNS, DNS: DNSConfig{Name: "grove"}}},
		{"dnssrv:_grove._tcp.grove.default.svc", Spec{Kind: KindDNSSRV, DNSSRV: DNSSRVConfig{Name: "_grove._tcp.grove.default.svc"}}},
		{"dnssrv:g@_grove._tcp.grove", Spec{Kind: KindDNSSRV, DNSSRV: DNSSRVConfig{Name: "_grove._tcp.grove", NodeBasename: "g"}}},
		{"kube:default/grove:4370", Spec{Kind: KindKubernetes, Kubernetes: KubernetesConfig{Namespace: "default", Service: "grove", Port: 4370}}},
		{"kube:grove@grove:dist", Spec{Kind: KindKubernetes, Kubernetes: KubernetesConfig{Service: "grove", PortName: "dist", NodeBasename: "grove"}}},
		{"kube:grove", Spec{Kind: KindKubernetes, Kubernetes: KubernetesConfig{Service: "grove"}}},
		{"kubernetes:ns/svc", Spec{Kind: KindKubernetes, Kubernetes: KubernetesConfig{Namespace: "ns", Service: "svc"}}},
	} {
		got, err := ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSpec(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
		again, err := ParseSpec(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseSpec(%q).String() = %q does not parse back: %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseSpecBad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, problem string }{
		{"", "empty"},
		{"static", "no strategy prefix"},
		{"static:", "nothing after"},
		{"consul:x", `unknown strategy "consul"`},
		{"static:a@h1:4370,", "peer 2: empty"},
		{"static:a@h1", "peer 1: \"a@h1\" is not [NAME@]HOST:PORT"},
		{"static:@h1:4370", "empty name"},
		{"static:a@h1:0", "not in 1..65535"},
		{"static:a@h1:99999", "not in 1..65535"},
		{"static:a@h1:http", "not a number"},
		{"static:a@b@h1:1", "character '@'"},
		{"static:h_1..x:1", "empty label"},
		{"static:h1:04370", "canonical"},
		{"static:a@h1:4370, b@h2:4370", "space"},
		{"dns:grove:", "empty port"},
		{"dns::4370", "empty DNS name"},
		{"dns:@grove:1", "empty node basename"},
		{"dns:a@b@grove:1", "more than one '@'"},
		{"dns:gr/ove:1", "character '/'"},
		{"dnssrv:_grove._tcp.grove:4370", "takes no port"},
		{"kube:Default/grove", "namespace name \"Default\""},
		{"kube:ns/", "empty service name"},
		{"kube:ns/grove:", "port name \"\""},
		{"kube:ns/grove:0", "not in 1..65535"},
		{"kube:ns/grove:a_b", "character '_'"},
		{"kube:a/b/c", "service name \"b/c\""},
		{"dns:" + strings.Repeat("a", 64) + ":1", "longer than 63"},
	} {
		_, err := ParseSpec(tc.in)
		var se *SpecError
		if !errors.As(err, &se) || !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("ParseSpec(%q) = %v; want a *SpecError", tc.in, err)
			continue
		}
		if !strings.Contains(se.Problem, tc.problem) {
			t.Errorf("ParseSpec(%q) problem %q; want it to mention %q", tc.in, se.Problem, tc.problem)
		}
		if !strings.Contains(err.Error(), "discovery: invalid spec") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSpec(%q) error %q is not one line naming the spec", tc.in, err)
		}
	}
}

func TestParseBuildsStrategies(t *testing.T) {
	t.Parallel()
	s, err := Parse("static:a@h1:4370,b@h2:4370")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Discover(ctxT(t))
	if err != nil || len(got) != 2 || got[0] != (Peer{Name: "a@h1", Addr: "h1:4370"}) {
		t.Fatalf("static: %v, %v", got, err)
	}
	if str := s.(*Static).String(); str != "static:a@h1:4370,b@h2:4370" {
		t.Fatalf("String() = %q", str)
	}
	named, err := NewStatic(Peer{Name: "a@h1", Addr: "10.0.0.1:1"}, Peer{Name: "b@h2", Addr: "h2:2"})
	if err != nil {
		t.Fatal(err)
	}
	if str := named.String(); str != "static:10.0.0.1:1,b@h2:2" {
		t.Fatalf("String() = %q; want the name left out where the syntax cannot say it", str)
	}
	// The kube strategy needs the service account's files: outside a pod it
	// is a configuration error, not a spec error.
	spec, err := ParseSpec("kube:ns/svc:4370")
	if err != nil {
		t.Fatal(err)
	}
	spec.Kubernetes.APIServer = "https://127.0.0.1:1"
	spec.Kubernetes.CAFile = t.TempDir() + "/ca.crt"
	if _, err := spec.New(); !errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("kube without CA: %v", err)
	}
	spec, err = ParseSpec("dns:grove:4370")
	if err != nil {
		t.Fatal(err)
	}
	spec.DNS.Resolver.Addr = "127.0.0.1:53"
	if d, err := spec.New(); err != nil || d.(*DNS).String() != "dns:grove:4370" {
		t.Fatalf("dns: %v, %v", d, err)
	}
	spec, err = ParseSpec("dns:grove")
	if err != nil {
		t.Fatal(err)
	}
	spec.DNS.Resolver.Addr = "127.0.0.1:53"
	if _, err := spec.New(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "no port") {
		t.Fatalf("dns without a port: %v", err)
	}
	if d, err := spec.WithDefaultPort(4370).New(); err != nil || d.(*DNS).cfg.Port != 4370 {
		t.Fatalf("dns with a default port: %v, %v", d, err)
	}
	if got := (Spec{Kind: KindDNS, DNS: DNSConfig{Port: 1}}).WithDefaultPort(2).DNS.Port; got != 1 {
		t.Fatalf("WithDefaultPort replaced a given port: %d", got)
	}
	if got := (Spec{Kind: KindKubernetes}).WithDefaultPort(2).Kubernetes.Port; got != 0 {
		t.Fatalf("WithDefaultPort set a kube port: %d", got)
	}
	if _, err := (Spec{}).New(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero Spec: %v", err)
	}
}

func TestPeerValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []Peer{
		{Addr: "h:1"}, {Name: "a@h", Addr: "10.0.0.1:4370"}, {Addr: "[::1]:4370"},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%v: %v", p, err)
		}
	}
	for _, p := range []Peer{
		{}, {Addr: "h"}, {Addr: ":1"}, {Addr: "h:0"}, {Addr: "h:x"}, {Addr: "h h:1"},
		{Name: "a", Addr: "h:1"}, {Name: "@h", Addr: "h:1"}, {Name: "a@", Addr: "h:1"}, {Name: "a@b@c", Addr: "h:1"}, {Name: "a b@h", Addr: "h:1"},
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidPeer) {
			t.Errorf("%+v: Validate() = %v; want ErrInvalidPeer", p, err)
		}
	}
}
