package discovery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Default paths of the in-cluster service account, mounted into every pod
// that has one.
const (
	DefaultTokenFile     = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile        = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	DefaultNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// DefaultMaxResponseBytes bounds one page of the API server's answer when
// KubernetesConfig.MaxResponseBytes is zero.
const DefaultMaxResponseBytes = 16 << 20

// DefaultPageSize is the number of EndpointSlices asked for per request when
// KubernetesConfig.PageSize is zero.
const DefaultPageSize = 500

// maxPages bounds the pages followed in one Discover, against a server that
// hands out continue tokens forever.
const maxPages = 1000

// KubernetesConfig configures a Kubernetes strategy: the ready endpoints of
// the EndpointSlices of one Service, read from the API server with the pod's
// service-account token. The account needs permission to list
// endpointslices in the discovery.k8s.io group in Namespace.
type KubernetesConfig struct {
	// Service is the Service whose EndpointSlices are listed (the slices
	// labelled kubernetes.io/service-name=Service). Required.
	Service string
	// Namespace is the Service's namespace; empty means the pod's own, read
	// from NamespaceFile when the strategy is created.
	Namespace string
	// Port is the distribution port of every peer. Zero means the port named
	// PortName in each slice, or, when PortName is empty too, the slice's
	// first TCP port. Slices without a matching port are skipped.
	Port int
	// PortName selects a named port of the slices when Port is zero.
	PortName string
	// NodeBasename, when set, names each peer NodeBasename@IP; when empty,
	// peers have no name.
	NodeBasename string

	// APIServer is the API server's base URL. Empty means
	// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, read when
	// the strategy is created.
	APIServer string
	// TokenFile holds the bearer token; empty means DefaultTokenFile. It is
	// read again for every request, so a rotated token is used as soon as
	// the kubelet writes it.
	TokenFile string
	// CAFile holds the PEM certificates that sign the API server's
	// certificate; empty means DefaultCAFile. It is read once, when the
	// strategy is created. Ignored when HTTPClient is set.
	CAFile string
	// NamespaceFile holds the pod's namespace; empty means
	// DefaultNamespaceFile. Read only when Namespace is empty.
	NamespaceFile string
	// HTTPClient, when set, sends the requests instead of a client built
	// over CAFile. Its idle connections are closed by Close.
	HTTPClient *http.Client
	// MaxResponseBytes bounds one page of the answer; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// PageSize is the number of slices asked for per request (the limit
	// parameter); zero means DefaultPageSize.
	PageSize int
}

// Validate reports a configuration error, wrapping ErrInvalidConfig.
func (c KubernetesConfig) Validate() error {
	if err := validateK8sName("service", c.Service); err != nil {
		return fmt.Errorf("%w: kube: %s", ErrInvalidConfig, err)
	}
	if c.Namespace != "" {
		if err := validateK8sName("namespace", c.Namespace); err != nil {
			return fmt.Errorf("%w: kube: %s", ErrInvalidConfig, err)
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("%w: kube: port %d is not in 1..65535", ErrInvalidConfig, c.Port)
	}
	if c.Port != 0 && c.PortName != "" {
		return fmt.Errorf("%w: kube: both port %d and port name %q set", ErrInvalidConfig, c.Port, c.PortName)
	}
	if c.PortName != "" {
		if err := validatePortName(c.PortName); err != nil {
			return fmt.Errorf("%w: kube: %s", ErrInvalidConfig, err)
		}
	}
	if err := validateBasename(c.NodeBasename); err != nil {
		return fmt.Errorf("%w: kube: %s", ErrInvalidConfig, err)
	}
	if c.APIServer != "" {
		u, err := url.Parse(c.APIServer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: kube: API server %q is not an http(s) URL", ErrInvalidConfig, c.APIServer)
		}
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("%w: kube: negative MaxResponseBytes", ErrInvalidConfig)
	}
	if c.PageSize < 0 {
		return fmt.Errorf("%w: kube: negative PageSize", ErrInvalidConfig)
	}
	return nil
}

// Kubernetes discovers peers from the EndpointSlices of a Service through the
// Kubernetes API, without client-go. Only ready endpoints (condition ready
// true or unset) of IPv4 and IPv6 slices become peers. Any answer other than
// 200 OK with a well-formed EndpointSliceList is an error: a 401 or 403 is
// never taken for an empty cluster.
//
// Kubernetes holds idle HTTP connections; Close releases them.
type Kubernetes struct {
	cfg      KubernetesConfig
	base     string
	client   *http.Client
	closeFn  func()
	limit    int64
	pageSize int
}

var _ Strategy = (*Kubernetes)(nil)
var _ io.Closer = (*Kubernetes)(nil)

// NewKubernetes returns a Kubernetes strategy. It reads the environment, the
// namespace file and the CA file now, as far as cfg leaves them to defaults;
// the token is read for each request.
func NewKubernetes(cfg KubernetesConfig) (*Kubernetes, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TokenFile == "" {
		cfg.TokenFile = DefaultTokenFile
	}
	if cfg.Namespace == "" {
		file := cfg.NamespaceFile
		if file == "" {
			file = DefaultNamespaceFile
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: kube: no namespace given and cannot read %s: %v", ErrInvalidConfig, file, err)
		}
		cfg.Namespace = strings.TrimSpace(string(b))
		if err := validateK8sName("namespace", cfg.Namespace); err != nil {
			return nil, fmt.Errorf("%w: kube: %s: %s", ErrInvalidConfig, file, err)
		}
	}
	base := cfg.APIServer
	if base == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, fmt.Errorf("%w: kube: no API server given and KUBERNETES_SERVICE_HOST/PORT are not set (not in a pod?)", ErrInvalidConfig)
		}
		base = "https://" + net.JoinHostPort(host, port)
	}
	k := &Kubernetes{cfg: cfg, base: strings.TrimSuffix(base, "/"), limit: cfg.MaxResponseBytes, pageSize: cfg.PageSize}
	if k.limit == 0 {
		k.limit = DefaultMaxResponseBytes
	}
	if k.pageSize == 0 {
		k.pageSize = DefaultPageSize
	}
	if cfg.HTTPClient != nil {
		k.client = cfg.HTTPClient
		k.closeFn = cfg.HTTPClient.CloseIdleConnections
		return k, nil
	}
	caFile := cfg.CAFile
	if caFile == "" {
		caFile = DefaultCAFile
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: kube: cannot read CA file: %v", ErrInvalidConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: kube: no PEM certificate in %s", ErrInvalidConfig, caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	k.client = &http.Client{Transport: tr}
	k.closeFn = tr.CloseIdleConnections
	return k, nil
}

// Close releases idle connections to the API server. It is idempotent;
// Discover may still be called afterwards and opens new ones.
func (k *Kubernetes) Close() error {
	k.closeFn()
	return nil
}

// String returns the strategy in the kube: spec syntax.
func (k *Kubernetes) String() string { return Spec{Kind: KindKubernetes, Kubernetes: k.cfg}.String() }

// Discover lists the Service's EndpointSlices, following continue tokens,
// and returns one peer per ready address. When a later page fails, the
// peers of the earlier pages are returned with the error.
func (k *Kubernetes) Discover(ctx context.Context) ([]Peer, error) {
	sel := portSelector{port: k.cfg.Port, name: k.cfg.PortName}
	var peers []Peer
	cont := ""
	for range maxPages {
		page, next, err := k.page(ctx, cont, sel)
		peers = append(peers, page...)
		if err != nil {
			return sortPeers(peers), err
		}
		if next == "" {
			return sortPeers(peers), nil
		}
		cont = next
	}
	return sortPeers(peers), fmt.Errorf("%w: more than %d pages of EndpointSlices", ErrKubernetes, maxPages)
}

func (k *Kubernetes) page(ctx context.Context, cont string, sel portSelector) ([]Peer, string, error) {
	q := url.Values{}
	q.Set("labelSelector", "kubernetes.io/service-name="+k.cfg.Service)
	q.Set("limit", strconv.Itoa(k.pageSize))
	if cont != "" {
		q.Set("continue", cont)
	}
	u := k.base + "/apis/discovery.k8s.io/v1/namespaces/" + url.PathEscape(k.cfg.Namespace) + "/endpointslices?" + q.Encode()
	token, err := os.ReadFile(k.cfg.TokenFile)
	if err != nil {
		return nil, "", fmt.Errorf("%w: reading token: %v", ErrKubernetes, err)
	}
	tok := strings.TrimSpace(string(token))
	if tok == "" {
		return nil, "", fmt.Errorf("%w: token file %s is empty", ErrKubernetes, k.cfg.TokenFile)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrKubernetes, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrKubernetes, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, "", &APIError{StatusCode: resp.StatusCode, URL: u, Message: statusMessage(body)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: reading answer: %w", ErrKubernetes, err)
	}
	if int64(len(body)) > k.limit {
		return nil, "", fmt.Errorf("%w: answer larger than %d bytes", ErrKubernetes, k.limit)
	}
	return decodeEndpointSlices(body, sel, k.cfg.NodeBasename)
}

// statusMessage extracts the message of a Kubernetes Status object, or
// returns the start of the body.
func statusMessage(body []byte) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
}

// portSelector picks the port of a slice: port when non-zero, else the port
// called name, else the first TCP port.
type portSelector struct {
	port int
	name string
}

// The parts of discovery.k8s.io/v1 EndpointSliceList that discovery reads.
type endpointSliceList struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items *[]endpointSlice `json:"items"`
}

