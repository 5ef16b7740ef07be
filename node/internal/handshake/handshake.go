package handshake

import (
	"context"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"syscall"
	"time"
)

// ProtocolVersion is the distribution protocol version this package
// speaks. Peers must speak the same version.
const ProtocolVersion uint16 = 2

// DefaultTimeout bounds a handshake when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config describes this node for handshakes. It is read-only once in use
// and may be shared by concurrent handshakes.
type Config struct {
	// Name is this node's name (see the package documentation for the
	// allowed characters).
	Name string
	// Creation is this node's incarnation, sent to peers.
	Creation uint64
	// Features is a bit set of optional capabilities this node offers,
	// sent to peers and authenticated with the rest of the exchange. The
	// layer above defines the bits; a feature is in use when both peers
	// offer it (Peer.Features & Config.Features).
	Features uint64
	// Secret is the shared cookie. Required unless TLS is set; with TLS it
	// adds a second, independent proof. Both nodes must agree on whether
	// a secret is used: a server without one accepts a client that has
	// one, and that client then refuses the server (ErrBadSecret) after
	// the server has already returned success.
	Secret []byte
	// TLS turns on TLS 1.3 with mutual certificates.
	TLS *TLSConfig
	// Timeout bounds each handshake in addition to its context. Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// Version overrides the protocol version announced; zero means
	// ProtocolVersion. Only tests need it.
	Version uint16
	// IsDuplicate, if set, is called by Server once the peer is
	// authenticated; returning true refuses the peer with
	// ErrDuplicateName. It may be called concurrently from handshakes in
	// flight, must not block, and is only advisory: the caller must still
	// register the accepted peer atomically.
	IsDuplicate func(name string, creation uint64) bool
	// Rand is the source of nonces and ephemeral keys; nil means
	// crypto/rand.
	Rand io.Reader
	// Unencrypted turns off the encryption of cookie-mode links (only
	// benchmarks comparing the cost should). Both sides must agree.
	Unencrypted bool
}

// TLSConfig holds this node's certificate and the CAs it trusts for peers.
type TLSConfig struct {
	// Certificate is this node's certificate chain and private key. Its
	// leaf must carry the URI SAN NodeURI(Config.Name) and allow both
	// server and client authentication.
	Certificate tls.Certificate
	// Roots are the CAs that sign node certificates, trusted in both
	// directions.
	Roots *x509.CertPool
}

// Validate reports whether c can be used.
func (c *Config) Validate() error {
	if err := ValidName(c.Name); err != nil {
		return err
	}
	if len(c.Secret) == 0 && c.TLS == nil {
		return errors.New("handshake: need a Secret or TLS")
	}
	if c.TLS != nil {
		if len(c.TLS.Certificate.Certificate) == 0 || c.TLS.Roots == nil {
			return errors.New("handshake: TLS needs a Certificate and Roots")
		}
	}
	if c.Timeout < 0 {
		return errors.New("handshake: negative Timeout")
	}
	if len(c.Secret) > 0 {
		// Stretch the cookie now (once per cookie), not in a handshake
		// with a deadline.
		cookieKey(c.Secret)
	}
	return nil
}

// ValidName reports whether name is a valid node name.
func ValidName(name string) error {
	if len(name) == 0 || len(name) > 255 {
		return fmt.Errorf("handshake: node name of %d bytes (want 1 to 255)", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '.', '_', '-', '@', ':':
			continue
		}
		return fmt.Errorf("handshake: node name %q has a forbidden character %q", name, c)
	}
	return nil
}

// NodeURI returns the URI SAN that identifies node name in a certificate:
// "grove:" followed by the name.
func NodeURI(name string) *url.URL { return &url.URL{Scheme: "grove", Opaque: name} }

// CertName returns the node a certificate identifies: the name in its one
// URI SAN of scheme "grove". A certificate with no such URI, with more
// than one (one certificate identifies one node, as a SPIFFE ID does one
// workload), or whose name the handshake refuses identifies no node. URIs
// of other schemes are ignored.
func CertName(cert *x509.Certificate) (string, error) {
	var names []string
	for _, u := range cert.URIs {
		if u.Scheme == "grove" {
			names = append(names, u.Opaque)
		}
	}
	switch len(names) {
	case 0:
		return "", errors.New("the certificate names no node (no grove: URI SAN)")
	case 1:
	default:
		return "", fmt.Errorf("the certificate names %d nodes, want one", len(names))
	}
	if err := ValidName(names[0]); err != nil {
		return "", fmt.Errorf("the certificate's node name: %w", err)
	}
	return names[0], nil
}

