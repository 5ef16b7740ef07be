package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultResolvConf is the file a ResolverConfig without Addr reads its
// nameserver and search domains from.
const DefaultResolvConf = "/etc/resolv.conf"

// DefaultDNSTimeout is the per-query timeout of a ResolverConfig whose
// Timeout is zero.
const DefaultDNSTimeout = 2 * time.Second

// ResolverConfig says which DNS server the DNS strategies ask and how. The
// zero value asks the first nameserver of /etc/resolv.conf over UDP (falling
// back to TCP for truncated answers), with its search domains.
type ResolverConfig struct {
	// Addr is the DNS server, "host:port" or a bare host (port 53). Empty
	// means the first nameserver of ResolvConf, read when the strategy is
	// created.
	Addr string
	// Net is "udp" (the default: UDP, retried over TCP when the answer is
	// truncated) or "tcp" (TCP only).
	Net string
	// Timeout bounds each query; zero means DefaultDNSTimeout. The context
	// passed to Discover bounds the whole lookup as well.
	Timeout time.Duration
	// Search lists the domains tried after a name without a trailing dot
	// found nothing as given, as the system resolver does. Nil means the
	// search domains of ResolvConf when Addr is empty too, none otherwise.
	Search []string
	// ResolvConf is the resolv.conf file read when Addr is empty; empty
	// means DefaultResolvConf.
	ResolvConf string
}

// Validate reports a configuration error, wrapping ErrInvalidConfig.
func (c ResolverConfig) Validate() error {
	switch c.Net {
	case "", "udp", "tcp":
	default:
		return fmt.Errorf("%w: resolver net %q is neither udp nor tcp", ErrInvalidConfig, c.Net)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: negative resolver timeout %v", ErrInvalidConfig, c.Timeout)
	}
	if c.Addr != "" {
		host, port, err := net.SplitHostPort(c.Addr)
		switch {
		case err != nil && net.ParseIP(c.Addr) == nil && strings.Contains(c.Addr, ":"):
			return fmt.Errorf("%w: resolver address %q is neither host:port nor a host", ErrInvalidConfig, c.Addr)
		case err == nil && host == "":
			return fmt.Errorf("%w: resolver address %q has no host", ErrInvalidConfig, c.Addr)
		case err == nil:
			if _, perr := parsePort(port); perr != nil {
				return fmt.Errorf("%w: resolver address %q: %s", ErrInvalidConfig, c.Addr, perr)
			}
		}
	}
	return nil
}

// dnsUDPSize is the UDP payload size advertised with EDNS0.
const dnsUDPSize = 4096

// resolver is a validated ResolverConfig with its defaults filled in.
type resolver struct {
	addr    string
	tcpOnly bool
	timeout time.Duration
	search  []string
}

func newResolver(c ResolverConfig) (*resolver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &resolver{addr: c.Addr, tcpOnly: c.Net == "tcp", timeout: c.Timeout, search: c.Search}
	if r.timeout == 0 {
		r.timeout = DefaultDNSTimeout
	}
	if r.addr == "" {
		file := c.ResolvConf
		if file == "" {
			file = DefaultResolvConf
		}
		cc, err := dns.ClientConfigFromFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: no resolver address and cannot read %s: %v", ErrInvalidConfig, file, err)
		}
		if len(cc.Servers) == 0 {
			return nil, fmt.Errorf("%w: no nameserver in %s", ErrInvalidConfig, file)
		}
		r.addr = net.JoinHostPort(cc.Servers[0], cc.Port)
		if r.search == nil {
			r.search = cc.Search
		}
	} else if _, _, err := net.SplitHostPort(r.addr); err != nil {
		r.addr = net.JoinHostPort(r.addr, "53")
	}
	return r, nil
}

// names returns the fully qualified names to try for name, in order.
func (r *resolver) names(name string) []string {
	if dns.IsFqdn(name) {
		return []string{name}
	}
	out := []string{dns.Fqdn(name)}
	for _, s := range r.search {
		s = strings.Trim(s, ".")
		if s != "" {
			out = append(out, dns.Fqdn(name+"."+s))
		}
	}
	return out
}

