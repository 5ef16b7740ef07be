package crdt

import (
	"github.com/fxamacker/cbor/v2"
	"github.com/grovedev/grove/vclock"
)

// EWFlag is an enable-wins flag: a boolean that starts disabled, where an
// Enable concurrent with a Disable wins.
//
// The zero value is a disabled flag ready to use. An EWFlag is not safe for
// concurrent use.
type EWFlag struct{ f flag }

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
