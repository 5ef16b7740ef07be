package discovery

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Kind names a built-in strategy in a Spec.
type Kind int

const (
	// KindStatic is a seed list (Static).
	KindStatic Kind = iota + 1
	// KindDNS is the A/AAAA records of a name (DNS).
	KindDNS
	// KindDNSSRV is the SRV records of a name (DNSSRV).
	KindDNSSRV
	// KindKubernetes is the EndpointSlices of a Service (Kubernetes).
	KindKubernetes
)

// String returns the kind's prefix in the spec syntax: "static", "dns",
// "dnssrv" or "kube".
func (k Kind) String() string {
	switch k {
	case KindStatic:
		return "static"
	case KindDNS:
		return "dns"
	case KindDNSSRV:
		return "dnssrv"
	case KindKubernetes:
		return "kube"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Spec is a parsed discovery spec: which strategy, and its configuration.
// Only the field of its Kind is used. A program may adjust the
// configuration (a resolver address, an API server URL) between ParseSpec
// and New.
type Spec struct {
	// Kind selects the strategy.
	Kind Kind
	// Peers is the seed list of KindStatic.
	Peers []Peer
	// DNS configures KindDNS.
	DNS DNSConfig
	// DNSSRV configures KindDNSSRV.
	DNSSRV DNSSRVConfig
	// Kubernetes configures KindKubernetes.
	Kubernetes KubernetesConfig
}

// WithDefaultPort returns the spec with port as the DNS strategy's port when
// the spec gave none ("dns:NAME"), so that a node can default it to its own
// distribution port. Other kinds are returned unchanged: static peers always
// carry a port, and a kube spec without one takes the EndpointSlices' port.
func (s Spec) WithDefaultPort(port int) Spec {
	if s.Kind == KindDNS && s.DNS.Port == 0 {
		s.DNS.Port = port
	}
	return s
}

// New builds the strategy the spec describes. For KindDNS and KindDNSSRV
// with no resolver address it reads /etc/resolv.conf; for KindKubernetes it
// reads the service account's files and environment (see NewKubernetes).
func (s Spec) New() (Strategy, error) {
	switch s.Kind {
	case KindStatic:
		return NewStatic(s.Peers...)
	case KindDNS:
		return NewDNS(s.DNS)
	case KindDNSSRV:
		return NewDNSSRV(s.DNSSRV)
	case KindKubernetes:
		return NewKubernetes(s.Kubernetes)
	}
	return nil, fmt.Errorf("%w: unknown strategy kind %d", ErrInvalidConfig, int(s.Kind))
}

// String writes the spec in the syntax Parse reads; ParseSpec of the result
// gives back the spec for every spec ParseSpec returned. Settings the
// syntax cannot express (resolver, API server, file paths, the name of a
// static peer whose host differs from its address's) are left out.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Kind.String())
	b.WriteByte(':')
	switch s.Kind {
	case KindStatic:
		for i, p := range s.Peers {
			if i > 0 {
				b.WriteByte(',')
			}
			local, host, ok := strings.Cut(p.Name, "@")
			if ah, _, err := net.SplitHostPort(p.Addr); ok && err == nil && ah == host {
				b.WriteString(local)
				b.WriteByte('@')
			}
			b.WriteString(p.Addr)
		}
	case KindDNS:
		if s.DNS.NodeBasename != "" {
			b.WriteString(s.DNS.NodeBasename + "@")
		}
		b.WriteString(s.DNS.Name)
		if s.DNS.Port != 0 {
			b.WriteString(":" + strconv.Itoa(s.DNS.Port))
		}
	case KindDNSSRV:
		if s.DNSSRV.NodeBasename != "" {
			b.WriteString(s.DNSSRV.NodeBasename + "@")
		}
		b.WriteString(s.DNSSRV.Name)
	case KindKubernetes:
		k := s.Kubernetes
		if k.NodeBasename != "" {
			b.WriteString(k.NodeBasename + "@")
		}
		if k.Namespace != "" {
			b.WriteString(k.Namespace + "/")
		}
		b.WriteString(k.Service)
		if k.Port != 0 {
			b.WriteString(":" + strconv.Itoa(k.Port))
		} else if k.PortName != "" {
			b.WriteString(":" + k.PortName)
		}
	}
	return b.String()
}

// Parse parses a discovery spec (see the package documentation for the
// grammar) and builds its strategy. It is ParseSpec followed by Spec.New.
func Parse(spec string) (Strategy, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return s.New()
}

// ParseSpec parses a discovery spec without building the strategy; it
// touches no file, environment or network. Errors are *SpecError.
func ParseSpec(spec string) (Spec, error) {
	fail := func(format string, args ...any) (Spec, error) {
		return Spec{}, &SpecError{Spec: spec, Problem: fmt.Sprintf(format, args...)}
	}
	if spec == "" {
		return fail("empty; want static:, dns:, dnssrv: or kube:")
	}
	if i := strings.IndexFunc(spec, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return fail("space or control character at byte %d", i)
	}
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return fail("no strategy prefix; want static:, dns:, dnssrv: or kube:")
	}
	if rest == "" {
		return fail("nothing after %q", kind+":")
	}
	switch kind {
	case "static":
		return parseStatic(spec, rest)
	case "dns":
		base, name, err := splitBasename(rest)
		if err != nil {
			return fail("%s", err)
		}
		port := 0
		if i := strings.LastIndexByte(name, ':'); i >= 0 {
			if port, err = parsePort(name[i+1:]); err != nil {
				return fail("dns: %s", err)
			}
			name = name[:i]
		}
		if err := validateDNSName(name); err != nil {
			return fail("dns: %s", err)
		}
		return Spec{Kind: KindDNS, DNS: DNSConfig{Name: name, Port: port, NodeBasename: base}}, nil
	case "dnssrv":
		base, name, err := splitBasename(rest)
		if err != nil {
			return fail("%s", err)
		}
		if strings.Contains(name, ":") {
			return fail("dnssrv: takes no port (SRV records carry it)")
		}
		if err := validateDNSName(name); err != nil {
			return fail("dnssrv: %s", err)
		}
		return Spec{Kind: KindDNSSRV, DNSSRV: DNSSRVConfig{Name: name, NodeBasename: base}}, nil
	case "kube", "kubernetes":
		return parseKube(spec, rest)
	}
	return fail("unknown strategy %q; want static, dns, dnssrv or kube", kind)
}

