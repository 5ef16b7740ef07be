package crdt

import (
	"slices"
	"testing"
)

func TestORMapUpdateWinsOverConcurrentRemove(t *testing.T) {
	type inner = ORMap[string, *MVRegister[string]]
	a, b := NewORMap[string, *inner](), NewORMap[string, *inner]()
	write := func(node, v string) func(*inner) *inner {
		return func(m *inner) *inner {
			return m.Update("title", func(r *MVRegister[string]) *MVRegister[string] { return r.Write(node, v) })
		}
	}
	b.Merge(a.Update("doc1", write("n1", "draft")))
	b.Remove("doc1")
	a.Update("doc1", write("n1", "final")) // concurrent with the remove
	a.Merge(b)
	b.Merge(a)
	for _, m := range []*ORMap[string, *inner]{a, b} {
		doc, ok := m.Get("doc1")
		if !ok {
			t.Fatal("doc1 removed despite a concurrent update")
		}
		r, _ := doc.Get("title")
		if got := r.Values(); !slices.Equal(got, []string{"final"}) {
			t.Fatalf("title = %v, want [final]", got)
		}
	}
	// A remove that has seen the update removes the key everywhere.
	a.Merge(b.Remove("doc1"))
	if a.Contains("doc1") || b.Contains("doc1") {
		t.Fatal("doc1 survived a remove that saw every update")
	}
}

func TestORMapNilDeltaAndEmptyValue(t *testing.T) {
	m := NewORMap[string, *ORSet[int]]()
	d := m.Update("k", func(*ORSet[int]) *ORSet[int] { return nil })
	if m.Contains("k") || d.Len() != 0 {
		t.Fatal("an update that changed nothing created the key")
	}
	m.Update("k", func(s *ORSet[int]) *ORSet[int] { return s.Add("n1", 1) })
	m.Update("k", func(s *ORSet[int]) *ORSet[int] { return s.Remove(1) })
	if m.Contains("k") {
		t.Fatal("a key whose value became empty is still present")
	}
}

func TestORMapUpdateReturningTheValueGivesAFullDelta(t *testing.T) {
	a, b := NewORMap[string, *ORSet[int]](), NewORMap[string, *ORSet[int]]()
	b.Merge(a.Update("k", func(s *ORSet[int]) *ORSet[int] { return s.Add("n1", 1) }))
	b.Merge(a.Update("j", func(s *ORSet[int]) *ORSet[int] { return s.Add("n1", 7) }))
	d := a.Update("k", func(s *ORSet[int]) *ORSet[int] {
		s.Remove(1)
		s.Add("n1", 2)
		return s
	})
	b.Merge(d)
	got, _ := b.Get("k")
	if got.Contains(1) || !got.Contains(2) || !b.Contains("j") {
		t.Fatalf("after full delta: k = %v, j present %v", got.Elements(), b.Contains("j"))
	}
}