// checkCertName reports whether cert identifies node name.
func checkCertName(cert *x509.Certificate, name string) error {
	n, err := CertName(cert)
	if err != nil {
		return err
	}
	if n != name {
		return fmt.Errorf("the certificate names %q", n)
	}
	return nil
}

// verifyChain verifies a peer's certificate chain for usage: signed
// through the chain by one of roots, valid now, with the extended key
// usage. Beyond what crypto/x509 checks, a certificate that may sign
// certificates cannot identify a node, and no certificate that identifies
// a node (has a grove: URI) may sign one in the chain: so a certificate
// issued to a node by mistake with CA:TRUE can neither be used as a CA
// certificate nor mint certificates for other nodes.
func verifyChain(peer []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(peer) == 0 {
		return errors.New("handshake: peer sent no certificate")
	}
	leaf := peer[0]
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		return &tls.CertificateVerificationError{UnverifiedCertificates: peer,
			Err: errors.New("a certificate that may sign certificates cannot identify a node")}
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}
	for _, ic := range peer[1:] {
		opts.Intermediates.AddCert(ic)
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: peer, Err: err}
	}
	for _, chain := range chains {
		if !slices.ContainsFunc(chain[1:], namesNode) {
			return nil
		}
	}
	return &tls.CertificateVerificationError{UnverifiedCertificates: peer,
		Err: errors.New("the certificate is signed by a certificate that identifies a node")}
}

func namesNode(c *x509.Certificate) bool {
	return slices.ContainsFunc(c.URIs, func(u *url.URL) bool { return u.Scheme == "grove" })
}

// Peer is the outcome of a successful handshake.
type Peer struct {
	Name     string
	Creation uint64
	Version  uint16
	Features uint64 // the peer's Config.Features
	// Conn is the connection to use from now on: the *tls.Conn with TLS
	// on, the original connection otherwise. Its deadlines are cleared.
	Conn net.Conn
	// Certificate is the peer's leaf certificate, nil without TLS.
	Certificate *x509.Certificate
	// Encrypted says the link is confidential and tamper-evident: TLS, or
	// cookie mode with the session keys.
	Encrypted bool
}

// Errors.
var (
	// ErrRefused is what a refused node sees: the peer declined the
	// connection and said nothing more.
	ErrRefused = errors.New("handshake: refused by peer")
	// ErrPeerHasLink is what a node sees when the peer authenticated it
	// and then declined the connection because a link between the two
	// is already up or being set up (IsDuplicate on the peer said so). It
	// matches ErrRefused too. Unlike other refusals it is told, because
	// both sides proved who they are first.
	ErrPeerHasLink = fmt.Errorf("%w: a link to this node is already up or opening", ErrRefused)
	// ErrHungUp is what the accepting side sees when the dialer closed the
	// connection before the handshake completed.
	ErrHungUp = errors.New("handshake: peer hung up")
	// ErrTimeout is returned when Config.Timeout passes before the
	// handshake completes.
	ErrTimeout = errors.New("handshake: timed out")

	// ErrBadSecret matches a *RefusedError with ReasonBadSecret.
	ErrBadSecret = errors.New("handshake: bad secret")
	// ErrUntrustedCert matches a *RefusedError with ReasonUntrustedCert.
	ErrUntrustedCert = errors.New("handshake: untrusted certificate")
	// ErrNameMismatch matches a *RefusedError with ReasonNameMismatch.
	ErrNameMismatch = errors.New("handshake: node name does not match")
	// ErrVersionMismatch matches a *RefusedError with ReasonVersionMismatch.
	ErrVersionMismatch = errors.New("handshake: protocol version mismatch")
	// ErrDuplicateName matches a *RefusedError with ReasonDuplicateName.
	ErrDuplicateName = errors.New("handshake: duplicate node name")
	// ErrProtocol matches a *RefusedError with ReasonProtocol.
	ErrProtocol = errors.New("handshake: protocol violation")
)

