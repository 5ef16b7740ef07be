// Package handshake authenticates a new connection between two nodes and
// exchanges their identities before any frame flows.
//
// Two modes, which can be combined:
//
//   - Shared secret (the "cookie"), for connections without TLS: both
//     sides prove they know the secret with HMAC-SHA256, keyed by the
//     cookie stretched with PBKDF2 (200,000 rounds), over a transcript of
//     the exchange (protocol version, both node names, incarnations,
//     fresh 32-byte nonces and ephemeral X25519 keys). The secret never
//     crosses the wire, proofs are compared in constant time, each side's
//     proof is bound to its role, and the dialled side proves first. The
//     link is then encrypted: HKDF over the cookie key, the X25519 shared
//     secret and the transcript gives one AES-256-GCM key per direction,
//     and every record's nonce is its sequence number, so a modified,
//     replayed, reordered or injected record fails (ErrTampered).
//   - TLS 1.3 with mutual certificates (crypto/tls only): both sides
//     present a certificate signed by a trusted CA, and a node's certificate
//     must name the node with exactly one URI SAN "grove:<node name>" (see
//     NodeURI and CertName; DNS SANs are not used for node identity, since
//     node names such as "api@10.0.0.5" are not DNS names). The name a peer
//     claims in the exchange must be its certificate's. A certificate that
//     may sign certificates (CA:TRUE or the certSign key usage) never
//     identifies a node, and a chain in which a node's certificate signs
//     another is refused, so a node certificate issued with CA:TRUE by
//     mistake cannot mint certificates for other nodes. Certificates are
//     checked for validity dates and for the server or client extended key
//     usage of their side; TLS sessions are never resumed. With a secret
//     set too, the secret proofs run inside TLS.
//
// # Exchange
//
// The dialer (Client) and the acceptor (Server) exchange small
// length-prefixed messages:
//
//	client → server  hello      magic, version, flags, creation, features, nonce, key, name
//	server → client  challenge  version, flags, creation, features, nonce, key, name
//	server → client  proof      HMAC(K, "server" ‖ transcript)
//	client → server  proof      HMAC(K, "client" ‖ transcript), once the server's verified
//	server → client  accept
//
// where K is the stretched cookie (proofs are empty without one).
//
// Either side may answer with a refusal instead. The refused peer learns
// only that it was refused (ErrRefused); the refusing side returns a
// *RefusedError saying why: bad secret, untrusted certificate, name and
// certificate mismatch, version mismatch, duplicate name (decided by the
// Config.IsDuplicate callback, after authentication), or a malformed
// message. Every handshake is bounded by its context and Config.Timeout,
// so a peer that sends nothing cannot hang it.
//
// Node names are 1 to 255 bytes of ASCII letters, digits and "._-@:".
//
// # Usage
//
//	cfg := &handshake.Config{Name: "a@host1", Creation: c, Secret: cookie}
//	peer, err := handshake.Client(ctx, conn, cfg, "b@host2")
//	if err != nil { conn.Close(); ... }
//	// use peer.Conn from now on (it is the TLS connection with TLS on)
//
// and on the accepting side handshake.Server(ctx, conn, cfg). Package
// certs makes a throwaway CA and node certificates for tests and
// examples.
package handshake
