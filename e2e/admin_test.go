package e2e

import (
	"net/http"
	"time"
)

// adminToken is the admin API's bearer token in the containers: a node
// whose admin API listens on all interfaces requires one.
const adminToken = "e2e-admin-token"

// adminClient returns an HTTP client that presents adminToken.
func adminClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: tokenTransport{http.DefaultTransport}}
}

type tokenTransport struct{ next http.RoundTripper }

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+adminToken)
	return t.next.RoundTrip(r)
}
