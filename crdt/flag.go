package crdt

import (
	"maps"

	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// flag is the dot store shared by EWFlag and DWFlag: the dots of the
// operations that win, not yet undone by an operation that saw them.
type flag struct {
	dots dotSet
	cc   *vclock.CausalContext
}

func (f *flag) ctx() *vclock.CausalContext {
	if f.cc == nil {
		f.cc = new(vclock.CausalContext)
	}
	return f.cc
}

// mark records a winning operation of node, replacing the ones seen, and
// returns the delta.
func (f *flag) mark(node string) flag {
	d := f.ctx().Next(node)
	dc := new(vclock.CausalContext)
	dc.Add(d)
	f.dots.addTo(dc)
	f.dots = singleDot(d)
	return flag{dots: singleDot(d), cc: dc}
}

// unmark undoes the winning operations seen and returns the delta.
func (f *flag) unmark() flag {
	dc := new(vclock.CausalContext)
	f.dots.addTo(dc)
	f.dots = nil
	return flag{cc: dc}
}

func (f *flag) merge(other *flag) {
	f.joinStore(other, orEmpty(f.cc), orEmpty(other.cc))
	f.ctx().Merge(other.cc)
}

func (f *flag) joinStore(other *flag, sc, oc *vclock.CausalContext) {
	f.dots = joinDotFun(f.dots, sc, other.dots, oc)
	if len(f.dots) == 0 {
		f.dots = nil
	}
}

func (f *flag) cloneStore(cc *vclock.CausalContext) flag {
	return flag{dots: maps.Clone(f.dots), cc: cc}
}

func (f *flag) encodeStore(enc *dotEncoder) (any, error) { return encodeDotSet(enc, f.dots), nil }

func (f *flag) decodeStore(dec *dotDecoder, raw cbor.RawMessage) error {
	var ws []wireDot
	if err := decode(raw, &ws); err != nil {
		return err
	}
	ds, err := decodeDotSet(dec, ws)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		ds = nil
	}
	f.dots = ds
	return nil
}
