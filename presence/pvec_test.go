package presence

import (
	"fmt"
	"slices"
	"testing"

	"github.com/grovedev/grove/proc"

	"pgregory.net/rapid"
)

// The persistent vector against a slice: every version keeps its content.
func TestPVecModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type version struct {
			v    pvec
			want []int
		}
		var vs []version
		var v pvec
		var want []int
		for range rapid.IntRange(1, 3*pageSpan).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 6 || len(want) == 0:
				x := rapid.Int().Draw(t, "x")
				v, want = v.Push(Presence{Meta: x}), append(want, x)
			case op < 8:
				i := rapid.IntRange(0, len(want)-1).Draw(t, "i")
				x := rapid.Int().Draw(t, "x")
				v = v.Set(i, Presence{Meta: x})
				want = slices.Clone(want)
				want[i] = x
			default:
				v, want = v.Pop(), want[:len(want)-1]
			}
			if rapid.IntRange(0, 20).Draw(t, "keep") == 0 {
				vs = append(vs, version{v, slices.Clone(want)})
			}
		}
		vs = append(vs, version{v, want})
		for k, ver := range vs {
			var got []int
			for _, p := range ver.v.AppendTo(nil) {
				got = append(got, p.Meta.(int))
			}
			if ver.v.Len() != len(ver.want) || !slices.Equal(got, ver.want) {
				t.Fatalf("version %d: len %d, got %v, want %v", k, ver.v.Len(), got, ver.want)
			}
			for i, x := range ver.want {
				if ver.v.Get(i).Meta != x {
					t.Fatalf("version %d: Get(%d) = %v, want %d", k, i, ver.v.Get(i).Meta, x)
				}
			}
			n := 0
			ver.v.Each(func(Presence) bool { n++; return true })
			if n != len(ver.want) {
				t.Fatalf("version %d: Each saw %d", k, n)
			}
		}
	})
}

// A topic's views against a model map: List, Range, Get and the counts
// agree with it after any sequence of sets and deletes.
func TestViewsModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := newViews()
		model := map[pkey]Presence{}
		pid := func(i int) proc.PID { return proc.PID{Node: "n", Creation: 1, ID: uint64(i)} }
		for range rapid.IntRange(1, 300).Draw(t, "steps") {
			k := pkey{Key: fmt.Sprint(rapid.IntRange(0, 20).Draw(t, "key")), PID: pid(rapid.IntRange(1, 5).Draw(t, "pid"))}
			if rapid.IntRange(0, 2).Draw(t, "op") == 0 {
				_, had := model[k]
				_, ok := v.del("t", k.Key, k.PID)
				if ok != had {
					t.Fatalf("del %v: %v, model %v", k, ok, had)
				}
				delete(model, k)
			} else {
				p := Presence{Topic: "t", Key: k.Key, PID: k.PID, Meta: rapid.Int().Draw(t, "meta")}
				v.set(p)
				model[k] = p
			}
			st := v.load("t")
			var got []Presence
			if st != nil {
				got = st.list()
			}
			if len(got) != len(model) || (st != nil && st.count != len(model)) {
				t.Fatalf("list of %d, model %d", len(got), len(model))
			}
			for _, p := range got {
				if m, ok := model[pkey{p.Key, p.PID}]; !ok || m != p {
					t.Fatalf("listed %+v, model %+v", p, m)
				}
			}
			if st != nil {
				keys := map[string]int{}
				for k := range model {
					keys[k.Key]++
				}
				if st.keys.Len() != len(keys) {
					t.Fatalf("%d keys, model %d", st.keys.Len(), len(keys))
				}
				for key, n := range keys {
					if ps, _ := st.keys.Get(v.hash(key), key); len(ps) != n {
						t.Fatalf("key %s: %d presences, model %d", key, len(ps), n)
					}
				}
			}
		}
	})
}
