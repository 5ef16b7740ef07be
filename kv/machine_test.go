package kv

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// TestMachineAgainstModel applies random transactions to the machine and
// to a naive model, snapshotting and restoring on the way.
func TestMachineAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine()
		model := map[string]Item{}
		keys := []string{"a", "b", "c", "d"}
		for i := range rapid.IntRange(1, 60).Draw(t, "n") {
			index := uint64(i + 1)
			var tx Txn
			for range rapid.IntRange(0, 2).Draw(t, "ifs") {
				k := rapid.SampledFrom(keys).Draw(t, "ifkey")
				v := model[k].Version
				if rapid.Bool().Draw(t, "wrongversion") {
					v = rapid.Uint64Range(0, index).Draw(t, "v")
				}
				tx.If = append(tx.If, Compare{k, v})
			}
			for range rapid.IntRange(1, 3).Draw(t, "ops") {
				k := rapid.SampledFrom(keys).Draw(t, "key")
				if rapid.Bool().Draw(t, "del") {
					tx.Then = append(tx.Then, Op{Key: k, Delete: true})
				} else {
					tx.Then = append(tx.Then, Op{Key: k, Value: []byte(fmt.Sprint(index))})
				}
			}
			dec, err := decodeTxn(encodeTxn(tx))
			if err != nil {
				t.Fatal(err)
			}
			reply, _ := m.Apply(index, encodeTxn(dec))
			ok := true
			for _, c := range tx.If {
				if model[c.Key].Version != c.Version {
					ok = false
					break
				}
			}
			if !ok {
				var ce *ConflictError
				if err, _ := reply.(error); !errors.As(err, &ce) {
					t.Fatalf("failed comparison gave %v", reply)
				}
			} else {
				res := reply.(TxnResult)
				for i, o := range tx.Then {
					if res.Previous[i] != model[o.Key].Version {
						t.Fatalf("previous version of %s: %d, model %d", o.Key, res.Previous[i], model[o.Key].Version)
					}
					if o.Delete {
						delete(model, o.Key)
					} else {
						model[o.Key] = Item{Value: o.Value, Version: index}
					}
				}
			}
			if rapid.Bool().Draw(t, "snapshot") {
				snap, _ := m.Snapshot()
				m = newMachine()
				if err := m.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
			if !maps.EqualFunc(m.items, model, func(a, b Item) bool { return a.Version == b.Version && bytes.Equal(a.Value, b.Value) }) {
				t.Fatalf("machine %v, model %v", m.items, model)
			}
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	m := newMachine()
	m.Apply(3, encodeTxn(Txn{Then: []Op{{Key: "k", Value: []byte("v")}, {Key: "j", Value: nil}}}))
	snap, _ := m.Snapshot()
	f.Add(snap)
	f.Add([]byte{1, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again, _ := (&machine{items: items}).Snapshot()
		items2, err := decodeSnapshot(again)
		if err != nil || len(items2) != len(items) {
			t.Fatalf("snapshot does not survive re-encoding: %v", err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeTxn(Txn{If: []Compare{{"a", 2}}, Then: []Op{{Key: "a", Value: []byte("x")}, {Key: "b", Delete: true}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := decodeTxn(b)
		if err != nil {
			return
		}
		if _, err := decodeTxn(encodeTxn(tx)); err != nil {
			t.Fatalf("command does not survive re-encoding: %v", err)
		}
		newMachine().Apply(1, b) // must not panic
	})
}