// query asks for one name and type. It returns the answer's records, or a
// *DNSError for an error code or a transport failure. An answer with
// NOERROR and no records of the type is not an error.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	m.SetEdns0(dnsUDPSize, false) // room for a few hundred addresses before falling back to TCP
	netw := "udp"
	if r.tcpOnly {
		netw = "tcp"
	}
	for {
		c := &dns.Client{Net: netw, Timeout: r.timeout}
		resp, _, err := c.ExchangeContext(ctx, m, r.addr)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			}
			return nil, &DNSError{Name: name, Qtype: qtype, Server: r.addr, Rcode: -1, Err: err}
		}
		if resp.Truncated && netw == "udp" {
			netw = "tcp"
			continue
		}
		if resp.Rcode != dns.RcodeSuccess {
			return nil, &DNSError{Name: name, Qtype: qtype, Server: r.addr, Rcode: resp.Rcode}
		}
		return resp.Answer, nil
	}
}

// lookup tries each candidate name of name in turn and returns the records
// of type qtype for the first one that has some. When none has any, it
// returns no records and no error if some name answered NOERROR, else the
// first error met.
func (r *resolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	var firstErr error
	answered := false
	for _, n := range r.names(name) {
		answer, err := r.query(ctx, n, qtype)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil {
				return nil, firstErr
			}
			continue
		}
		answered = true
		var recs []dns.RR
		for _, rr := range answer {
			if rr.Header().Rrtype == qtype {
				recs = append(recs, rr)
			}
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
	if answered {
		return nil, nil
	}
	return nil, firstErr
}

// Family selects the address records the DNS strategy asks for.
type Family int

const (
	// FamilyAny asks for A and AAAA records (the default).
	FamilyAny Family = iota
	// FamilyIPv4 asks for A records only.
	FamilyIPv4
	// FamilyIPv6 asks for AAAA records only.
	FamilyIPv6
)

// DNSConfig configures a DNS strategy: the A/AAAA records of one name,
// typically a Kubernetes headless service or a Compose service, each address
// becoming a peer at Port.
type DNSConfig struct {
	// Name is the DNS name to resolve, such as
	// "grove.default.svc.cluster.local" or "grove" (then the resolver's
	// search domains apply). Required.
	Name string
	// Port is the distribution port of every peer. Required.
	Port int
	// NodeBasename, when set, names each peer NodeBasename@IP (libcluster's
	// node_basename); when empty, peers have no name.
	NodeBasename string
	// Family selects A, AAAA or both (the default).
	Family Family
	// Resolver says which DNS server to ask.
	Resolver ResolverConfig
}

// Validate reports a configuration error, wrapping ErrInvalidConfig.
func (c DNSConfig) Validate() error {
	if err := validateDNSName(c.Name); err != nil {
		return fmt.Errorf("%w: dns: %s", ErrInvalidConfig, err)
	}
	if c.Port == 0 {
		return fmt.Errorf("%w: dns: no port given (write dns:NAME:PORT or set a default port)", ErrInvalidConfig)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%w: dns: port %d is not in 1..65535", ErrInvalidConfig, c.Port)
	}
	if err := validateBasename(c.NodeBasename); err != nil {
		return fmt.Errorf("%w: dns: %s", ErrInvalidConfig, err)
	}
	if c.Family < FamilyAny || c.Family > FamilyIPv6 {
		return fmt.Errorf("%w: dns: unknown family %d", ErrInvalidConfig, c.Family)
	}
	return c.Resolver.Validate()
}

// DNS discovers peers from the A and AAAA records of a name.
type DNS struct {
	cfg DNSConfig
	res *resolver
}

var _ Strategy = (*DNS)(nil)

// NewDNS returns a DNS strategy. It reads /etc/resolv.conf (or
// cfg.Resolver.ResolvConf) now when cfg.Resolver.Addr is empty.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res, err := newResolver(cfg.Resolver)
	if err != nil {
		return nil, err
	}
	return &DNS{cfg: cfg, res: res}, nil
}

