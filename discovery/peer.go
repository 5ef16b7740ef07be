package discovery

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Peer is one candidate member of the cluster, as a strategy found it.
type Peer struct {
	// Name is the Grove node name, "name@host", when the strategy knows it
	// (a seed list that names it, or a strategy configured with a node
	// basename); empty when only the address is known and the name is
	// learnt when connecting.
	Name string
	// Addr is a dialable address, "host:port" (IPv6 hosts in brackets, as
	// net.JoinHostPort writes them).
	Addr string
}

// String returns "name@host/addr", or only the address when the name is not
// known.
func (p Peer) String() string {
	if p.Name == "" {
		return p.Addr
	}
	return p.Name + "/" + p.Addr
}

// key identifies a peer across polls: its name when known, its address
// otherwise. A peer seen again under the same key with another address is a
// refresh of that peer.
func (p Peer) key() string {
	if p.Name != "" {
		return "n:" + p.Name
	}
	return "a:" + p.Addr
}

// Validate reports whether p has a dialable address ("host:port" with a port
// in 1..65535) and, when set, a well-formed name ("name@host", both parts
// non-empty, no spaces). Errors wrap ErrInvalidPeer.
func (p Peer) Validate() error {
	if err := validateAddr(p.Addr); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidPeer, err)
	}
	if p.Name != "" {
		if err := validateNodeName(p.Name); err != nil {
			return fmt.Errorf("%w: %s", ErrInvalidPeer, err)
		}
	}
	return nil
}

func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	if strings.ContainsAny(host, " \t\r\n/@,") {
		return fmt.Errorf("address %q has a bad host", addr)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("address %q: %s", addr, err)
	}
	return nil
}

func validateNodeName(name string) error {
	local, host, ok := strings.Cut(name, "@")
	if !ok || local == "" || host == "" || strings.Contains(host, "@") {
		return fmt.Errorf("node name %q is not name@host", name)
	}
	if strings.ContainsAny(name, " \t\r\n/,") {
		return fmt.Errorf("node name %q has a space, comma or slash", name)
	}
	return nil
}

// parsePort parses a decimal port number in 1..65535.
func parsePort(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty port")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not in 1..65535", s)
	}
	return n, nil
}

// nodeName builds "basename@host", or "" when basename is empty.
func nodeName(basename, host string) string {
	if basename == "" {
		return ""
	}
	return basename + "@" + host
}

// sortPeers sorts peers by name, then address, and drops exact duplicates.
func sortPeers(ps []Peer) []Peer {
	slices.SortFunc(ps, func(a, b Peer) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	return slices.Compact(ps)
}
