package discovery

import (
	"errors"
	"net"
	"reflect"
	"testing"
)

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"static:a@h1:4370,b@h2:4370", "static:10.0.0.5:4370", "static:n@[fd00::1]:1",
		"dns:grove-headless:4370", "dns:grove@grove.default.svc.cluster.local.:4370",
		"dnssrv:_grove._tcp.grove", "dnssrv:g@_grove._tcp.grove",
		"kube:default/grove:4370", "kube:grove@grove:dist", "kube:grove", "kubernetes:a/b:c",
		"", "static:", "dns:", "static:a@h1:4370,", "kube:a/b/c", "dns:a@b@c:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		spec, err := ParseSpec(in)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || se.Spec != in {
				t.Fatalf("ParseSpec(%q) error %v is not a *SpecError of the input", in, err)
			}
			return
		}
		// Everything ParseSpec accepts is a valid configuration ...
		switch spec.Kind {
		case KindStatic:
			if len(spec.Peers) == 0 {
				t.Fatalf("ParseSpec(%q): no peers", in)
			}
			for _, p := range spec.Peers {
				if err := p.Validate(); err != nil {
					t.Fatalf("ParseSpec(%q): peer %v: %v", in, p, err)
				}
			}
		case KindDNS:
			err = spec.WithDefaultPort(4370).DNS.Validate()
		case KindDNSSRV:
			err = spec.DNSSRV.Validate()
		case KindKubernetes:
			err = spec.Kubernetes.Validate()
		default:
			t.Fatalf("ParseSpec(%q): kind %v", in, spec.Kind)
		}
		if err != nil {
			t.Fatalf("ParseSpec(%q) gave an invalid config: %v", in, err)
		}
		// ... and String writes it back in a form that parses to the same.
		again, err := ParseSpec(spec.String())
		if err != nil || !reflect.DeepEqual(again, spec) {
			t.Fatalf("ParseSpec(%q) = %+v; String %q parses to %+v, %v", in, spec, spec.String(), again, err)
		}
	})
}

func FuzzDecodeEndpointSlices(f *testing.F) {
	f.Add([]byte(`{"kind":"EndpointSliceList","metadata":{"continue":"x"},"items":[`+
		slice("IPv4", distPorts, "10.0.0.1+", "10.0.0.2-", "10.0.0.3")+","+
		slice("IPv6", distPorts, "fd00::1+", "::ffff:10.0.0.1")+","+
		slice("FQDN", distPorts, "a.example.com")+"]}"), "dist", uint16(0))
	f.Add([]byte(`{"items":[{"addressType":"IPv4","endpoints":[{"addresses":["1.2.3.4"]}],"ports":[{"port":70000},{"port":1,"protocol":"UDP"},{"port":2}]}]}`), "", uint16(0))
	f.Add([]byte(`{"items":[]}`), "", uint16(4370))
	f.Add([]byte(`{"items":null}`), "", uint16(1))
	f.Add([]byte(`{"kind":"Status","code":403}`), "", uint16(1))
	f.Add([]byte(`[]`), "", uint16(1))
	f.Fuzz(func(t *testing.T, body []byte, portName string, port uint16) {
		peers, _, err := decodeEndpointSlices(body, portSelector{port: int(port), name: portName}, "grove")
		if err != nil {
			if !errors.Is(err, ErrKubernetes) {
				t.Fatalf("error %v does not wrap ErrKubernetes", err)
			}
			if len(peers) != 0 {
				t.Fatalf("peers %v returned with decoding error %v", peers, err)
			}
			return
		}
		for _, p := range peers {
			if err := p.Validate(); err != nil {
				t.Fatalf("decoded an invalid peer %v: %v", p, err)
			}
			host, _, _ := net.SplitHostPort(p.Addr)
			ip := net.ParseIP(host)
			if ip == nil || ip.String() != host || p.Name != "grove@"+host {
				t.Fatalf("peer %v: address is not a canonical IP or name does not match", p)
			}
		}
	})
}
