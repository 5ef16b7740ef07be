package handshake_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/grovedev/grove/node/certs"
	"github.com/grovedev/grove/node/internal/handshake"
	"github.com/grovedev/grove/transport"
	"github.com/grovedev/grove/transport/memnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type network struct {
	name string
	pair func(t *testing.T) (client, server net.Conn)
}

var networks = []network{
	{"tcp", func(t *testing.T) (net.Conn, net.Conn) {
		tr := transport.NewTCP(transport.TCPConfig{})
		t.Cleanup(func() { tr.Close() })
		return connect(t, tr, tr, "127.0.0.1:0")
	}},
	{"memnet", func(t *testing.T) (net.Conn, net.Conn) {
		nw := memnet.New(memnet.Config{})
		a, b := nw.Endpoint("a"), nw.Endpoint("b")
		t.Cleanup(func() { a.Close(); b.Close() })
		return connect(t, a, b, "b:1")
	}},
}

func connect(t *testing.T, dialer, listener transport.Transport, addr string) (net.Conn, net.Conn) {
	t.Helper()
	ctx := context.Background()
	ln, err := listener.Listen(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := dialer.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

type result struct {
	peer *handshake.Peer
	err  error
}

// shake runs both sides and returns their results.
func shake(t *testing.T, nw network, ccfg, scfg *handshake.Config, expect string) (client, server result) {
	t.Helper()
	c, s := nw.pair(t)
	ctx := context.Background()
	done := make(chan result, 1)
	go func() {
		p, err := handshake.Server(ctx, s, scfg)
		if err != nil {
			s.Close() // as a real caller would
		}
		done <- result{p, err}
	}()
	p, err := handshake.Client(ctx, c, ccfg, expect)
	if err != nil {
		c.Close()
	}
	client = result{p, err}
	server = <-done
	return client, server
}

func secretCfg(name string, secret string) *handshake.Config {
	return &handshake.Config{Name: name, Creation: 7, Secret: []byte(secret), Timeout: 2 * time.Second}
}

type pki struct {
	ca, other *certs.CA
}

func newPKI(t *testing.T) pki {
	t.Helper()
	ca, err := certs.NewCA("grove test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	return pki{ca, other}
}

func tlsCfg(t *testing.T, name string, certFor string, issuer, trust *certs.CA) *handshake.Config {
	t.Helper()
	cert, err := issuer.Issue(certFor)
	if err != nil {
		t.Fatal(err)
	}
	return &handshake.Config{Name: name, Creation: 9, Timeout: 2 * time.Second,
		TLS: &handshake.TLSConfig{Certificate: cert, Roots: trust.Pool()}}
}

func wantOK(t *testing.T, c, s result) {
	t.Helper()
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake failed: client %v, server %v", c.err, s.err)
	}
}

func wantRefusal(t *testing.T, refused, refuser result, reason error) {
	t.Helper()
	if !errors.Is(refuser.err, reason) {
		t.Fatalf("refusing side: got %v, want %v", refuser.err, reason)
	}
	var re *handshake.RefusedError
	if !errors.As(refuser.err, &re) {
		t.Fatalf("refusing side: %T is not a *RefusedError", refuser.err)
	}
	if !errors.Is(refused.err, handshake.ErrRefused) {
		t.Fatalf("refused side: got %v, want ErrRefused", refused.err)
	}
	if errors.Is(refused.err, reason) {
		t.Fatalf("refused side learned the reason: %v", refused.err)
	}
}

// wantServerRefusal is wantRefusal for a dialler that refuses the server:
// its close can meet the server's next write before the server reads the
// refusal, and the server then sees a hang-up (ErrHungUp), which it cannot
// tell from any other dialler going away.
func wantServerRefusal(t *testing.T, server, client result, reason error) {
	t.Helper()
	if errors.Is(server.err, handshake.ErrHungUp) && !errors.Is(server.err, reason) {
		server.err = fmt.Errorf("%w: %w", handshake.ErrRefused, server.err)
	}
	wantRefusal(t, server, client, reason)
}

func exchange(t *testing.T, a, b net.Conn) {
	t.Helper()
	go func() { a.Write([]byte("ping")) }()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("connection unusable after handshake: %q %v", buf, err)
	}
}

func TestSecretSuccess(t *testing.T) {
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			cc, sc := secretCfg("a@h1", "cookie"), secretCfg("b@h2", "cookie")
			sc.Creation = 8
			cc.Features, sc.Features = 0b011, 0b110
			c, s := shake(t, nw, cc, sc, "b@h2")
			wantOK(t, c, s)
			if c.peer.Features != 0b110 || s.peer.Features != 0b011 {
				t.Fatalf("features: client saw %b, server saw %b", c.peer.Features, s.peer.Features)
			}
			if c.peer.Name != "b@h2" || c.peer.Creation != 8 || s.peer.Name != "a@h1" || s.peer.Creation != 7 {
				t.Fatalf("identities: client saw %+v, server saw %+v", c.peer, s.peer)
			}
			if c.peer.Version != handshake.ProtocolVersion || c.peer.Certificate != nil {
				t.Fatalf("client peer: %+v", c.peer)
			}
			exchange(t, c.peer.Conn, s.peer.Conn)
		})
	}
}