// Reason says why a handshake was refused locally.
type Reason uint8

// Refusal reasons.
const (
	ReasonBadSecret       Reason = iota + 1 // the peer's proof of the secret is wrong or missing
	ReasonUntrustedCert                     // the peer's certificate does not verify
	ReasonNameMismatch                      // the peer's name is not in its certificate, or not the expected one
	ReasonVersionMismatch                   // the peer speaks another protocol version
	ReasonDuplicateName                     // IsDuplicate refused the peer
	ReasonProtocol                          // the peer sent a malformed or unexpected message
)

var reasonErrs = [...]error{
	ReasonBadSecret:       ErrBadSecret,
	ReasonUntrustedCert:   ErrUntrustedCert,
	ReasonNameMismatch:    ErrNameMismatch,
	ReasonVersionMismatch: ErrVersionMismatch,
	ReasonDuplicateName:   ErrDuplicateName,
	ReasonProtocol:        ErrProtocol,
}

// String returns the reason's description.
func (r Reason) String() string {
	if int(r) < len(reasonErrs) && reasonErrs[r] != nil {
		return reasonErrs[r].Error()
	}
	return fmt.Sprintf("handshake: reason %d", uint8(r))
}

// RefusedError is returned by the side that refused a peer.
type RefusedError struct {
	Reason Reason
	Peer   string // the name the peer claimed, if it got that far
	Err    error  // detail, may be nil
}

