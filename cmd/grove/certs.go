package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grovedev/grove/node/certs"
	"github.com/spf13/cobra"
)

func newCertsCmd() *cobra.Command {
	var dir string
	var validity time.Duration
	var hosts []string
	var force bool
	cmd := &cobra.Command{
		Use:   "certs NAME...",
		Short: "Create a cluster CA (once) and certificates for nodes, for mutual TLS",
		Long: `certs makes the certificates mutual TLS needs. The first run creates a CA in --dir
(ca.pem, and ca-key.pem of mode 0600: keep it safe, it can vouch for any node); each NAME
(a node name, name@host) gets NAME.pem and NAME-key.pem, signed by that CA, whose URI SAN
grove:NAME is the identity nodes check. The host part of the name is added as an IP or DNS
SAN, and --host adds more. Start each node with
  --tls-cert DIR/NAME.pem --tls-key DIR/NAME-key.pem --tls-ca DIR/ca.pem`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			return runCerts(cmd.OutOrStdout(), dir, names, hosts, validity, force)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "certs", "directory of the CA and the certificates")
	f.DurationVar(&validity, "validity", 365*24*time.Hour, "how long new certificates (and a new CA, ten times as long) are valid")
	f.StringSliceVar(&hosts, "host", nil, "extra DNS name or IP address for the certificates (repeatable)")
	f.BoolVar(&force, "force", false, "replace a node's existing certificate")
	return cmd
}

func runCerts(out io.Writer, dir string, names, hosts []string, validity time.Duration, force bool) error {
	if validity <= 0 {
		return fmt.Errorf("--validity %v must be positive", validity)
	}
	for _, n := range names {
		if err := validNodeName(n); err != nil {
			return err
		}
	}
	ca, err := certs.LoadCA(dir)
	switch {
	case err == nil:
		fmt.Fprintf(out, "using the CA in %s\n", filepath.Join(dir, certs.CAFile))
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(filepath.Join(dir, certs.CAKeyFile)); serr == nil {
			return err // a key without its certificate: do not make a second CA beside it
		}
		if ca, err = certs.NewCAFor("grove cluster CA", 10*validity); err != nil {
			return err
		}
		if err := ca.Save(dir); err != nil {
			return err
		}
		fmt.Fprintf(out, "created a CA: %s (key %s, keep it safe)\n", filepath.Join(dir, certs.CAFile), filepath.Join(dir, certs.CAKeyFile))
	default:
		return err
	}
	for _, n := range names {
		cf, kf := certs.NodeFiles(n)
		if _, err := os.Stat(filepath.Join(dir, cf)); err == nil && !force {
			return fmt.Errorf("%s exists (use --force to replace it)", filepath.Join(dir, cf))
		}
		opts := certs.IssueOptions{Validity: validity}
		_, host, _ := strings.Cut(n, "@")
		for _, h := range append([]string{host}, hosts...) {
			if ip := net.ParseIP(h); ip != nil {
				opts.IPs = append(opts.IPs, ip)
			} else if h != "" {
				opts.DNSNames = append(opts.DNSNames, h)
			}
		}
		if err := ca.WriteNode(dir, n, opts); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: --tls-cert %s --tls-key %s --tls-ca %s\n", n,
			filepath.Join(dir, cf), filepath.Join(dir, kf), filepath.Join(dir, certs.CAFile))
	}
	return nil
}

// validNodeName accepts the node names the handshake accepts, and refuses
// ones that would make a file name leave the directory.
func validNodeName(n string) error {
	if n == "" || len(n) > 255 || strings.HasPrefix(n, ".") {
		return fmt.Errorf("node name %q: want 1 to 255 of a-z A-Z 0-9 . _ - @ :, not starting with a dot", n)
	}
	for _, c := range n {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("._-@:", c) {
			continue
		}
		return fmt.Errorf("node name %q has a forbidden character %q", n, c)
	}
	return nil
}