func TestTLSSuccess(t *testing.T) {
	p := newPKI(t)
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			cc := tlsCfg(t, "a@h1", "a@h1", p.ca, p.ca)
			sc := tlsCfg(t, "b@h2", "b@h2", p.ca, p.ca)
			c, s := shake(t, nw, cc, sc, "")
			wantOK(t, c, s)
			if _, ok := c.peer.Conn.(*tls.Conn); !ok {
				t.Fatalf("client conn is %T, want *tls.Conn", c.peer.Conn)
			}
			if c.peer.Certificate == nil || s.peer.Certificate == nil {
				t.Fatal("peer certificates missing")
			}
			if got, err := handshake.CertName(s.peer.Certificate); err != nil || got != "a@h1" {
				t.Fatalf("cert names: %v", got)
			}
			exchange(t, s.peer.Conn, c.peer.Conn)
		})
	}
}

func TestTLSWithSecret(t *testing.T) {
	p := newPKI(t)
	nw := networks[1]
	cc := tlsCfg(t, "a", "a", p.ca, p.ca)
	sc := tlsCfg(t, "b", "b", p.ca, p.ca)
	cc.Secret, sc.Secret = []byte("s1"), []byte("s1")
	c, s := shake(t, nw, cc, sc, "b")
	wantOK(t, c, s)
	sc.Secret = []byte("s2")
	c, s = shake(t, nw, cc, sc, "b")
	wantBadSecret(t, c, s)
}

// wantBadSecret checks a handshake between two different cookies: the
// dialer refuses the dialled side's proof, which proves first, and both
// sides count a bad secret; neither authenticated the other.
func wantBadSecret(t *testing.T, c, s result) {
	t.Helper()
	for _, r := range []result{c, s} {
		var re *handshake.RefusedError
		if !errors.Is(r.err, handshake.ErrBadSecret) || !errors.As(r.err, &re) {
			t.Fatalf("client %v, server %v: want both to report a bad secret", c.err, s.err)
		}
	}
}