// splitBasename splits an optional "BASENAME@" off s.
func splitBasename(s string) (base, rest string, err error) {
	base, rest, ok := strings.Cut(s, "@")
	if !ok {
		return "", s, nil
	}
	if base == "" {
		return "", "", fmt.Errorf("empty node basename before '@'")
	}
	if err := validateBasename(base); err != nil {
		return "", "", err
	}
	if strings.Contains(rest, "@") {
		return "", "", fmt.Errorf("more than one '@'")
	}
	return base, rest, nil
}

func parseStatic(spec, rest string) (Spec, error) {
	var peers []Peer
	for i, item := range strings.Split(rest, ",") {
		p, err := parsePeer(item)
		if err != nil {
			return Spec{}, &SpecError{Spec: spec, Problem: fmt.Sprintf("static: peer %d: %s", i+1, err)}
		}
		peers = append(peers, p)
	}
	return Spec{Kind: KindStatic, Peers: peers}, nil
}

// parsePeer parses "[NAME@]HOST:PORT".
func parsePeer(s string) (Peer, error) {
	if s == "" {
		return Peer{}, fmt.Errorf("empty")
	}
	local, addr, named := strings.Cut(s, "@")
	if !named {
		addr = s
	} else if local == "" {
		return Peer{}, fmt.Errorf("%q has an empty name before '@'", s)
	} else if err := validateBasename(local); err != nil {
		return Peer{}, fmt.Errorf("%q: %s", s, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Peer{}, fmt.Errorf("%q is not [NAME@]HOST:PORT", s)
	}
	n, err := parsePort(port)
	if err != nil {
		return Peer{}, fmt.Errorf("%q: %s", s, err)
	}
	if ip := net.ParseIP(host); ip == nil {
		if err := validateDNSName(host); err != nil {
			return Peer{}, fmt.Errorf("%q: host: %s", s, err)
		}
	} else if strings.Contains(host, ":") && ip.To4() != nil {
		return Peer{}, fmt.Errorf("%q: write IPv4 hosts without an IPv6 prefix", s)
	}
	p := Peer{Addr: net.JoinHostPort(host, strconv.Itoa(n))}
	if named {
		p.Name = local + "@" + host
	}
	if p.Addr != addr {
		return Peer{}, fmt.Errorf("%q: address not in canonical form %q", s, p.Addr)
	}
	return p, nil
}

func parseKube(spec, rest string) (Spec, error) {
	fail := func(format string, args ...any) (Spec, error) {
		return Spec{}, &SpecError{Spec: spec, Problem: "kube: " + fmt.Sprintf(format, args...)}
	}
	base, rest, err := splitBasename(rest)
	if err != nil {
		return fail("%s", err)
	}
	var cfg KubernetesConfig
	cfg.NodeBasename = base
	if ns, svc, ok := strings.Cut(rest, "/"); ok {
		if err := validateK8sName("namespace", ns); err != nil {
			return fail("%s", err)
		}
		cfg.Namespace = ns
		rest = svc
	}
	svc, port, hasPort := strings.Cut(rest, ":")
	if err := validateK8sName("service", svc); err != nil {
		return fail("%s", err)
	}
	cfg.Service = svc
	if hasPort {
		if port != "" && port[0] >= '0' && port[0] <= '9' {
			n, err := parsePort(port)
			if err != nil {
				return fail("%s", err)
			}
			cfg.Port = n
		} else if err := validatePortName(port); err != nil {
			return fail("%s", err)
		} else {
			cfg.PortName = port
		}
	}
	return Spec{Kind: KindKubernetes, Kubernetes: cfg}, nil
}
