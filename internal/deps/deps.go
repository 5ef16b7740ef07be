//go:build tools

// Package deps pins the project's dependencies before their first use.
package deps

import (
	_ "github.com/anishathalye/porcupine"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/miekg/dns"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/goleak"
	_ "pgregory.net/rapid"
)