func TestRefusals(t *testing.T) {
	p := newPKI(t)
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			t.Run("wrong secret", func(t *testing.T) {
				c, s := shake(t, nw, secretCfg("a", "right"), secretCfg("b", "wrong"), "")
				wantBadSecret(t, c, s)
			})
			t.Run("missing secret proof", func(t *testing.T) {
				cc := tlsCfg(t, "a", "a", p.ca, p.ca)
				sc := tlsCfg(t, "b", "b", p.ca, p.ca)
				sc.Secret = []byte("required")
				c, s := shake(t, nw, cc, sc, "")
				wantRefusal(t, c, s, handshake.ErrBadSecret)
				if errors.Is(c.err, handshake.ErrPeerHasLink) {
					t.Fatalf("a bad secret told as an existing link: %v", c.err)
				}
			})
			t.Run("encryption not agreed", func(t *testing.T) {
				cc := secretCfg("a", "k")
				cc.Unencrypted = true
				c, s := shake(t, nw, cc, secretCfg("b", "k"), "")
				wantRefusal(t, c, s, handshake.ErrProtocol)
			})
			t.Run("version mismatch", func(t *testing.T) {
				cc := secretCfg("a", "k")
				cc.Version = handshake.ProtocolVersion + 1
				c, s := shake(t, nw, cc, secretCfg("b", "k"), "")
				wantRefusal(t, c, s, handshake.ErrVersionMismatch)
			})
			t.Run("server on another version", func(t *testing.T) {
				sc := secretCfg("b", "k")
				sc.Version = handshake.ProtocolVersion + 1
				c, s := shake(t, nw, secretCfg("a", "k"), sc, "")
				wantRefusal(t, c, s, handshake.ErrVersionMismatch)
			})
			t.Run("duplicate name", func(t *testing.T) {
				sc := secretCfg("b", "k")
				var asked string
				sc.IsDuplicate = func(name string, creation uint64) bool { asked = name; return true }
				c, s := shake(t, nw, secretCfg("a", "k"), sc, "")
				wantRefusal(t, c, s, handshake.ErrDuplicateName)
				if !errors.Is(c.err, handshake.ErrPeerHasLink) {
					t.Fatalf("authenticated client refused as a duplicate: %v, want ErrPeerHasLink", c.err)
				}
				if asked != "a" {
					t.Fatalf("IsDuplicate asked about %q", asked)
				}
			})
			t.Run("duplicate check after authentication", func(t *testing.T) {
				sc := secretCfg("b", "k")
				sc.IsDuplicate = func(string, uint64) bool { t.Error("IsDuplicate called for an unauthenticated peer"); return true }
				c, s := shake(t, nw, secretCfg("a", "bad"), sc, "")
				wantBadSecret(t, c, s)
			})
			t.Run("unexpected peer name", func(t *testing.T) {
				c, s := shake(t, nw, secretCfg("a", "k"), secretCfg("b", "k"), "c")
				wantServerRefusal(t, s, c, handshake.ErrNameMismatch)
			})
			t.Run("untrusted client cert", func(t *testing.T) {
				cc := tlsCfg(t, "a", "a", p.other, p.ca)
				sc := tlsCfg(t, "b", "b", p.ca, p.ca)
				c, s := shake(t, nw, cc, sc, "")
				wantRefusal(t, c, s, handshake.ErrUntrustedCert)
			})
			t.Run("untrusted server cert", func(t *testing.T) {
				cc := tlsCfg(t, "a", "a", p.ca, p.ca)
				sc := tlsCfg(t, "b", "b", p.other, p.ca)
				c, s := shake(t, nw, cc, sc, "")
				if !errors.Is(c.err, handshake.ErrUntrustedCert) {
					t.Fatalf("client: %v", c.err)
				}
				if s.err == nil || errors.Is(s.err, handshake.ErrUntrustedCert) {
					t.Fatalf("server: %v", s.err)
				}
			})
			t.Run("client name not in cert", func(t *testing.T) {
				cc := tlsCfg(t, "a", "mallory", p.ca, p.ca)
				sc := tlsCfg(t, "b", "b", p.ca, p.ca)
				c, s := shake(t, nw, cc, sc, "")
				wantRefusal(t, c, s, handshake.ErrNameMismatch)
			})
			t.Run("server name not in cert", func(t *testing.T) {
				cc := tlsCfg(t, "a", "a", p.ca, p.ca)
				sc := tlsCfg(t, "b", "mallory", p.ca, p.ca)
				c, s := shake(t, nw, cc, sc, "")
				wantServerRefusal(t, s, c, handshake.ErrNameMismatch)
			})
			t.Run("cert without node URI", func(t *testing.T) {
				cert, err := p.ca.IssueWith("a", certs.IssueOptions{NoNodeURI: true, DNSNames: []string{"a"}})
				if err != nil {
					t.Fatal(err)
				}
				cc := &handshake.Config{Name: "a", TLS: &handshake.TLSConfig{Certificate: cert, Roots: p.ca.Pool()}}
				c, s := shake(t, nw, cc, tlsCfg(t, "b", "b", p.ca, p.ca), "")
				wantRefusal(t, c, s, handshake.ErrNameMismatch)
			})
		})
	}
}

