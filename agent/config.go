package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/grovedev/grove/discovery"
	"github.com/spf13/pflag"
)

// DefaultAdmin is the admin API's address unless told otherwise: loopback
// only, so that a node's control surface is not exposed by accident.
const DefaultAdmin = "127.0.0.1:4371"

// Config describes a node as the `grove node` command runs it. Every field
// has a flag and a GROVE_* environment variable; flags win over the
// environment.
type Config struct {
	Name           string          // --name, GROVE_NAME: "name@host"
	Listen         string          // --listen, GROVE_LISTEN: address for node links
	Advertise      string          // --advertise, GROVE_ADVERTISE: address peers dial; default the bound one
	Join           []string        // --join (repeatable), GROVE_JOIN (comma-separated): "addr" or "name@host=addr" of peers
	Gossip         string          // --gossip, GROVE_GOSSIP: membership (SWIM) address; default the --listen host, port+2
	Discovery      string          // --discovery, GROVE_DISCOVERY: a discovery spec (static:, dns:, dnssrv:, kube:)
	DiscoveryEvery time.Duration   // --discovery-interval, GROVE_DISCOVERY_INTERVAL
	Cookie         string          // --cookie, GROVE_COOKIE
	CookieFile     string          // --cookie-file, GROVE_COOKIE_FILE
	TLSCert        string          // --tls-cert, GROVE_TLS_CERT: PEM certificate naming the node
	TLSKey         string          // --tls-key, GROVE_TLS_KEY
	TLSCA          string          // --tls-ca, GROVE_TLS_CA: PEM CAs trusted for peers
	Region         string          // --region, GROVE_REGION
	DataDir        string          // --data-dir, GROVE_DATA_DIR
	Admin          string          // --admin, GROVE_ADMIN: HTTP address of the admin API
	Heartbeat      time.Duration   // --heartbeat, GROVE_HEARTBEAT
	ShutdownTTL    time.Duration   // --shutdown-timeout, GROVE_SHUTDOWN_TIMEOUT
	KV             KVConfig        // --kv, --bootstrap-expect, --raft-tick (kv.go)
	AdminAuth      AdminAuthConfig // --admin-token(-file), --admin-tls-*, --admin-client-ca (adminserver.go)
	FaultInjection bool            // --fault-injection, GROVE_FAULT_INJECTION: admin endpoints that cut links to peers (faultinject.go); for tests and demos only
}

// env names, by flag.
var envNames = map[string]string{
	"gossip": "GROVE_GOSSIP", "discovery": "GROVE_DISCOVERY", "discovery-interval": "GROVE_DISCOVERY_INTERVAL",
	"name": "GROVE_NAME", "listen": "GROVE_LISTEN", "advertise": "GROVE_ADVERTISE", "join": "GROVE_JOIN",
	"cookie": "GROVE_COOKIE", "cookie-file": "GROVE_COOKIE_FILE", "tls-cert": "GROVE_TLS_CERT",
	"tls-key": "GROVE_TLS_KEY", "tls-ca": "GROVE_TLS_CA", "region": "GROVE_REGION",
	"data-dir": "GROVE_DATA_DIR", "admin": "GROVE_ADMIN", "heartbeat": "GROVE_HEARTBEAT",
	"shutdown-timeout": "GROVE_SHUTDOWN_TIMEOUT", "fault-injection": "GROVE_FAULT_INJECTION",
}

// RegisterFlags adds the configuration's flags to fs.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Name, "name", "", "node name, name@host (required)")
	fs.StringVar(&c.Listen, "listen", "0.0.0.0:4370", "address to accept node links on")
	fs.StringVar(&c.Advertise, "advertise", "", "address other nodes dial (default: the listen address)")
	fs.StringArrayVar(&c.Join, "join", nil, "a peer to connect to: host:port or name@host=host:port (repeatable)")
	fs.StringVar(&c.Gossip, "gossip", "", "address of the membership protocol (default: the --listen host, port + 2)")
	fs.StringVar(&c.Discovery, "discovery", "", "find peers: static:HOST:PORT,..., dns:[BASE@]NAME:PORT, dnssrv:[BASE@]NAME, kube:[NS/]SERVICE[:PORT]")
	fs.DurationVar(&c.DiscoveryEvery, "discovery-interval", 0, "how often discovery polls (default 5s)")
	fs.StringVar(&c.Cookie, "cookie", "", "shared cluster secret")
	fs.StringVar(&c.CookieFile, "cookie-file", "", "file holding the shared cluster secret")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate of this node (its URI SAN names the node)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of the certificate")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "PEM certificates of the CAs trusted for peers")
	fs.StringVar(&c.Region, "region", "", "region this node runs in")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory for the node's durable state")
	fs.StringVar(&c.Admin, "admin", DefaultAdmin, "HTTP address of the admin API (empty to disable)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 0, "link heartbeat interval; a link silent for 6 heartbeats is dead (default 500ms)")
	fs.DurationVar(&c.ShutdownTTL, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.BoolVar(&c.FaultInjection, "fault-injection", false, "serve /v1/faults on the admin API, to cut this node off from named peers (tests and demos only)")
	c.KV.RegisterFlags(fs)
	c.AdminAuth.RegisterFlags(fs)
}

// LoadEnv sets every flag not given on the command line from its GROVE_*
// variable, read with lookup (os.LookupEnv in a real process).
func LoadEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		name, ok := envNames[f.Name]
		if !ok || f.Changed {
			return
		}
		v, set := lookup(name)
		if !set {
			return
		}
		if f.Name == "join" {
			for _, j := range strings.Split(v, ",") {
				if j = strings.TrimSpace(j); j != "" {
					if err := fs.Set("join", j); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", name, err))
					}
				}
			}
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	})
	return errors.Join(errs...)
}

