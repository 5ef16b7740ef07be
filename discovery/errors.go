package discovery

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/miekg/dns"
)

var (
	// ErrClosed is returned by a Poller's methods after Close.
	ErrClosed = errors.New("discovery: closed")
	// ErrInvalidConfig is wrapped by every Config's Validate error.
	ErrInvalidConfig = errors.New("discovery: invalid config")
	// ErrInvalidPeer is wrapped by Peer.Validate errors.
	ErrInvalidPeer = errors.New("discovery: invalid peer")
	// ErrInvalidSpec is wrapped by every *SpecError of Parse and ParseSpec.
	ErrInvalidSpec = errors.New("discovery: invalid spec")
	// ErrDNS is wrapped by every *DNSError: a DNS server answered with an
	// error code, or not at all.
	ErrDNS = errors.New("discovery: DNS lookup failed")
	// ErrKubernetes is wrapped by every *APIError and by errors decoding the
	// Kubernetes API's answers.
	ErrKubernetes = errors.New("discovery: Kubernetes API request failed")
)

// SpecError is a discovery spec (the --discovery flag's value) that does not
// parse. It wraps ErrInvalidSpec.
type SpecError struct {
	// Spec is the whole input.
	Spec string
	// Problem says what is wrong, in a few words.
	Problem string
}

// Error returns a one-line message naming the spec and the problem.
func (e *SpecError) Error() string {
	return fmt.Sprintf("discovery: invalid spec %q: %s", e.Spec, e.Problem)
}

// Unwrap returns ErrInvalidSpec.
func (e *SpecError) Unwrap() error { return ErrInvalidSpec }

// DNSError is a failed DNS query: the server answered with an error code
// (SERVFAIL, NXDOMAIN, REFUSED, ...) or the query failed in transport
// (timeout, refused connection). It wraps ErrDNS and, for transport
// failures, the underlying error.
type DNSError struct {
	// Name is the queried name.
	Name string
	// Qtype is the query type, such as dns.TypeA or dns.TypeSRV.
	Qtype uint16
	// Server is the resolver's address.
	Server string
	// Rcode is the response code when the server answered (dns.RcodeServerFailure,
	// dns.RcodeNameError, ...), -1 for transport failures.
	Rcode int
	// Err is the transport error when Rcode is -1.
	Err error
}

// Error describes the failed query.
func (e *DNSError) Error() string {
	q := dns.TypeToString[e.Qtype]
	if q == "" {
		q = strconv.Itoa(int(e.Qtype))
	}
	if e.Rcode < 0 {
		return fmt.Sprintf("discovery: DNS %s %s via %s: %v", q, e.Name, e.Server, e.Err)
	}
	rc := dns.RcodeToString[e.Rcode]
	if rc == "" {
		rc = strconv.Itoa(e.Rcode)
	}
	return fmt.Sprintf("discovery: DNS %s %s via %s: %s", q, e.Name, e.Server, rc)
}

// Unwrap returns ErrDNS and, for transport failures, the transport error.
func (e *DNSError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrDNS, e.Err}
	}
	return []error{ErrDNS}
}

// APIError is an answer of the Kubernetes API server with a status other
// than 200 OK, such as 401 (token expired or rotated), 403 (missing RBAC
// permission to list EndpointSlices) or 5xx. It wraps ErrKubernetes. A Poller
// keeps every known peer when it gets one.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// URL is the requested URL.
	URL string
	// Message is the server's explanation (the Status object's message, or
	// the start of the body), possibly empty.
	Message string
}

// Error describes the failed request.
func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("discovery: Kubernetes API GET %s: HTTP %d", e.URL, e.StatusCode)
	}
	return fmt.Sprintf("discovery: Kubernetes API GET %s: HTTP %d: %s", e.URL, e.StatusCode, e.Message)
}

// Unwrap returns ErrKubernetes.
func (e *APIError) Unwrap() error { return ErrKubernetes }
