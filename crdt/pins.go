package crdt

// Every type is a State and a Lattice of itself.
var (
	_ State               = (*GCounter)(nil)
	_ Lattice[*GCounter]  = (*GCounter)(nil)
	_ State               = (*PNCounter)(nil)
	_ Lattice[*PNCounter] = (*PNCounter)(nil)

	_ Lattice[*GSet[string]]        = (*GSet[string])(nil)
	_ Lattice[*TwoPSet[string]]     = (*TwoPSet[string])(nil)
	_ Lattice[*LWWRegister[string]] = (*LWWRegister[string])(nil)

	_ Causal[*ORSet[string]]                          = (*ORSet[string])(nil)
	_ Causal[*MVRegister[string]]                     = (*MVRegister[string])(nil)
	_ Causal[*EWFlag]                                 = (*EWFlag)(nil)
	_ Causal[*DWFlag]                                 = (*DWFlag)(nil)
	_ Causal[*AWLWWMap[string, string]]               = (*AWLWWMap[string, string])(nil)
	_ Causal[*ORMap[string, *ORSet[string]]]          = (*ORMap[string, *ORSet[string]])(nil)
	_ Causal[*ORMap[string, *ORMap[string, *EWFlag]]] = (*ORMap[string, *ORMap[string, *EWFlag]])(nil)
)