func TestSilentPeerTimesOut(t *testing.T) {
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			for _, side := range []string{"server", "client"} {
				c, s := nw.pair(t)
				cfg := secretCfg("a", "k")
				cfg.Timeout = 50 * time.Millisecond
				start := time.Now()
				var err error
				if side == "server" {
					_, err = handshake.Server(context.Background(), s, cfg)
				} else {
					_, err = handshake.Client(context.Background(), c, cfg, "")
				}
				if !errors.Is(err, handshake.ErrTimeout) {
					t.Fatalf("%s facing a silent peer: %v", side, err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("%s took %v to time out", side, d)
				}
			}
			// The context bounds it too.
			_, s := nw.pair(t)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			if _, err := handshake.Server(ctx, s, secretCfg("b", "k")); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled handshake: %v", err)
			}
		})
	}
}

func TestTLSSilentPeerTimesOut(t *testing.T) {
	p := newPKI(t)
	_, s := networks[0].pair(t)
	cfg := tlsCfg(t, "b", "b", p.ca, p.ca)
	cfg.Timeout = 50 * time.Millisecond
	if _, err := handshake.Server(context.Background(), s, cfg); !errors.Is(err, handshake.ErrTimeout) {
		t.Fatalf("TLS server facing a silent peer: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []*handshake.Config{
		{Name: "", Secret: []byte("k")},
		{Name: "a b", Secret: []byte("k")},
		{Name: string(bytes.Repeat([]byte("a"), 256)), Secret: []byte("k")},
		{Name: "a"},
		{Name: "a", TLS: &handshake.TLSConfig{}},
		{Name: "a", Secret: []byte("k"), Timeout: -1},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := secretCfg("api@10.0.0.5:4370", "k").Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGarbageIsRefused(t *testing.T) {
	inputs := [][]byte{
		{0, 0},
		{0xff, 0xff},
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0, 1, 9},
		{0, 2, 5, 1},
		{0, 4, 1, 'G', 'R', 'V'},
	}
	for _, in := range inputs {
		conn := &scriptConn{r: bytes.NewReader(in)}
		_, err := handshake.Server(context.Background(), conn, secretCfg("b", "k"))
		if err == nil {
			t.Fatalf("% x accepted", in)
		}
		if !errors.Is(err, handshake.ErrProtocol) && !errors.Is(err, handshake.ErrHungUp) && !errors.Is(err, handshake.ErrVersionMismatch) {
			t.Errorf("% x: %v", in, err)
		}
	}
}

// scriptConn is a net.Conn that reads a fixed script and discards writes.
type scriptConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)         { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error)        { return c.out.Write(b) }
func (c *scriptConn) Close() error                       { return nil }
func (c *scriptConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzHandshake feeds arbitrary peer input to both sides of the exchange.
func FuzzHandshake(f *testing.F) {
	// A real client's opening, and a real server's answer, as seeds.
	nw := memnet.New(memnet.Config{})
	a, b := nw.Endpoint("a"), nw.Endpoint("b")
	ln, _ := b.Listen(context.Background(), "b")
	cc, _ := a.Dial(context.Background(), "b")
	sc, _ := ln.Accept()
	go func() { handshake.Client(context.Background(), cc, secretCfg("a", "k"), "") }()
	buf := make([]byte, 512)
	sc.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := sc.Read(buf)
	f.Add(append([]byte(nil), buf[:n]...), false)
	cc.Close()
	sc.Close()
	a.Close()
	b.Close()
	f.Add([]byte{0, 1, 5}, true)
	f.Add([]byte{0, 33, 4}, true)

	f.Fuzz(func(t *testing.T, in []byte, asClient bool) {
		conn := &scriptConn{r: bytes.NewReader(in)}
		cfg := secretCfg("fuzz", "k")
		cfg.IsDuplicate = func(string, uint64) bool { return false }
		var p *handshake.Peer
		var err error
		if asClient {
			p, err = handshake.Client(context.Background(), conn, cfg, "")
		} else {
			p, err = handshake.Server(context.Background(), conn, cfg)
		}
		if err == nil {
			t.Fatalf("fuzz input authenticated as %+v", p)
		}
	})
}
