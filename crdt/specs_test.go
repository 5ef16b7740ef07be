package crdt

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/grovedev/grove/hlc"
	"pgregory.net/rapid"
)

// liveAdds returns the operations of kinds adds that no operation of kinds
// removes on the same key and element has observed.
func liveAdds(ops []opRecord, adds, removes map[string]bool, sameTarget func(a, r opRecord) bool) []opRecord {
	var live []opRecord
	for _, a := range ops {
		if !adds[a.kind] {
			continue
		}
		alive := true
		for _, r := range ops {
			if removes[r.kind] && sameTarget(a, r) && r.observed(a) {
				alive = false
				break
			}
		}
		if alive {
			live = append(live, a)
		}
	}
	return live
}

func sameElem(a, r opRecord) bool       { return r.kind == "clear" || a.elem == r.elem }
func sameKey(a, r opRecord) bool        { return a.key == r.key }
func anyTarget(opRecord, opRecord) bool { return true }

var set = func(kinds ...string) map[string]bool {
	m := make(map[string]bool)
	for _, k := range kinds {
		m[k] = true
	}
	return m
}

func TestGCounterProperties(t *testing.T) {
	checkSpec(t, spec[*GCounter]{
		name:  "gcounter",
		empty: NewGCounter,
		op: func(t *rapid.T, r *GCounter, node string, _ hlc.Timestamp) (*GCounter, opRecord) {
			n := rapid.Uint64Range(0, 10).Draw(t, "n")
			return r.Increment(node, n), opRecord{kind: "inc", n: n}
		},
		value: func(c *GCounter) string { return strconv.FormatUint(c.Value(), 10) },
		model: func(ops []opRecord) string {
			var sum uint64
			for _, o := range ops {
				sum += o.n
			}
			return strconv.FormatUint(sum, 10)
		},
	})
}

func TestPNCounterProperties(t *testing.T) {
	checkSpec(t, spec[*PNCounter]{
		name:  "pncounter",
		empty: NewPNCounter,
		op: func(t *rapid.T, r *PNCounter, node string, _ hlc.Timestamp) (*PNCounter, opRecord) {
			n := rapid.Uint64Range(0, 10).Draw(t, "n")
			if rapid.Bool().Draw(t, "up") {
				return r.Increment(node, n), opRecord{kind: "inc", n: n}
			}
			return r.Decrement(node, n), opRecord{kind: "dec", n: n}
		},
		value: func(c *PNCounter) string { return strconv.FormatInt(c.Value(), 10) },
		model: func(ops []opRecord) string {
			var sum int64
			for _, o := range ops {
				if o.kind == "inc" {
					sum += int64(o.n)
				} else {
					sum -= int64(o.n)
				}
			}
			return strconv.FormatInt(sum, 10)
		},
	})
}

func TestGSetProperties(t *testing.T) {
	checkSpec(t, spec[*GSet[string]]{
		name:  "gset",
		empty: NewGSet[string],
		op: func(t *rapid.T, r *GSet[string], _ string, _ hlc.Timestamp) (*GSet[string], opRecord) {
			e := genElem.Draw(t, "e")
			return r.Add(e), opRecord{kind: "add", elem: e}
		},
		value: func(s *GSet[string]) string { return sortedJoin(s.Elements()) },
		model: func(ops []opRecord) string {
			m := map[string]bool{}
			for _, o := range ops {
				m[o.elem] = true
			}
			return keysOf(m)
		},
	})
}

func TestTwoPSetProperties(t *testing.T) {
	checkSpec(t, spec[*TwoPSet[string]]{
		name:  "2pset",
		empty: NewTwoPSet[string],
		op: func(t *rapid.T, r *TwoPSet[string], _ string, _ hlc.Timestamp) (*TwoPSet[string], opRecord) {
			e := genElem.Draw(t, "e")
			if rapid.IntRange(0, 3).Draw(t, "kind") > 0 {
				return r.Add(e), opRecord{kind: "add", elem: e}
			}
			return r.Remove(e), opRecord{kind: "remove", elem: e}
		},
		value: func(s *TwoPSet[string]) string { return sortedJoin(s.Elements()) },
		model: func(ops []opRecord) string {
			added, removed := map[string]bool{}, map[string]bool{}
			for _, o := range ops {
				if o.kind == "add" {
					added[o.elem] = true
				} else {
					removed[o.elem] = true
				}
			}
			for e := range removed {
				delete(added, e)
			}
			return keysOf(added)
		},
	})
}

func TestORSetProperties(t *testing.T) {
	checkSpec(t, spec[*ORSet[string]]{
		name:  "orset",
		empty: NewORSet[string],
		op:    orsetOp,
		value: func(s *ORSet[string]) string { return sortedJoin(s.Elements()) },
		model: orsetModel,
	})
}

