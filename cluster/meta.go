package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/memberlist"
)

// Meta describes a member to the others: where it runs and what it does.
// It travels in memberlist's node metadata, which is limited to
// memberlist.MetaMaxSize (512) bytes together with the member's address
// and incarnation; a larger Meta is refused with ErrMetaTooLarge.
type Meta struct {
	Region string            // e.g. "eu-west-1"
	Zone   string            // e.g. "eu-west-1b"
	Roles  []string          // e.g. "api", "worker"; kept sorted
	Tags   map[string]string // free-form labels
}

// Equal reports whether m and o describe the same thing.
func (m Meta) Equal(o Meta) bool {
	return m.Region == o.Region && m.Zone == o.Zone && slices.Equal(m.Roles, o.Roles) && maps.Equal(m.Tags, o.Tags)
}

// HasRole reports whether m lists role.
func (m Meta) HasRole(role string) bool { return slices.Contains(m.Roles, role) }

// clone returns a deep copy with the roles sorted and deduplicated.
func (m Meta) clone() Meta {
	out := Meta{Region: m.Region, Zone: m.Zone}
	if len(m.Roles) > 0 {
		out.Roles = slices.Clone(m.Roles)
		slices.Sort(out.Roles)
		out.Roles = slices.Compact(out.Roles)
	}
	if len(m.Tags) > 0 {
		out.Tags = maps.Clone(m.Tags)
	}
	return out
}

// wireMeta is what a member gossips about itself.
type wireMeta struct {
	Creation    uint64 // the node runtime's incarnation (as in its PIDs)
	Incarnation uint64 // Creation at start, raised by every UpdateMeta
	Addr        string // the Grove node address to connect to
	Meta        Meta
}

const metaVersion = 1

// errBadMeta is the error of undecodable metadata.
var errBadMeta = errors.New("cluster: malformed member metadata")

// encode returns the wire form: a version byte, uvarints and
// length-prefixed strings, with roles sorted and tags ordered by key so that
// equal metadata gives equal bytes (memberlist compares them).
func (w wireMeta) encode() ([]byte, error) {
	b := []byte{metaVersion}
	b = binary.AppendUvarint(b, w.Creation)
	b = binary.AppendUvarint(b, w.Incarnation)
	b = appendString(b, w.Addr)
	b = appendString(b, w.Meta.Region)
	b = appendString(b, w.Meta.Zone)
	roles := slices.Clone(w.Meta.Roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	b = binary.AppendUvarint(b, uint64(len(roles)))
	for _, r := range roles {
		b = appendString(b, r)
	}
	keys := slices.Sorted(maps.Keys(w.Meta.Tags))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, w.Meta.Tags[k])
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeMeta parses the wire form, refusing anything malformed or longer
// than memberlist allows.
func decodeMeta(b []byte) (wireMeta, error) {
	var w wireMeta
	if len(b) == 0 || len(b) > memberlist.MetaMaxSize || b[0] != metaVersion {
		return w, errBadMeta
	}
	r := reader{b: b[1:]}
	w.Creation = r.uvarint()
	w.Incarnation = r.uvarint()
	w.Addr = r.string()
	w.Meta.Region = r.string()
	w.Meta.Zone = r.string()
	if n := r.uvarint(); n > 0 && r.err == nil {
		if n > uint64(len(r.b)) {
			return w, errBadMeta
		}
		w.Meta.Roles = make([]string, 0, n)
		for range n {
			w.Meta.Roles = append(w.Meta.Roles, r.string())
		}
	}
	if n := r.uvarint(); n > 0 && r.err == nil {
		if n > uint64(len(r.b)) {
			return w, errBadMeta
		}
		w.Meta.Tags = make(map[string]string, n)
		for range n {
			k := r.string()
			w.Meta.Tags[k] = r.string()
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return wireMeta{}, errBadMeta
	}
	return w, nil
}

// reader decodes uvarints and strings, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadMeta
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errBadMeta
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