type endpointSlice struct {
	AddressType string `json:"addressType"`
	Endpoints   []struct {
		Addresses  []string `json:"addresses"`
		Conditions struct {
			Ready *bool `json:"ready"`
		} `json:"conditions"`
	} `json:"endpoints"`
	Ports []struct {
		Name     *string `json:"name"`
		Port     *int32  `json:"port"`
		Protocol *string `json:"protocol"`
	} `json:"ports"`
}

// decodeEndpointSlices decodes one page of an EndpointSliceList and returns
// the peers of its ready endpoints and the continue token. Endpoints of
// FQDN slices, unparsable addresses and slices without a matching port are
// skipped; a body that is not an EndpointSliceList is an error.
func decodeEndpointSlices(body []byte, sel portSelector, basename string) ([]Peer, string, error) {
	var list endpointSliceList
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&list); err != nil {
		return nil, "", fmt.Errorf("%w: decoding EndpointSliceList: %v", ErrKubernetes, err)
	}
	if dec.More() {
		return nil, "", fmt.Errorf("%w: decoding EndpointSliceList: data after the object", ErrKubernetes)
	}
	if list.Kind != "" && list.Kind != "EndpointSliceList" {
		return nil, "", fmt.Errorf("%w: answer is a %q, not an EndpointSliceList", ErrKubernetes, list.Kind)
	}
	if list.Items == nil {
		return nil, "", fmt.Errorf("%w: answer has no items", ErrKubernetes)
	}
	var peers []Peer
	for _, s := range *list.Items {
		if s.AddressType != "IPv4" && s.AddressType != "IPv6" {
			continue
		}
		port := sel.port
		if port == 0 {
			for _, p := range s.Ports {
				if p.Port == nil || *p.Port < 1 || *p.Port > 65535 {
					continue
				}
				if sel.name != "" {
					if p.Name != nil && *p.Name == sel.name {
						port = int(*p.Port)
						break
					}
					continue
				}
				if p.Protocol == nil || *p.Protocol == "TCP" {
					port = int(*p.Port)
					break
				}
			}
		}
		if port == 0 {
			continue
		}
		ps := strconv.Itoa(port)
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip := net.ParseIP(a)
				if ip == nil || (s.AddressType == "IPv4") != (ip.To4() != nil) {
					continue
				}
				host := ip.String()
				peers = append(peers, Peer{Name: nodeName(basename, host), Addr: net.JoinHostPort(host, ps)})
			}
		}
	}
	return peers, list.Metadata.Continue, nil
}

// validateK8sName accepts an RFC 1123 label: 1..63 lowercase letters, digits
// and '-', starting and ending with a letter or digit.
func validateK8sName(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if len(s) > 63 {
		return fmt.Errorf("%s name %q is longer than 63 bytes", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' && i > 0 && i < len(s)-1)
		if !ok {
			return fmt.Errorf("%s name %q is not a lowercase RFC 1123 label", what, s)
		}
	}
	return nil
}

// validatePortName accepts a Kubernetes port name: 1..15 lowercase letters,
// digits and '-', with at least one letter.
func validatePortName(s string) error {
	if s == "" || len(s) > 15 {
		return fmt.Errorf("port name %q is not 1..15 characters", s)
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return fmt.Errorf("port name %q has the character %q", s, c)
		}
	}
	if !letter {
		return fmt.Errorf("port name %q has no letter", s)
	}
	return nil
}