func orsetOp(t *rapid.T, r *ORSet[string], node string, _ hlc.Timestamp) (*ORSet[string], opRecord) {
	e := genElem.Draw(t, "e")
	switch rapid.IntRange(0, 5).Draw(t, "kind") {
	case 0, 1, 2:
		d := r.Add(node, e)
		return d, opRecord{kind: "add", elem: e, dot: d.entries[e].sortedDots()[0]}
	case 3, 4:
		return r.Remove(e), opRecord{kind: "remove", elem: e}
	default:
		return r.Clear(), opRecord{kind: "clear"}
	}
}

// orsetModel: an element is in the set if some add of it was observed by
// no later operation on it (remove, clear, or an add that replaces it):
// add wins over concurrent removes. Observed means in the issuer's causal
// context, which deltas do not close transitively, hence the adds.
func orsetModel(ops []opRecord) string {
	m := map[string]bool{}
	for _, a := range liveAdds(ops, set("add"), set("add", "remove", "clear"), sameElem) {
		m[a.elem] = true
	}
	return keysOf(m)
}

func TestLWWRegisterProperties(t *testing.T) {
	checkSpec(t, spec[*LWWRegister[int]]{
		name:  "lwwregister",
		empty: NewLWWRegister[int],
		op: func(t *rapid.T, r *LWWRegister[int], node string, ts hlc.Timestamp) (*LWWRegister[int], opRecord) {
			v := rapid.IntRange(0, 9).Draw(t, "v")
			return r.Set(node, v, ts), opRecord{kind: "set", n: uint64(v)}
		},
		value: func(r *LWWRegister[int]) string {
			v, ok := r.Value()
			return fmt.Sprint(v, ok)
		},
		model: func(ops []opRecord) string {
			var best *opRecord
			for i := range ops {
				if best == nil || ops[i].stamp.Compare(best.stamp) > 0 {
					best = &ops[i]
				}
			}
			if best == nil {
				return fmt.Sprint(0, false)
			}
			return fmt.Sprint(int(best.n), true)
		},
	})
}

func TestMVRegisterProperties(t *testing.T) {
	checkSpec(t, spec[*MVRegister[int]]{
		name:  "mvregister",
		empty: NewMVRegister[int],
		op: func(t *rapid.T, r *MVRegister[int], node string, _ hlc.Timestamp) (*MVRegister[int], opRecord) {
			if rapid.IntRange(0, 4).Draw(t, "kind") == 0 {
				return r.Reset(), opRecord{kind: "reset"}
			}
			v := rapid.IntRange(0, 9).Draw(t, "v")
			d := r.Write(node, v)
			return d, opRecord{kind: "write", n: uint64(v), dot: d.values.sortedDots()[0]}
		},
		value: func(r *MVRegister[int]) string { return fmt.Sprint(r.Values()) },
		model: func(ops []opRecord) string {
			live := liveAdds(ops, set("write"), set("write", "reset"), anyTarget)
			// Values are ordered by dot, as Values documents.
			slicesSortByDot(live)
			vs := make([]int, 0, len(live))
			for _, o := range live {
				vs = append(vs, int(o.n))
			}
			return fmt.Sprint(vs)
		},
	})
}

func TestEWFlagProperties(t *testing.T) {
	checkSpec(t, spec[*EWFlag]{
		name:  "ewflag",
		empty: NewEWFlag,
		op: func(t *rapid.T, r *EWFlag, node string, _ hlc.Timestamp) (*EWFlag, opRecord) {
			if rapid.Bool().Draw(t, "enable") {
				d := r.Enable(node)
				return d, opRecord{kind: "enable", dot: d.f.dots.sortedDots()[0]}
			}
			return r.Disable(), opRecord{kind: "disable"}
		},
		value: func(x *EWFlag) string { return strconv.FormatBool(x.Value()) },
		model: func(ops []opRecord) string {
			return strconv.FormatBool(len(liveAdds(ops, set("enable"), set("enable", "disable"), anyTarget)) > 0)
		},
	})
}

func TestDWFlagProperties(t *testing.T) {
	checkSpec(t, spec[*DWFlag]{
		name:  "dwflag",
		empty: NewDWFlag,
		op: func(t *rapid.T, r *DWFlag, node string, _ hlc.Timestamp) (*DWFlag, opRecord) {
			if rapid.Bool().Draw(t, "disable") {
				d := r.Disable(node)
				return d, opRecord{kind: "disable", dot: d.f.dots.sortedDots()[0]}
			}
			return r.Enable(), opRecord{kind: "enable"}
		},
		value: func(x *DWFlag) string { return strconv.FormatBool(x.Value()) },
		model: func(ops []opRecord) string {
			return strconv.FormatBool(len(liveAdds(ops, set("disable"), set("enable", "disable"), anyTarget)) == 0)
		},
	})
}

