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

// EWFlag is an enable-wins flag: a boolean that starts disabled, where an
// Enable concurrent with a Disable wins.
//
// The zero value is a disabled flag ready to use. An EWFlag is not safe for
// concurrent use.
type EWFlag struct{ f flag }

var _ Causal[*EWFlag] = (*EWFlag)(nil)

// NewEWFlag returns a disabled flag.
func NewEWFlag() *EWFlag { return &EWFlag{} }

// Enable enables the flag on behalf of replica node and returns the delta.
func (x *EWFlag) Enable(node string) *EWFlag { return &EWFlag{x.f.mark(node)} }

// Disable disables the flag, undoing the enables this replica has seen, and
// returns the delta.
func (x *EWFlag) Disable() *EWFlag { return &EWFlag{x.f.unmark()} }

// Value reports whether the flag is enabled.
func (x *EWFlag) Value() bool { return len(x.f.dots) > 0 }

// Merge joins other, a full state or a delta, into x.
func (x *EWFlag) Merge(other *EWFlag) { x.f.merge(&other.f) }

// Join merges other into x; other must be an *EWFlag.
func (x *EWFlag) Join(other State) error { return joinAs(x, other) }

// Clone returns an independent copy of x.
func (x *EWFlag) Clone() *EWFlag { return x.cloneStore(orEmpty(x.f.cc).Clone()) }

// Context returns a copy of the causal context.
func (x *EWFlag) Context() *vclock.CausalContext { return orEmpty(x.f.cc).Clone() }

// TypeName returns "ewflag".
func (x *EWFlag) TypeName() string { return "ewflag" }

// GC compacts the causal context against the stability frontier.
func (x *EWFlag) GC(stable vclock.Clock) { x.f.ctx().Stabilize(stable) }

// MarshalBinary encodes x.
func (x *EWFlag) MarshalBinary() ([]byte, error) { return marshalCausal(codeEWFlag, x, x.f.cc, nil) }

// UnmarshalBinary replaces x with the decoded state.
func (x *EWFlag) UnmarshalBinary(data []byte) error {
	v, _, err := unmarshalCausal[*EWFlag](codeEWFlag, data, false)
	if err == nil {
		*x = *v
	}
	return err
}

func (*EWFlag) empty() *EWFlag                          { return &EWFlag{} }
func (x *EWFlag) shareContext(cc *vclock.CausalContext) { x.f.cc = cc }
func (x *EWFlag) joinStore(o *EWFlag, sc, oc *vclock.CausalContext) {
	x.f.joinStore(&o.f, sc, oc)
}
func (x *EWFlag) isBottom() bool                                     { return len(x.f.dots) == 0 }
func (x *EWFlag) addDots(cc *vclock.CausalContext)                   { x.f.dots.addTo(cc) }
func (x *EWFlag) cloneStore(cc *vclock.CausalContext) *EWFlag        { return &EWFlag{x.f.cloneStore(cc)} }
func (x *EWFlag) encodeStore(enc *dotEncoder) (any, error)           { return x.f.encodeStore(enc) }
func (x *EWFlag) decodeStore(d *dotDecoder, r cbor.RawMessage) error { return x.f.decodeStore(d, r) }

// DWFlag is a disable-wins flag: a boolean where a Disable concurrent with
// an Enable wins. As in Almeida et al., it starts enabled: the state holds
// the dots of the disables not yet undone by an Enable that saw them, and
// the flag is enabled when there are none.
//
// The zero value is an enabled flag ready to use. A DWFlag is not safe for
// concurrent use.
type DWFlag struct{ f flag }

var _ Causal[*DWFlag] = (*DWFlag)(nil)

// NewDWFlag returns an enabled flag.
func NewDWFlag() *DWFlag { return &DWFlag{} }

// Disable disables the flag on behalf of replica node and returns the
// delta.
func (x *DWFlag) Disable(node string) *DWFlag { return &DWFlag{x.f.mark(node)} }

// Enable enables the flag, undoing the disables this replica has seen, and
// returns the delta.
func (x *DWFlag) Enable() *DWFlag { return &DWFlag{x.f.unmark()} }

// Value reports whether the flag is enabled.
func (x *DWFlag) Value() bool { return len(x.f.dots) == 0 }

// Merge joins other, a full state or a delta, into x.
func (x *DWFlag) Merge(other *DWFlag) { x.f.merge(&other.f) }

// Join merges other into x; other must be a *DWFlag.
func (x *DWFlag) Join(other State) error { return joinAs(x, other) }

// Clone returns an independent copy of x.
func (x *DWFlag) Clone() *DWFlag { return x.cloneStore(orEmpty(x.f.cc).Clone()) }

// Context returns a copy of the causal context.
func (x *DWFlag) Context() *vclock.CausalContext { return orEmpty(x.f.cc).Clone() }

// TypeName returns "dwflag".
func (x *DWFlag) TypeName() string { return "dwflag" }

// GC compacts the causal context against the stability frontier.
func (x *DWFlag) GC(stable vclock.Clock) { x.f.ctx().Stabilize(stable) }

// MarshalBinary encodes x.
func (x *DWFlag) MarshalBinary() ([]byte, error) { return marshalCausal(codeDWFlag, x, x.f.cc, nil) }

// UnmarshalBinary replaces x with the decoded state.
func (x *DWFlag) UnmarshalBinary(data []byte) error {
	v, _, err := unmarshalCausal[*DWFlag](codeDWFlag, data, false)
	if err == nil {
		*x = *v
	}
	return err
}

func (*DWFlag) empty() *DWFlag                          { return &DWFlag{} }
func (x *DWFlag) shareContext(cc *vclock.CausalContext) { x.f.cc = cc }
func (x *DWFlag) joinStore(o *DWFlag, sc, oc *vclock.CausalContext) {
	x.f.joinStore(&o.f, sc, oc)
}
func (x *DWFlag) isBottom() bool                                     { return len(x.f.dots) == 0 }
func (x *DWFlag) addDots(cc *vclock.CausalContext)                   { x.f.dots.addTo(cc) }
func (x *DWFlag) cloneStore(cc *vclock.CausalContext) *DWFlag        { return &DWFlag{x.f.cloneStore(cc)} }
func (x *DWFlag) encodeStore(enc *dotEncoder) (any, error)           { return x.f.encodeStore(enc) }
func (x *DWFlag) decodeStore(d *dotDecoder, r cbor.RawMessage) error { return x.f.decodeStore(d, r) }