// Error describes the refusal.
func (e *RefusedError) Error() string {
	s := e.Reason.String()
	if e.Peer != "" {
		s += " (peer " + e.Peer + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the sentinel of the reason.
func (e *RefusedError) Is(target error) bool {
	return int(e.Reason) < len(reasonErrs) && target == reasonErrs[e.Reason]
}

// Unwrap returns the detail.
func (e *RefusedError) Unwrap() error { return e.Err }

func refused(r Reason, peer string, err error) *RefusedError {
	return &RefusedError{Reason: r, Peer: peer, Err: err}
}

// session holds one handshake in progress.
type session struct {
	cfg     *Config
	conn    net.Conn // raw or TLS
	ctx     context.Context
	parent  context.Context
	version uint16
	server  bool             // the accepting side
	eph     *ecdh.PrivateKey // this side's ephemeral key when sealed
	buf     [maxMessage + 2]byte
}

// Client runs the dialing side of a handshake on conn. If expect is not
// empty, the peer must be the node of that name. On error the caller
// closes conn.
func Client(ctx context.Context, conn net.Conn, cfg *Config, expect string) (*Peer, error) {
	return run(ctx, conn, cfg, false, func(s *session) (*Peer, error) { return s.client(expect) })
}

// Server runs the accepting side of a handshake on conn. On error the
// caller closes conn.
func Server(ctx context.Context, conn net.Conn, cfg *Config) (*Peer, error) {
	return run(ctx, conn, cfg, true, func(s *session) (*Peer, error) { return s.serve() })
}

func run(ctx context.Context, conn net.Conn, cfg *Config, server bool, f func(*session) (*Peer, error)) (*Peer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &session{cfg: cfg, conn: conn, ctx: hctx, parent: ctx, version: cfg.Version, server: server}
	if s.version == 0 {
		s.version = ProtocolVersion
	}
	dl, _ := hctx.Deadline()
	if err := conn.SetDeadline(dl); err != nil {
		// A connection the peer already closed may refuse deadlines
		// (net.Pipe does): a hang-up, classified as any other.
		return nil, s.ioErr(err)
	}
	stop := context.AfterFunc(hctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	p, err := f(s)
	if !stop() && err == nil {
		// The deadline fired as we finished: the connection's deadline
		// may have been set to the past behind our back.
		err = s.ioErr(context.DeadlineExceeded)
	}
	if err != nil {
		return nil, err
	}
	if err := p.Conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return p, nil
}

// ioErr classifies an error from reading, writing or the TLS handshake.
func (s *session) ioErr(err error) error {
	if perr := s.parent.Err(); perr != nil {
		return fmt.Errorf("handshake: %w", perr)
	}
	if s.ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return s.refuse(re)
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return refused(ReasonUntrustedCert, "", err)
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		// Bytes that are not TLS: a port scan or another protocol.
		return refused(ReasonProtocol, "", err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		// A TLS alert: the peer refused us.
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if peerClosed(err) {
		if s.server {
			// The dialer went away: a scan, a client that gave up, or a
			// dialer that refused our identity by hanging up.
			return fmt.Errorf("%w: %w", ErrHungUp, err)
		}
		// The server closed on us: that is how it refuses. A write that
		// meets the closed connection says the same as a read.
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return fmt.Errorf("handshake: %w", err)
}

// peerClosed reports errors that mean the other end closed or reset the
// connection.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}

func (s *session) nonce() ([32]byte, error) {
	var n [32]byte
	r := s.cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return n, fmt.Errorf("handshake: nonce: %w", err)
	}
	return n, nil
}

// refuse tells the peer no, best effort, and returns the local error.
func (s *session) refuse(e *RefusedError) error {
	_ = s.write(msgRefuse, nil)
	return e
}

// sealed reports whether this configuration protects links with the
// session keys: cookie mode without TLS (TLS protects its own).
func (c *Config) sealed() bool { return len(c.Secret) > 0 && c.TLS == nil && !c.Unencrypted }

// start fills this side's hello: nonce and, when sealed, ephemeral key.
func (s *session) start() (hello, error) {
	cfg := s.cfg
	h := hello{version: s.version, creation: cfg.Creation, features: cfg.Features, name: cfg.Name}
	var err error
	if h.nonce, err = s.nonce(); err != nil {
		return h, err
	}
	if cfg.sealed() {
		r := cfg.Rand
		if r == nil {
			r = rand.Reader
		}
		if s.eph, err = newEphemeral(r); err != nil {
			return h, err
		}
		copy(h.key[:], s.eph.PublicKey().Bytes())
		h.flags = helloSealed
	}
	return h, nil
}

// finish returns the connection to use from now on: sealed with the
// session keys when the link is sealed.
func (s *session) finish(key []byte, tr []byte, peerKey [32]byte) (net.Conn, error) {
	if !s.cfg.sealed() {
		return s.conn, nil
	}
	pub, err := ecdh.X25519().NewPublicKey(peerKey[:])
	if err != nil {
		return nil, refused(ReasonProtocol, "", fmt.Errorf("ephemeral key: %w", err))
	}
	shared, err := s.eph.ECDH(pub)
	if err != nil {
		return nil, refused(ReasonProtocol, "", fmt.Errorf("ephemeral key: %w", err))
	}
	c2s, s2c, err := sessionKeys(key, shared, tr)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if s.server {
		return newSealedConn(s.conn, c2s, s2c)
	}
	return newSealedConn(s.conn, s2c, c2s)
}

func (s *session) client(expect string) (*Peer, error) {
	cfg := s.cfg
	var leaf *x509.Certificate
	if cfg.TLS != nil {
		tc := tls.Client(s.conn, cfg.TLS.clientConfig())
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return nil, s.ioErr(err)
		}
		s.conn = tc
		leaf = tc.ConnectionState().PeerCertificates[0]
	}
	hello, err := s.start()
	if err != nil {
		return nil, err
	}
	if err := s.write(msgHello, hello.append(nil)); err != nil {
		return nil, s.ioErr(err)
	}
	typ, body, err := s.read()
	if err != nil {
		return nil, s.ioErr(err)
	}
	switch typ {
	case msgRefuse:
		return nil, ErrRefused
	case msgChallenge:
	default:
		return nil, s.refuse(refused(ReasonProtocol, "", fmt.Errorf("got message %d, want challenge", typ)))
	}
	ch, err := parseChallenge(body)
	if err != nil {
		return nil, s.refuse(refused(ReasonProtocol, "", err))
	}
	if ch.version != s.version {
		return nil, s.refuse(refused(ReasonVersionMismatch, ch.name, fmt.Errorf("peer speaks %d, we speak %d", ch.version, s.version)))
	}
	if ch.flags != hello.flags {
		return nil, s.refuse(refused(ReasonProtocol, ch.name, errors.New("the peer does not agree on encrypting the link")))
	}
	if leaf != nil {
		if err := checkCertName(leaf, ch.name); err != nil {
			return nil, s.refuse(refused(ReasonNameMismatch, ch.name, err))
		}
	}
	if expect != "" && ch.name != expect {
		return nil, s.refuse(refused(ReasonNameMismatch, ch.name, fmt.Errorf("dialled %q", expect)))
	}
	tr := transcript(s.version, hello, ch)
	// The dialled side proves first: a node never hands its own proof to
	// a server that has not shown it knows the cookie, so dialling an
	// impostor (a poisoned seed or DNS answer) gives it nothing to guess
	// the cookie from.
	typ, body, err = s.read()
	if err != nil {
		return nil, s.ioErr(err)
	}
	switch typ {
	case msgRefuse:
		return nil, ErrRefused
	case msgProof:
	default:
		return nil, s.refuse(refused(ReasonProtocol, ch.name, fmt.Errorf("got message %d, want proof", typ)))
	}
	var key, proof []byte
	if len(cfg.Secret) > 0 {
		key = cookieKey(cfg.Secret)
		if !hmac.Equal(body, mac(key, labelServer, tr)) {
			// Say why: the server learns only that our cookie differs.
			_ = s.write(msgRefuse, []byte{refuseBadProof})
			return nil, refused(ReasonBadSecret, ch.name, nil)
		}
		proof = mac(key, labelClient, tr)
	}
	if err := s.write(msgProof, proof); err != nil {
		return nil, s.ioErr(err)
	}
	typ, body, err = s.read()
	if err != nil {
		return nil, s.ioErr(err)
	}
	switch typ {
	case msgRefuse:
		if len(body) > 0 && body[0] == refuseHasLink &&
			(len(key) == 0 && len(body) == 1 || len(key) > 0 && hmac.Equal(body[1:], mac(key, labelHasLink, tr))) {
			return nil, ErrPeerHasLink
		}
		return nil, ErrRefused
	case msgAccept:
	default:
		return nil, s.refuse(refused(ReasonProtocol, ch.name, fmt.Errorf("got message %d, want accept", typ)))
	}
	conn, err := s.finish(key, tr, ch.key)
	if err != nil {
		return nil, err
	}
	return &Peer{Name: ch.name, Creation: ch.creation, Version: ch.version, Features: ch.features, Conn: conn, Certificate: leaf, Encrypted: cfg.TLS != nil || cfg.sealed()}, nil
}

func (s *session) serve() (*Peer, error) {
	cfg := s.cfg
	var leaf *x509.Certificate
	if cfg.TLS != nil {
		tc := tls.Server(s.conn, cfg.TLS.serverConfig())
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return nil, s.ioErr(err)
		}
		s.conn = tc
		leaf = tc.ConnectionState().PeerCertificates[0]
	}
	typ, body, err := s.read()
	if err != nil {
		return nil, s.ioErr(err)
	}
	if typ != msgHello {
		return nil, s.refuse(refused(ReasonProtocol, "", fmt.Errorf("got message %d, want hello", typ)))
	}
	h, err := parseHello(body)
	if err != nil {
		if errors.Is(err, errVersion) {
			return nil, s.refuse(refused(ReasonVersionMismatch, "", err))
		}
		return nil, s.refuse(refused(ReasonProtocol, "", err))
	}
	if h.version != s.version {
		return nil, s.refuse(refused(ReasonVersionMismatch, h.name, fmt.Errorf("peer speaks %d, we speak %d", h.version, s.version)))
	}
	if leaf != nil {
		if err := checkCertName(leaf, h.name); err != nil {
			return nil, s.refuse(refused(ReasonNameMismatch, h.name, err))
		}
	}
	ch, err := s.start()
	if err != nil {
		return nil, err
	}
	if h.flags != ch.flags {
		return nil, s.refuse(refused(ReasonProtocol, h.name, errors.New("the peer does not agree on encrypting the link")))
	}
	if err := s.write(msgChallenge, ch.appendChallenge(nil)); err != nil {
		return nil, s.ioErr(err)
	}
	tr := transcript(s.version, h, ch)
	var key, proof []byte
	if len(cfg.Secret) > 0 {
		key = cookieKey(cfg.Secret)
		proof = mac(key, labelServer, tr)
	}
	if err := s.write(msgProof, proof); err != nil {
		return nil, s.ioErr(err)
	}
	typ, body, err = s.read()
	if err != nil {
		return nil, s.ioErr(err)
	}
	switch typ {
	case msgRefuse:
		if len(key) > 0 && len(body) == 1 && body[0] == refuseBadProof {
			// The dialer refused our proof: it does not hold our cookie.
			return nil, refused(ReasonBadSecret, h.name, errors.New("the dialer refused this node's proof"))
		}
		return nil, ErrRefused
	case msgProof:
	default:
		return nil, s.refuse(refused(ReasonProtocol, h.name, fmt.Errorf("got message %d, want proof", typ)))
	}
	if len(key) > 0 && !hmac.Equal(body, mac(key, labelClient, tr)) {
		return nil, s.refuse(refused(ReasonBadSecret, h.name, nil))
	}
	if cfg.IsDuplicate != nil && cfg.IsDuplicate(h.name, h.creation) {
		// The peer is authenticated: tell it why, with our own proof so
		// that nobody else can make a node wait for a link that never
		// comes.
		body := []byte{refuseHasLink}
		if len(key) > 0 {
			body = append(body, mac(key, labelHasLink, tr)...)
		}
		_ = s.write(msgRefuse, body)
		return nil, refused(ReasonDuplicateName, h.name, nil)
	}
	if err := s.write(msgAccept, nil); err != nil {
		return nil, s.ioErr(err)
	}
	conn, err := s.finish(key, tr, h.key)
	if err != nil {
		return nil, err
	}
	return &Peer{Name: h.name, Creation: h.creation, Version: h.version, Features: h.features, Conn: conn, Certificate: leaf, Encrypted: cfg.TLS != nil || cfg.sealed()}, nil
}

const (
	labelClient  = "grove handshake v2 client proof"
	labelServer  = "grove handshake v2 server proof"
	labelHasLink = "grove handshake v2 link exists"
)

// refuseHasLink is the body's first byte of a refusal that tells an
// authenticated peer that a link between the two nodes already exists.
const refuseHasLink byte = 1

// refuseBadProof is the body of a dialer's refusal of the dialled side's
// proof.
const refuseBadProof byte = 2

func transcript(version uint16, c, s hello) []byte {
	b := make([]byte, 0, 2+2*(1+255+1+8+8+32+32))
	b = binary.BigEndian.AppendUint16(b, version)
	for _, h := range [2]hello{c, s} {
		b = append(b, byte(len(h.name)))
		b = append(b, h.name...)
		b = append(b, h.flags)
		b = binary.BigEndian.AppendUint64(b, h.creation)
		b = binary.BigEndian.AppendUint64(b, h.features)
		b = append(b, h.nonce[:]...)
		b = append(b, h.key[:]...)
	}
	return b
}

func mac(secret []byte, label string, tr []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(tr)
	return m.Sum(nil)
}

func (c *TLSConfig) base() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Certificate},
		// Links are long-lived and every handshake checks the peer's
		// certificate afresh: no resumption.
		SessionTicketsDisabled: true,
	}
}

func (c *TLSConfig) clientConfig() *tls.Config {
	tc := c.base()
	// Node names are not DNS names, so the standard host name check does
	// not apply: verify the chain here and the name in the exchange.
	tc.InsecureSkipVerify = true
	// Always present our certificate, even when the server's list of
	// acceptable CAs does not name our issuer, so that the server decides
	// (and reports an untrusted certificate rather than a missing one).
	cert := c.Certificate
	tc.Certificates = nil
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyChain(cs.PeerCertificates, c.Roots, x509.ExtKeyUsageServerAuth)
	}
	return tc
}

func (c *TLSConfig) serverConfig() *tls.Config {
	tc := c.base()
	// Verified by verifyChain, as the client verifies the server.
	tc.ClientAuth = tls.RequireAnyClientCert
	tc.ClientCAs = c.Roots
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyChain(cs.PeerCertificates, c.Roots, x509.ExtKeyUsageClientAuth)
	}
	return tc
}