// Discover resolves the name and returns one peer per address. An error code
// or timeout for one record type is returned with the peers of the other;
// a name without records returns no peers and no error.
func (d *DNS) Discover(ctx context.Context) ([]Peer, error) {
	var types []uint16
	switch d.cfg.Family {
	case FamilyIPv4:
		types = []uint16{dns.TypeA}
	case FamilyIPv6:
		types = []uint16{dns.TypeAAAA}
	default:
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	}
	var peers []Peer
	var errs []error
	port := strconv.Itoa(d.cfg.Port)
	for _, t := range types {
		recs, err := d.res.lookup(ctx, d.cfg.Name, t)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		for _, rr := range recs {
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			}
			if ip == nil {
				continue
			}
			host := ip.String()
			peers = append(peers, Peer{Name: nodeName(d.cfg.NodeBasename, host), Addr: net.JoinHostPort(host, port)})
		}
	}
	return sortPeers(peers), errors.Join(errs...)
}

// String returns the strategy in the dns: spec syntax.
func (d *DNS) String() string { return Spec{Kind: KindDNS, DNS: d.cfg}.String() }

// DNSSRVConfig configures a DNSSRV strategy: the SRV records of one name,
// each record's target host and port becoming a peer.
type DNSSRVConfig struct {
	// Name is the SRV name, such as "_grove._tcp.grove.default.svc.cluster.local".
	// Required.
	Name string
	// NodeBasename, when set, names each peer NodeBasename@TARGET, the
	// target host without its trailing dot; when empty, peers have no name.
	NodeBasename string
	// Resolver says which DNS server to ask.
	Resolver ResolverConfig
}

// Validate reports a configuration error, wrapping ErrInvalidConfig.
func (c DNSSRVConfig) Validate() error {
	if err := validateDNSName(c.Name); err != nil {
		return fmt.Errorf("%w: dnssrv: %s", ErrInvalidConfig, err)
	}
	if err := validateBasename(c.NodeBasename); err != nil {
		return fmt.Errorf("%w: dnssrv: %s", ErrInvalidConfig, err)
	}
	return c.Resolver.Validate()
}

// DNSSRV discovers peers from the SRV records of a name.
type DNSSRV struct {
	cfg DNSSRVConfig
	res *resolver
}

var _ Strategy = (*DNSSRV)(nil)

// NewDNSSRV returns a DNSSRV strategy. It reads /etc/resolv.conf (or
// cfg.Resolver.ResolvConf) now when cfg.Resolver.Addr is empty.
func NewDNSSRV(cfg DNSSRVConfig) (*DNSSRV, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res, err := newResolver(cfg.Resolver)
	if err != nil {
		return nil, err
	}
	return &DNSSRV{cfg: cfg, res: res}, nil
}

// Discover resolves the SRV records and returns one peer per target and
// port. Records with port 0 or the root target "." are skipped.
func (d *DNSSRV) Discover(ctx context.Context) ([]Peer, error) {
	recs, err := d.res.lookup(ctx, d.cfg.Name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	var peers []Peer
	for _, rr := range recs {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Port == 0 {
			continue
		}
		host := strings.TrimSuffix(srv.Target, ".")
		if host == "" {
			continue
		}
		peers = append(peers, Peer{
			Name: nodeName(d.cfg.NodeBasename, host),
			Addr: net.JoinHostPort(host, strconv.Itoa(int(srv.Port))),
		})
	}
	return sortPeers(peers), nil
}

// String returns the strategy in the dnssrv: spec syntax.
func (d *DNSSRV) String() string { return Spec{Kind: KindDNSSRV, DNSSRV: d.cfg}.String() }

// validateDNSName accepts names of letters, digits, '-', '_' and '.', with
// labels of 1..63 bytes and at most 253 bytes in all (a trailing dot
// allowed).
func validateDNSName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return fmt.Errorf("empty DNS name")
	}
	if len(n) > 253 {
		return fmt.Errorf("DNS name %.20q... is longer than 253 bytes", name)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" {
			return fmt.Errorf("DNS name %q has an empty label", name)
		}
		if len(label) > 63 {
			return fmt.Errorf("DNS name %q has a label longer than 63 bytes", name)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("DNS name %q has the character %q", name, c)
			}
		}
	}
	return nil
}

// validateBasename accepts an empty basename or one of letters, digits, '-',
// '_' and '.'.
func validateBasename(b string) error {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("node basename %q has the character %q", b, c)
		}
	}
	return nil
}
