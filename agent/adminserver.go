package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/grovedev/grove/internal/connlimit"
	"github.com/grovedev/grove/internal/ratelog"
)

// AdminAuthConfig secures the admin API. With a token, every request but
// GET /healthz and GET /readyz needs "Authorization: Bearer <token>"; with
// a client CA, every such request needs a client certificate signed by it
// (mutual TLS); with both, both. The health endpoints stay open so that
// probes (Kubernetes httpGet, load balancers) work without credentials:
// they tell only "ok" or "ready". An admin API on an address other than
// loopback is refused without a token or a client CA.
type AdminAuthConfig struct {
	Token     string // --admin-token, GROVE_ADMIN_TOKEN (visible in ps: prefer the file or the variable)
	TokenFile string // --admin-token-file, GROVE_ADMIN_TOKEN_FILE
	TLSCert   string // --admin-tls-cert, GROVE_ADMIN_TLS_CERT: serve HTTPS with this certificate
	TLSKey    string // --admin-tls-key, GROVE_ADMIN_TLS_KEY
	ClientCA  string // --admin-client-ca, GROVE_ADMIN_CLIENT_CA: require client certificates signed by these CAs
}

func init() {
	envNames["admin-token"] = "GROVE_ADMIN_TOKEN"
	envNames["admin-token-file"] = "GROVE_ADMIN_TOKEN_FILE"
	envNames["admin-tls-cert"] = "GROVE_ADMIN_TLS_CERT"
	envNames["admin-tls-key"] = "GROVE_ADMIN_TLS_KEY"
	envNames["admin-client-ca"] = "GROVE_ADMIN_CLIENT_CA"
}

// RegisterFlags adds the admin API's security flags to fs.
func (c *AdminAuthConfig) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Token, "admin-token", "", "bearer token the admin API requires (prefer GROVE_ADMIN_TOKEN or --admin-token-file)")
	fs.StringVar(&c.TokenFile, "admin-token-file", "", "file holding the admin API's bearer token")
	fs.StringVar(&c.TLSCert, "admin-tls-cert", "", "PEM certificate to serve the admin API over HTTPS")
	fs.StringVar(&c.TLSKey, "admin-tls-key", "", "PEM private key of --admin-tls-cert")
	fs.StringVar(&c.ClientCA, "admin-client-ca", "", "PEM CAs whose client certificates the admin API requires (mutual TLS)")
}

// Validate reports a configuration that cannot work or would expose the
// admin API at addr without authentication.
func (c *AdminAuthConfig) Validate(addr string) error {
	if c.Token != "" && c.TokenFile != "" {
		return errors.New("--admin-token and --admin-token-file are exclusive")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	if c.ClientCA != "" && c.TLSCert == "" {
		return errors.New("--admin-client-ca needs --admin-tls-cert and --admin-tls-key")
	}
	if addr != "" && !loopback(addr) && c.Token == "" && c.TokenFile == "" && c.ClientCA == "" {
		return fmt.Errorf("--admin %s is not a loopback address: give it a token (GROVE_ADMIN_TOKEN, --admin-token-file) or mutual TLS (--admin-client-ca)", addr)
	}
	return nil
}

// loopback reports whether addr ("host:port") listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// token returns the configured token, read from the file if one is given.
func (c *AdminAuthConfig) token() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--admin-token-file %s is empty", c.TokenFile)
	}
	return t, nil
}

// tlsConfig returns the HTTPS configuration, nil without a certificate.
func (c *AdminAuthConfig) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("--admin-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--admin-client-ca %s: no certificate found", c.ClientCA)
		}
		// Verified when given; required by the handler for everything
		// but the health endpoints, which probes reach without one.
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// Admin server limits.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 30 * time.Second
	adminWriteTimeout      = 30 * time.Second // streams clear it for themselves
	adminIdleTimeout       = 60 * time.Second
	adminMaxHeaderBytes    = 16 << 10
	// adminMaxConns bounds the admin API's open connections, and
	// adminMaxConnsPerHost those of one host (see internal/connlimit).
	adminMaxConns        = 512
	adminMaxConnsPerHost = 64
)

// adminServer builds the admin API's server: its handler behind the
// authentication, its timeouts, and a listener bounded in connections.
func (a *Agent) adminServer(ln net.Listener) (*http.Server, net.Listener, error) {
	auth := &a.cfg.AdminAuth
	token, err := auth.token()
	if err != nil {
		return nil, nil, err
	}
	tc, err := auth.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	guard := &adminGuard{next: a.Handler(), requireCert: auth.ClientCA != "", counters: &a.adminSec}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		guard.tokenSum = &sum
	}
	srv := &http.Server{
		Handler:           guard,
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		TLSConfig:         tc,
		// Bad requests and TLS handshakes that peers send at will.
		ErrorLog: log.New(ratelogWriter{ratelog.New(a.log, ratelog.Config{}), "admin API"}, "", 0),
	}
	a.adminLim = connlimit.New(connlimit.Config{MaxTotal: adminMaxConns, MaxPerHost: adminMaxConnsPerHost})
	ln = &limitedListener{Listener: ln, lim: a.adminLim}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return srv, ln, nil
}

// adminGuard authenticates admin requests.
type adminGuard struct {
	next        http.Handler
	tokenSum    *[32]byte
	requireCert bool
	counters    *adminCounters
}

// adminCounters counts the admin API's refusals.
type adminCounters struct {
	Unauthorized atomic.Uint64 // requests without the token or certificate required
}

// ratelogWriter turns the HTTP server's error lines into rate-limited
// warnings.
type ratelogWriter struct {
	lim *ratelog.Limiter
	key string
}

func (w ratelogWriter) Write(p []byte) (int, error) {
	w.lim.Warn(w.key, w.key+": "+strings.TrimSpace(string(p)))
	return len(p), nil
}

// publicPaths answer without credentials.
var publicPaths = map[string]bool{"/healthz": true, "/readyz": true}

func (g *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !(publicPaths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead)) {
		if g.requireCert && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			g.counters.Unauthorized.Add(1)
			http.Error(w, "a client certificate is required", http.StatusUnauthorized)
			return
		}
		if g.tokenSum != nil {
			given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(given))
			if !ok || subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) != 1 {
				g.counters.Unauthorized.Add(1)
				w.Header().Set("WWW-Authenticate", `Bearer realm="grove"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
	}
	if strings.HasSuffix(r.URL.Path, "/stream") || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		// A stream writes for as long as its client listens.
		http.NewResponseController(w).SetWriteDeadline(time.Time{})
	}
	g.next.ServeHTTP(w, r)
}

// limitedListener holds a connlimit slot for each connection it accepts
// until the connection closes: beyond the limits a connection is refused
// at once, or the oldest of the busiest host is closed to make room.
type limitedListener struct {
	net.Listener
	lim *connlimit.Limiter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c}
		slot, err := l.lim.Admit(connlimit.Host(c.RemoteAddr()), lc)
		if err != nil {
			c.Close()
			continue
		}
		lc.slot = slot
		return lc, nil
	}
}

type limitedConn struct {
	net.Conn
	slot *connlimit.Slot
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.slot != nil {
			c.slot.Release()
		}
	})
	return err
}
