// Package discovery finds candidate peers of a Grove cluster, as Elixir's
// libcluster strategies do: from a static seed list, from the A/AAAA or SRV
// records of a DNS name (a Kubernetes headless Service, a Compose service),
// from the EndpointSlices of a Kubernetes Service, or from a user's own
// Strategy.
//
// Discovery only proposes peers. The cluster's membership protocol decides
// who is a member and who has failed; discovery never removes anyone. A
// Poller runs a strategy at an interval and reports the peers it found for
// the first time (or under a new address), together with everything it has
// found so far. A failed poll — a DNS SERVFAIL, NXDOMAIN or timeout, a
// Kubernetes 401, 403 or 500, a malformed answer — and an empty answer change
// nothing: the error is logged and counted (PollerStats), and every known peer
// stays known. (libcluster's Kubernetes strategy can disconnect every node
// when the API server answers 403; Grove's cannot.)
//
// # Usage
//
//	strategy, err := discovery.Parse("dns:grove@grove-headless.default.svc.cluster.local:4370")
//	if err != nil {
//		return err // names the problem, for a one-line exit message
//	}
//	poller, err := discovery.NewPoller(strategy, func(u discovery.Update) {
//		for _, p := range u.Added {
//			members.Join(ctx, p.Name, p.Addr) // hand the peer to the membership layer
//		}
//	}, discovery.PollerConfig{Interval: 5 * time.Second})
//	if err != nil {
//		return err
//	}
//	defer poller.Close()
//
// A program that wants to adjust what the spec cannot say (a resolver
// address, an API server URL, a default port) calls ParseSpec, changes the
// Spec, and calls Spec.New:
//
//	spec, err := discovery.ParseSpec(flagValue)
//	if err != nil {
//		return err
//	}
//	spec = spec.WithDefaultPort(4370) // "dns:NAME" means NAME's addresses at our own port
//	strategy, err := spec.New()
//
// When the membership layer declares a member dead or gone, it may call
// Poller.Forget, so that the peer is reported again if discovery finds it
// later. Strategies can also be built directly: NewStatic, NewDNS,
// NewDNSSRV, NewKubernetes; Union combines several.
//
// # Spec syntax
//
// The node binary's --discovery flag takes one spec:
//
//	spec    = "static:" peer { "," peer }
//	        | "dns:" [ base "@" ] name [ ":" port ]
//	        | "dnssrv:" [ base "@" ] name
//	        | "kube:" [ base "@" ] [ namespace "/" ] service [ ":" ( port | portname ) ]
//	peer    = [ node "@" ] host ":" port
//
// where host is a DNS name, an IPv4 address or an IPv6 address in brackets;
// port is a decimal number in 1..65535; name is a DNS name (letters, digits,
// '-', '_' and '.'); namespace and service are lowercase RFC 1123 labels;
// portname is a Kubernetes port name; node and base are node-name prefixes
// (letters, digits, '-', '_', '.'). No spaces are allowed. Examples:
//
//	static:a@h1:4370,b@h2:4370   peers a@h1 at h1:4370 and b@h2 at h2:4370
//	static:10.0.0.5:4370         one peer, name learnt when connecting
//	dns:grove-headless:4370      A/AAAA records, each address at port 4370, no names
//	dns:grove-headless           the same at the port given by Spec.WithDefaultPort
//	dns:grove@grove-headless:4370  the same, peers named grove@IP
//	dnssrv:_grove._tcp.grove-headless.default.svc.cluster.local
//	                             SRV records: target host and port of each
//	kube:default/grove:4370      ready endpoints of Service default/grove, port 4370
//	kube:grove@grove:dist        the pod's own namespace, the slices' port named "dist"
//	kube:grove                   the pod's own namespace, the slices' first TCP port
//
// A base (libcluster's node_basename) names each found peer base@IP (or
// base@TARGET for SRV); without one, peers carry only an address.
//
// # DNS
//
// DNS and DNSSRV ask one DNS server directly (github.com/miekg/dns), the first
// nameserver of /etc/resolv.conf unless ResolverConfig.Addr says otherwise,
// over UDP with a retry over TCP for truncated answers, or over TCP only. A
// name without a trailing dot is tried as given, then under each search
// domain of resolv.conf.
//
// # Kubernetes
//
// Kubernetes lists
// /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices?labelSelector=kubernetes.io/service-name=SVC
// with plain net/http, authenticated by the pod's service-account token
// (read again for every request, so rotated tokens are picked up) over TLS
// verified with the service account's CA. Only ready endpoints become peers.
// The service account needs a Role allowing "list" on "endpointslices" in
// the "discovery.k8s.io" API group.
package discovery
