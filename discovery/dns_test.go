package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/miekg/dns"
)

// dnsServer is a real DNS server on 127.0.0.1, over UDP and TCP on the same
// port, whose records and failure mode the test changes between queries.
type dnsServer struct {
	addr string

	udpQueries, tcpQueries atomic.Int64

	mu struct {
		sync.Mutex
		a, aaaa     map[string][]string // FQDN -> addresses
		srv         map[string][]dns.SRV
		rcode       int  // when non-zero, every answer carries this code
		drop        bool // when set, nothing is answered
		truncateUDP bool // when set, UDP answers are empty and truncated
	}
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	s.mu.a = map[string][]string{}
	s.mu.aaaa = map[string][]string{}
	s.mu.srv = map[string][]dns.SRV{}

	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	s.addr = pc.LocalAddr().String()

	var wg sync.WaitGroup
	servers := []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)},
		{Listener: ln, Handler: dns.HandlerFunc(s.serve)},
	}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.ActivateAndServe()
		}()
		<-started
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			srv.Shutdown()
		}
		wg.Wait()
	})
	return s
}

func (s *dnsServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	udp := w.LocalAddr().Network() == "udp"
	if udp {
		s.udpQueries.Add(1)
	} else {
		s.tcpQueries.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.drop {
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true
	if s.mu.rcode != 0 {
		m.Rcode = s.mu.rcode
		w.WriteMsg(m)
		return
	}
	if udp && s.mu.truncateUDP {
		m.Truncated = true
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 5}
	_, hasA := s.mu.a[name]
	_, hasAAAA := s.mu.aaaa[name]
	_, hasSRV := s.mu.srv[name]
	if !hasA && !hasAAAA && !hasSRV {
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return
	}
	switch q.Qtype {
	case dns.TypeA:
		for _, ip := range s.mu.a[name] {
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.ParseIP(ip)})
		}
	case dns.TypeAAAA:
		for _, ip := range s.mu.aaaa[name] {
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(ip)})
		}
	case dns.TypeSRV:
		for _, rec := range s.mu.srv[name] {
			rec.Hdr = hdr
			rec.Hdr.Rrtype = dns.TypeSRV
			m.Answer = append(m.Answer, &rec)
		}
	}
	if udp { // as real servers do: fit the client's buffer, else set TC
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func (s *dnsServer) setA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ips == nil {
		ips = []string{} // the name exists, with no records: NOERROR, empty
	}
	s.mu.a[dns.Fqdn(name)] = ips
}

func (s *dnsServer) setAAAA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.aaaa[dns.Fqdn(name)] = ips
}

func (s *dnsServer) setSRV(name string, recs ...dns.SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.srv[dns.Fqdn(name)] = recs
}

func (s *dnsServer) fail(rcode int, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.rcode, s.mu.drop = rcode, drop
}

func (s *dnsServer) truncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.truncateUDP = on
}

func (s *dnsServer) resolver() ResolverConfig {
	return ResolverConfig{Addr: s.addr, Timeout: 200 * time.Millisecond}
}