// Peer is a --join entry; Name is empty when only the address is known.
type Peer struct{ Name, Addr string }

// ParseJoin parses a --join value, "host:port" or "name@host=host:port".
func ParseJoin(s string) (Peer, error) {
	name, addr, named := strings.Cut(s, "=")
	if !named {
		name, addr = "", s
	}
	if addr == "" || named && name == "" {
		return Peer{}, fmt.Errorf("--join %q: want host:port or name@host=host:port", s)
	}
	if named && !strings.Contains(name, "@") {
		return Peer{}, fmt.Errorf("--join %q: node name %q lacks @host", s, name)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Peer{}, fmt.Errorf("--join %q: address: %w", s, err)
	}
	return Peer{Name: name, Addr: addr}, nil
}

// gossipBind returns the membership protocol's listen address: --gossip,
// or the --listen host with the port two above (0 stays 0).
func (c *Config) gossipBind() (string, error) {
	if c.Gossip != "" {
		return c.Gossip, nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("--listen port %q: %w", port, err)
	}
	if p != 0 {
		p += 2
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// Resolve fills in what the configuration leaves to the host, for images
// and pods that cannot compute it in a shell: a --name ending in "@" gets
// the host name, and with no --advertise a node listening on all interfaces
// advertises the address its host name resolves to (Docker and Kubernetes
// map it to the container's address in /etc/hosts).
func (c *Config) Resolve(hostname func() (string, error), lookup func(string) ([]string, error)) error {
	needHost := strings.HasSuffix(c.Name, "@")
	host, port, err := net.SplitHostPort(c.Listen)
	needAddr := err == nil && c.Advertise == "" && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified())
	if !needHost && !needAddr {
		return nil
	}
	h, err := hostname()
	if err != nil {
		return fmt.Errorf("host name: %w", err)
	}
	if needHost {
		c.Name += h
	}
	if needAddr {
		addrs, err := lookup(h)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("--advertise not given and host name %q does not resolve: %v", h, err)
		}
		c.Advertise = net.JoinHostPort(addrs[0], port)
	}
	return nil
}

// Validate reports the first problem that makes the configuration unusable,
// naming the flag.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("--name is required (name@host)")
	}
	if i := strings.Index(c.Name, "@"); i <= 0 || i == len(c.Name)-1 {
		return fmt.Errorf("--name %q: want name@host", c.Name)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: %w", c.Listen, err)
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			return fmt.Errorf("--advertise %q: %w", c.Advertise, err)
		}
	}
	if c.Gossip != "" {
		if _, _, err := net.SplitHostPort(c.Gossip); err != nil {
			return fmt.Errorf("--gossip %q: %w", c.Gossip, err)
		}
	}
	if c.Admin != "" {
		if _, _, err := net.SplitHostPort(c.Admin); err != nil {
			return fmt.Errorf("--admin %q: %w", c.Admin, err)
		}
	}
	if err := c.AdminAuth.Validate(c.Admin); err != nil {
		return err
	}
	for _, j := range c.Join {
		if _, err := ParseJoin(j); err != nil {
			return err
		}
	}
	if c.Discovery != "" {
		if _, err := discovery.Parse(c.Discovery); err != nil {
			return fmt.Errorf("--discovery: %w", err)
		}
	}
	if c.Cookie != "" && c.CookieFile != "" {
		return errors.New("--cookie and --cookie-file are exclusive")
	}
	tls := c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != ""
	if tls && (c.TLSCert == "" || c.TLSKey == "" || c.TLSCA == "") {
		return errors.New("--tls-cert, --tls-key and --tls-ca go together")
	}
	if !tls && c.Cookie == "" && c.CookieFile == "" {
		// As Erlang reads ~/.erlang.cookie: a secret that shows in no
		// command line.
		if f := DefaultCookieFile(); f != "" {
			if _, err := os.Stat(f); err == nil {
				c.CookieFile = f
			}
		}
		if c.CookieFile == "" {
			return errors.New("a secret is required: GROVE_COOKIE, --cookie-file, ~/.grove.cookie, --cookie or the --tls-* flags")
		}
	}
	if c.Heartbeat < 0 || c.ShutdownTTL < 0 || c.DiscoveryEvery < 0 {
		return errors.New("--heartbeat, --shutdown-timeout and --discovery-interval must not be negative")
	}
	return nil
}

// DefaultCookieFile is the file a node reads its cookie from when no
// secret is given otherwise: ~/.grove.cookie, or "" without a home
// directory.
func DefaultCookieFile() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".grove.cookie")
}

// secret returns the cookie, reading the cookie file if one is given.
func (c *Config) secret() ([]byte, error) {
	if c.CookieFile == "" {
		return []byte(c.Cookie), nil
	}
	b, err := os.ReadFile(c.CookieFile)
	if err != nil {
		return nil, fmt.Errorf("--cookie-file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("--cookie-file %s is empty", c.CookieFile)
	}
	return []byte(s), nil
}