func TestAWLWWMapProperties(t *testing.T) {
	checkSpec(t, spec[*AWLWWMap[string, int]]{
		name:  "awlwwmap",
		empty: NewAWLWWMap[string, int],
		op: func(t *rapid.T, m *AWLWWMap[string, int], node string, ts hlc.Timestamp) (*AWLWWMap[string, int], opRecord) {
			k := genKey.Draw(t, "k")
			if rapid.IntRange(0, 3).Draw(t, "kind") == 0 {
				return m.Remove(k), opRecord{kind: "remove", key: k}
			}
			v := rapid.IntRange(0, 9).Draw(t, "v")
			d := m.Set(node, k, v, ts)
			return d, opRecord{kind: "set", key: k, n: uint64(v), dot: d.entries[k].sortedDots()[0]}
		},
		value: func(m *AWLWWMap[string, int]) string {
			var kv []string
			for k, v := range m.All() {
				kv = append(kv, fmt.Sprintf("%s=%d", k, v))
			}
			return sortedJoin(kv)
		},
		model: func(ops []opRecord) string {
			best := map[string]opRecord{}
			for _, o := range liveAdds(ops, set("set"), set("set", "remove"), sameKey) {
				if b, ok := best[o.key]; !ok || o.stamp.Compare(b.stamp) > 0 {
					best[o.key] = o
				}
			}
			var kv []string
			for k, o := range best {
				kv = append(kv, fmt.Sprintf("%s=%d", k, o.n))
			}
			return sortedJoin(kv)
		},
	})
}

func TestORMapProperties(t *testing.T) {
	type M = ORMap[string, *ORSet[string]]
	checkSpec(t, spec[*M]{
		name:  "ormap",
		empty: NewORMap[string, *ORSet[string]],
		op: func(t *rapid.T, m *M, node string, ts hlc.Timestamp) (*M, opRecord) {
			k := genKey.Draw(t, "k")
			if rapid.IntRange(0, 4).Draw(t, "kind") == 0 {
				return m.Remove(k), opRecord{kind: "remove-key", key: k}
			}
			var rec opRecord
			d := m.Update(k, func(s *ORSet[string]) *ORSet[string] {
				d, r := orsetOp(t, s, node, ts)
				rec = r
				return d
			})
			rec.key = k
			return d, rec
		},
		value: func(m *M) string {
			var kv []string
			for k, s := range m.All() {
				kv = append(kv, k+"="+sortedJoin(s.Elements()))
			}
			return sortedJoin(kv)
		},
		model: func(ops []opRecord) string {
			sameKeyElem := func(a, r opRecord) bool {
				return a.key == r.key && (r.kind == "remove-key" || sameElem(a, r))
			}
			elems := map[string]map[string]bool{}
			for _, a := range liveAdds(ops, set("add"), set("add", "remove", "clear", "remove-key"), sameKeyElem) {
				if elems[a.key] == nil {
					elems[a.key] = map[string]bool{}
				}
				elems[a.key][a.elem] = true
			}
			var kv []string
			for k, es := range elems {
				kv = append(kv, k+"="+keysOf(es))
			}
			return sortedJoin(kv)
		},
	})
}

func keysOf(m map[string]bool) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return sortedJoin(ks)
}

func slicesSortByDot(ops []opRecord) {
	for i := 1; i < len(ops); i++ {
		for j := i; j > 0 && ops[j].dot.Compare(ops[j-1].dot) < 0; j-- {
			ops[j], ops[j-1] = ops[j-1], ops[j]
		}
	}
}

func TestORMapOfMVRegisterProperties(t *testing.T) {
	type M = ORMap[string, *MVRegister[int]]
	checkSpec(t, spec[*M]{
		name:  "ormap-mvregister",
		empty: NewORMap[string, *MVRegister[int]],
		op: func(t *rapid.T, m *M, node string, _ hlc.Timestamp) (*M, opRecord) {
			k := genKey.Draw(t, "k")
			switch rapid.IntRange(0, 4).Draw(t, "kind") {
			case 0:
				return m.Remove(k), opRecord{kind: "remove-key", key: k}
			case 1:
				return m.Update(k, (*MVRegister[int]).Reset), opRecord{kind: "reset", key: k}
			}
			v := rapid.IntRange(0, 9).Draw(t, "v")
			d := m.Update(k, func(r *MVRegister[int]) *MVRegister[int] { return r.Write(node, v) })
			return d, opRecord{kind: "write", key: k, n: uint64(v), dot: d.entries[k].values.sortedDots()[0]}
		},
		value: func(m *M) string {
			var kv []string
			for k, r := range m.All() {
				kv = append(kv, fmt.Sprintf("%s=%v", k, r.Values()))
			}
			return sortedJoin(kv)
		},
		model: func(ops []opRecord) string {
			live := liveAdds(ops, set("write"), set("write", "reset", "remove-key"), sameKey)
			slicesSortByDot(live)
			vals := map[string][]int{}
			for _, o := range live {
				vals[o.key] = append(vals[o.key], int(o.n))
			}
			var kv []string
			for k, vs := range vals {
				kv = append(kv, fmt.Sprintf("%s=%v", k, vs))
			}
			return sortedJoin(kv)
		},
	})
}
