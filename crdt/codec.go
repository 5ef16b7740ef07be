package crdt

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// Decoding limits. Together with the input size, they bound the memory a
// decode can allocate: the decoder checks that the input holds every item
// it announces before allocating for it.
const (
	// MaxElements is the largest number of entries in any one collection
	// of an encoded state (elements, keys, dots, nodes).
	MaxElements = 1 << 20
	// MaxNesting is the deepest nesting of CBOR arrays and maps accepted,
	// including the values of the user's element types.
	MaxNesting = 32
	// MaxCounter is the largest dot counter accepted. No replica gets
	// near it by counting; a peer claiming more could make a replica's
	// next dot counter wrap around.
	MaxCounter = 1<<63 - 1
)

// Type codes, the first item of every encoding, so that decoding the
// bytes of one type as another fails.
const (
	codeGCounter uint8 = iota + 1
	codePNCounter
	codeGSet
	codeTwoPSet
	codeORSet
	codeLWWRegister
	codeMVRegister
	codeEWFlag
	codeDWFlag
	codeORMap
	codeAWLWWMap
)

var (
	encMode = mustEncMode(cbor.EncOptions{
		Sort:        cbor.SortCoreDeterministic,
		IndefLength: cbor.IndefLengthForbidden,
		Time:        cbor.TimeRFC3339Nano,
	})
	decMode = mustDecMode(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxElements,
		MaxMapPairs:       MaxElements,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	})
)

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// decode unmarshals data into v, reporting any failure as ErrMalformed.
func decode(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return malformed("%v", err)
	}
	return nil
}

// encodeSorted encodes each item and returns the encodings in bytewise
// order, so that collections whose order is undefined encode
// deterministically.
func encodeSorted[T any](items []T) ([]cbor.RawMessage, error) {
	out := make([]cbor.RawMessage, len(items))
	for i, it := range items {
		b, err := encMode.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("crdt: encode: %w", err)
		}
		out[i] = b
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i], out[j]) < 0 })
	return out, nil
}

// checkKey returns an error if k cannot be used as a map key. Only values
// of interface type can fail: a decoded slice or map is not comparable.
func checkKey[K comparable](k K) error {
	if t := reflect.TypeFor[K](); t.Kind() != reflect.Interface {
		return nil
	}
	if v := reflect.ValueOf(&k).Elem(); !v.IsNil() && !v.Elem().Comparable() {
		return malformed("element of type %v is not comparable", v.Elem().Type())
	}
	return nil
}

// wireDot is a dot on the wire: an index into the node table and a counter.
type wireDot struct {
	_       struct{} `cbor:",toarray"`
	Node    uint32
	Counter uint64
}

// wireContext is a causal context on the wire: the node table, the version
// vector as counters parallel to the table, and the cloud.
type wireContext struct {
	_     struct{} `cbor:",toarray"`
	Nodes []string
	VV    []uint64
	Cloud []wireDot
}

// dotEncoder turns dots into wire dots against a context's node table.
type dotEncoder struct {
	index map[string]uint32
}

// encodeContext returns the wire form of cc and an encoder for the dots of
// a store whose dots are all in cc.
func encodeContext(cc *vclock.CausalContext) (wireContext, *dotEncoder) {
	vv := cc.VersionVector()
	cloud := cc.Cloud()
	names := make(map[string]struct{}, len(vv))
	for n := range vv {
		names[n] = struct{}{}
	}
	for _, d := range cloud {
		names[d.Node] = struct{}{}
	}
	w := wireContext{Nodes: make([]string, 0, len(names))}
	for n := range names {
		w.Nodes = append(w.Nodes, n)
	}
	slices.Sort(w.Nodes)
	enc := &dotEncoder{index: make(map[string]uint32, len(w.Nodes))}
	w.VV = make([]uint64, len(w.Nodes))
	for i, n := range w.Nodes {
		enc.index[n] = uint32(i)
		w.VV[i] = vv[n]
	}
	w.Cloud = enc.dots(cloud)
	return w, enc
}

// dot encodes d. d must be in the context the encoder was made from.
func (e *dotEncoder) dot(d vclock.Dot) wireDot {
	return wireDot{Node: e.index[d.Node], Counter: d.Counter}
}

// dots encodes ds in Dot order.
func (e *dotEncoder) dots(ds []vclock.Dot) []wireDot {
	slices.SortFunc(ds, vclock.Dot.Compare)
	out := make([]wireDot, len(ds))
	for i, d := range ds {
		out[i] = e.dot(d)
	}
	return out
}

// dotDecoder checks and resolves wire dots against a decoded context: every
// dot must be in the context and appear at most once in the store.
type dotDecoder struct {
	nodes []string
	cc    *vclock.CausalContext
	seen  map[vclock.Dot]struct{}
}

// decodeContext validates w and returns the context and a decoder for the
// dots of the store that goes with it.
func decodeContext(w wireContext) (*vclock.CausalContext, *dotDecoder, error) {
	if len(w.VV) != len(w.Nodes) {
		return nil, nil, malformed("version vector has %d counters for %d nodes", len(w.VV), len(w.Nodes))
	}
	for i := 1; i < len(w.Nodes); i++ {
		if w.Nodes[i-1] >= w.Nodes[i] {
			return nil, nil, malformed("node table not sorted or has duplicates")
		}
	}
	vv := make(vclock.Clock, len(w.Nodes))
	for i, n := range w.Nodes {
		if w.VV[i] > MaxCounter {
			return nil, nil, malformed("counter %d of node %q too large", w.VV[i], n)
		}
		if w.VV[i] != 0 {
			vv[n] = w.VV[i]
		}
	}
	dec := &dotDecoder{nodes: w.Nodes, cc: vclock.NewCausalContext(vv, nil)}
	for _, wd := range w.Cloud {
		d, err := dec.resolve(wd)
		if err != nil {
			return nil, nil, err
		}
		dec.cc.Add(d)
	}
	dec.seen = make(map[vclock.Dot]struct{})
	return dec.cc, dec, nil
}

func (dec *dotDecoder) resolve(wd wireDot) (vclock.Dot, error) {
	if int(wd.Node) >= len(dec.nodes) {
		return vclock.Dot{}, malformed("dot node index %d out of range", wd.Node)
	}
	if wd.Counter == 0 || wd.Counter > MaxCounter {
		return vclock.Dot{}, malformed("dot counter %d out of range", wd.Counter)
	}
	return vclock.Dot{Node: dec.nodes[wd.Node], Counter: wd.Counter}, nil
}

// dot resolves a store dot: it must be in the context and new to the store.
func (dec *dotDecoder) dot(wd wireDot) (vclock.Dot, error) {
	d, err := dec.resolve(wd)
	if err != nil {
		return d, err
	}
	if !dec.cc.Contains(d) {
		return d, malformed("dot %v not in the causal context", d)
	}
	if _, dup := dec.seen[d]; dup {
		return d, malformed("dot %v appears twice", d)
	}
	dec.seen[d] = struct{}{}
	return d, nil
}
