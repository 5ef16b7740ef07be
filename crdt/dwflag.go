package crdt

import (
	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// DWFlag is a disable-wins flag: a boolean where a Disable concurrent with
// an Enable wins. As in Almeida et al., it starts enabled: the state holds
// the dots of the disables not yet undone by an Enable that saw them, and
// the flag is enabled when there are none.
//
// The zero value is an enabled flag ready to use. A DWFlag is not safe for
// concurrent use.
type DWFlag struct{ f flag }

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