func TestDNSARecords(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.test", "10.0.0.2", "10.0.0.1")
	srv.setAAAA("grove.test", "fd00::1")
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, NodeBasename: "grove", Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{
		{Name: "grove@10.0.0.1", Addr: "10.0.0.1:4370"},
		{Name: "grove@10.0.0.2", Addr: "10.0.0.2:4370"},
		{Name: "grove@fd00::1", Addr: "[fd00::1]:4370"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if srv.udpQueries.Load() == 0 || srv.tcpQueries.Load() != 0 {
		t.Fatalf("udp %d tcp %d queries; want UDP only", srv.udpQueries.Load(), srv.tcpQueries.Load())
	}
}

func TestDNSFamilyAndNoBasename(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.test", "10.0.0.1")
	srv.setAAAA("grove.test", "fd00::1")
	for _, tc := range []struct {
		fam  Family
		want []Peer
	}{
		{FamilyIPv4, []Peer{{Addr: "10.0.0.1:7"}}},
		{FamilyIPv6, []Peer{{Addr: "[fd00::1]:7"}}},
	} {
		d, err := NewDNS(DNSConfig{Name: "grove.test.", Port: 7, Family: tc.fam, Resolver: srv.resolver()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Discover(ctxT(t))
		if err != nil || !slices.Equal(got, tc.want) {
			t.Fatalf("family %d: got %v, %v; want %v", tc.fam, got, err, tc.want)
		}
	}
}

func TestDNSOverTCP(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.test", "10.0.0.1")
	r := srv.resolver()
	r.Net = "tcp"
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, Family: FamilyIPv4, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil || !slices.Equal(addrs(got), []string{"10.0.0.1:4370"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if srv.udpQueries.Load() != 0 || srv.tcpQueries.Load() == 0 {
		t.Fatalf("udp %d tcp %d queries; want TCP only", srv.udpQueries.Load(), srv.tcpQueries.Load())
	}
}

func TestDNSTruncatedAnswerRetriedOverTCP(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.test", "10.0.0.1", "10.0.0.2")
	srv.truncate(true)
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, Family: FamilyIPv4, Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v, %v; want 2 peers", got, err)
	}
	if srv.udpQueries.Load() == 0 || srv.tcpQueries.Load() == 0 {
		t.Fatalf("udp %d tcp %d queries; want both", srv.udpQueries.Load(), srv.tcpQueries.Load())
	}
}

func TestDNSSearchDomains(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.ns.svc.test", "10.0.0.9")
	r := srv.resolver()
	r.Search = []string{"other.test", "ns.svc.test."}
	d, err := NewDNS(DNSConfig{Name: "grove", Port: 1, Family: FamilyIPv4, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil || !slices.Equal(addrs(got), []string{"10.0.0.9:1"}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestDNSSRVRecords(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setSRV("_grove._tcp.grove.test",
		dns.SRV{Target: "grove-1.grove.test.", Port: 4371},
		dns.SRV{Target: "grove-0.grove.test.", Port: 4370},
		dns.SRV{Target: ".", Port: 4370},                // "no service": skipped
		dns.SRV{Target: "grove-2.grove.test.", Port: 0}, // no port: skipped
	)
	d, err := NewDNSSRV(DNSSRVConfig{Name: "_grove._tcp.grove.test", NodeBasename: "g", Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{
		{Name: "g@grove-0.grove.test", Addr: "grove-0.grove.test:4370"},
		{Name: "g@grove-1.grove.test", Addr: "grove-1.grove.test:4371"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDNSErrors(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setSRV("_grove._tcp.grove.test", dns.SRV{Target: "a.test.", Port: 1})
	srv.setA("grove.test", "10.0.0.1")
	a, err := NewDNS(DNSConfig{Name: "grove.test", Port: 1, Family: FamilyIPv4, Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewDNSSRV(DNSSRVConfig{Name: "_grove._tcp.grove.test", Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	missing, err := NewDNS(DNSConfig{Name: "missing.test", Port: 1, Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		rcode int
		drop  bool
		want  int // Rcode of the DNSError
	}{
		{"servfail", dns.RcodeServerFailure, false, dns.RcodeServerFailure},
		{"refused", dns.RcodeRefused, false, dns.RcodeRefused},
		{"timeout", 0, true, -1},
	} {
		srv.fail(tc.rcode, tc.drop)
		for _, st := range []Strategy{a, s} {
			peers, err := st.Discover(ctxT(t))
			var de *DNSError
			if len(peers) != 0 || !errors.Is(err, ErrDNS) || !errors.As(err, &de) || de.Rcode != tc.want {
				t.Fatalf("%s %T: got %v, %v; want no peers and a DNSError with rcode %d", tc.name, st, peers, err, tc.want)
			}
			if tc.drop && de.Err == nil {
				t.Fatalf("timeout: DNSError without the transport error")
			}
		}
	}
	srv.fail(0, false)
	peers, err := missing.Discover(ctxT(t))
	var de *DNSError
	if len(peers) != 0 || !errors.As(err, &de) || de.Rcode != dns.RcodeNameError {
		t.Fatalf("NXDOMAIN: got %v, %v", peers, err)
	}
	if !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Fatalf("error %q does not name NXDOMAIN", err)
	}
}

func TestDNSContextCancelled(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.fail(0, true)
	r := srv.resolver()
	r.Timeout = time.Minute
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 1, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = d.Discover(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want context.DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Discover ignored its context")
	}
}

// TestPollerDNSNeverDropsPeers changes the records between polls and makes
// the server fail in every way; the poller only ever adds.
func TestPollerDNSNeverDropsPeers(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.test", "10.0.0.1", "10.0.0.2")
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, Family: FamilyIPv4, NodeBasename: "grove", Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	p, rec := newTestPoller(t, d, PollerConfig{Timeout: time.Second})
	ctx := ctxT(t)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := addrs(p.Peers()); !slices.Equal(got, []string{"10.0.0.1:4370", "10.0.0.2:4370"}) {
		t.Fatalf("peers %v", got)
	}

	srv.setA("grove.test", "10.0.0.2", "10.0.0.3") // .1 is gone from DNS: kept anyway
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	u := rec.last()
	if !slices.Equal(addrs(u.Added), []string{"10.0.0.3:4370"}) {
		t.Fatalf("added %v; want only the new address", u.Added)
	}
	want := []string{"10.0.0.1:4370", "10.0.0.2:4370", "10.0.0.3:4370"}
	if !slices.Equal(addrs(u.Peers), want) {
		t.Fatalf("update peers %v; want %v", u.Peers, want)
	}
	nUpdates := len(rec.all())

	for _, tc := range []struct {
		name  string
		rcode int
		drop  bool
	}{
		{"SERVFAIL", dns.RcodeServerFailure, false},
		{"NXDOMAIN", dns.RcodeNameError, false},
		{"timeout", 0, true},
	} {
		srv.fail(tc.rcode, tc.drop)
		before := p.Stats().Errors
		if err := p.Refresh(ctx); !errors.Is(err, ErrDNS) {
			t.Fatalf("%s: Refresh returned %v; want ErrDNS", tc.name, err)
		}
		if got := addrs(p.Peers()); !slices.Equal(got, want) {
			t.Fatalf("%s: peers %v; want %v kept", tc.name, got, want)
		}
		if p.Stats().Errors != before+1 {
			t.Fatalf("%s: error not counted: %+v", tc.name, p.Stats())
		}
	}
	srv.fail(0, false)
	srv.setA("grove.test") // the name exists without records
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := addrs(p.Peers()); !slices.Equal(got, want) {
		t.Fatalf("empty answer: peers %v; want %v kept", got, want)
	}
	if st := p.Stats(); st.EmptyAnswers != 1 {
		t.Fatalf("empty answer not counted: %+v", st)
	}
	if n := len(rec.all()); n != nUpdates {
		t.Fatalf("%d updates after failures and an empty answer; want none", n-nUpdates)
	}
}

// TestPollerDNSInterval drives the poller's interval with a manual clock.
func TestPollerDNSInterval(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	srv.setA("grove.test", "10.0.0.1")
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, Family: FamilyIPv4, Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Unix(0, 0))
	const interval = 5 * time.Second
	p, rec := newTestPoller(t, d, PollerConfig{Interval: interval, Clock: clk, Timeout: time.Second})
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(rec.all()); n != 1 {
			return fmt.Errorf("%d updates; want the first poll's", n)
		}
		return nil
	})
	srv.setA("grove.test", "10.0.0.2")
	testutil.Eventually(t, 5*time.Second, func() error {
		clk.Advance(interval)
		if got := addrs(p.Peers()); !slices.Equal(got, []string{"10.0.0.1:4370", "10.0.0.2:4370"}) {
			return fmt.Errorf("peers %v", got)
		}
		return nil
	})
	if got := addrs(rec.last().Added); !slices.Equal(got, []string{"10.0.0.2:4370"}) {
		t.Fatalf("last update added %v", got)
	}
}

func TestResolverDefaultsFromResolvConf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := dir + "/resolv.conf"
	if err := writeFile(file, "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"); err != nil {
		t.Fatal(err)
	}
	r, err := newResolver(ResolverConfig{ResolvConf: file})
	if err != nil {
		t.Fatal(err)
	}
	if r.addr != "10.96.0.10:53" || !slices.Equal(r.search, []string{"ns.svc.cluster.local", "svc.cluster.local"}) || r.timeout != DefaultDNSTimeout {
		t.Fatalf("resolver %+v", r)
	}
	if got := r.names("grove"); !slices.Equal(got, []string{"grove.", "grove.ns.svc.cluster.local.", "grove.svc.cluster.local."}) {
		t.Fatalf("names %v", got)
	}
	if got := r.names("grove.test."); !slices.Equal(got, []string{"grove.test."}) {
		t.Fatalf("names of an FQDN %v", got)
	}
	r6, err := newResolver(ResolverConfig{Addr: "fd00::53"})
	if err != nil || r6.addr != "[fd00::53]:53" {
		t.Fatalf("bare IPv6 resolver %+v, %v", r6, err)
	}
	r, err = newResolver(ResolverConfig{Addr: "10.0.0.53"})
	if err != nil || r.addr != "10.0.0.53:53" || r.search != nil {
		t.Fatalf("bare host resolver %+v, %v", r, err)
	}
	if _, err := newResolver(ResolverConfig{ResolvConf: dir + "/missing"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("missing resolv.conf: %v", err)
	}
}

func TestDNSConfigValidate(t *testing.T) {
	t.Parallel()
	good := DNSConfig{Name: "grove.test", Port: 4370}
	for name, mod := range map[string]func(*DNSConfig){
		"no name":      func(c *DNSConfig) { c.Name = "" },
		"bad name":     func(c *DNSConfig) { c.Name = "gr ove" },
		"empty label":  func(c *DNSConfig) { c.Name = "a..b" },
		"no port":      func(c *DNSConfig) { c.Port = 0 },
		"big port":     func(c *DNSConfig) { c.Port = 70000 },
		"bad basename": func(c *DNSConfig) { c.NodeBasename = "a@b" },
		"bad family":   func(c *DNSConfig) { c.Family = 9 },
		"bad net":      func(c *DNSConfig) { c.Resolver.Net = "sctp" },
		"neg timeout":  func(c *DNSConfig) { c.Resolver.Timeout = -1 },
		"bad resolver": func(c *DNSConfig) { c.Resolver.Addr = "10.0.0.1:dns" },
		"no host":      func(c *DNSConfig) { c.Resolver.Addr = ":53" },
		"bad ipv6":     func(c *DNSConfig) { c.Resolver.Addr = "fd00::1::2" },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v; want ErrInvalidConfig", name, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (DNSSRVConfig{}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty DNSSRVConfig: %v", err)
	}
}

func TestPollerDNSSRVChanges(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	const name = "_grove._tcp.grove.test"
	srv.setSRV(name, dns.SRV{Target: "grove-0.grove.test.", Port: 4370})
	d, err := NewDNSSRV(DNSSRVConfig{Name: name, NodeBasename: "grove", Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	p, rec := newTestPoller(t, d, PollerConfig{Timeout: time.Second})
	ctx := ctxT(t)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// grove-0 moves to another port, grove-1 appears.
	srv.setSRV(name, dns.SRV{Target: "grove-0.grove.test.", Port: 4371}, dns.SRV{Target: "grove-1.grove.test.", Port: 4370})
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	u := rec.last()
	if !slices.Equal(addrs(u.Added), []string{"grove-1.grove.test:4370"}) || !slices.Equal(addrs(u.Refreshed), []string{"grove-0.grove.test:4371"}) {
		t.Fatalf("update %+v; want grove-1 added and grove-0 refreshed", u)
	}
	srv.fail(dns.RcodeServerFailure, false)
	if err := p.Refresh(ctx); !errors.Is(err, ErrDNS) {
		t.Fatalf("SERVFAIL: %v", err)
	}
	srv.fail(0, false)
	srv.setSRV("other.test", dns.SRV{Target: "x.", Port: 1}) // keep the server's zone alive
	srv.setSRV(name)                                         // no SRV records left
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want := []Peer{{Name: "grove@grove-0.grove.test", Addr: "grove-0.grove.test:4371"}, {Name: "grove@grove-1.grove.test", Addr: "grove-1.grove.test:4370"}}
	if got := p.Peers(); !slices.Equal(got, want) {
		t.Fatalf("peers %v; want %v kept", got, want)
	}
}

func TestDNSManyRecordsOverUDP(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	var ips []string
	for i := range 200 { // 3.2 kB: more than 512 bytes, less than the EDNS0 size
		ips = append(ips, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	srv.setA("grove.test", ips...)
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, Family: FamilyIPv4, Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil || len(got) != 200 {
		t.Fatalf("got %d peers, %v; want 200", len(got), err)
	}
	if srv.tcpQueries.Load() != 0 {
		t.Fatalf("%d TCP queries; want the EDNS0 UDP answer to suffice", srv.tcpQueries.Load())
	}
}

func TestDNSTooManyRecordsForUDP(t *testing.T) {
	t.Parallel()
	srv := startDNS(t)
	var ips []string
	for i := range 1000 { // 16 kB: truncated over UDP, complete over TCP
		ips = append(ips, fmt.Sprintf("10.%d.%d.1", i/250, i%250))
	}
	srv.setA("grove.test", ips...)
	d, err := NewDNS(DNSConfig{Name: "grove.test", Port: 4370, Family: FamilyIPv4, Resolver: srv.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(ctxT(t))
	if err != nil || len(got) != 1000 {
		t.Fatalf("got %d peers, %v; want 1000", len(got), err)
	}
	if srv.tcpQueries.Load() != 1 {
		t.Fatalf("%d TCP queries; want the truncated answer retried over TCP once", srv.tcpQueries.Load())
	}
}
