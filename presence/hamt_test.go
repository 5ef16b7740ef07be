package presence

import (
	"testing"

	"pgregory.net/rapid"
)

// The persistent map against a Go map, with a weak hash that collides
// often: every old version stays as it was.
func TestHMapModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hashBits := rapid.IntRange(1, 64).Draw(t, "hashBits")
		hash := func(k int) uint64 {
			h := uint64(k) * 0x9E3779B97F4A7C15
			if hashBits < 64 {
				h &= 1<<hashBits - 1
			}
			return h
		}
		type version struct {
			m    hmap[int, int]
			want map[int]int
		}
		var versions []version
		var m hmap[int, int]
		want := map[int]int{}
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			k := rapid.IntRange(0, 60).Draw(t, "key")
			if rapid.IntRange(0, 2).Draw(t, "op") == 0 {
				m = m.Delete(hash(k), k)
				delete(want, k)
			} else {
				v := rapid.Int().Draw(t, "value")
				m = m.Set(hash(k), k, v)
				want[k] = v
			}
			snap := map[int]int{}
			for k, v := range want {
				snap[k] = v
			}
			versions = append(versions, version{m, snap})
		}
		for i, ver := range versions {
			if ver.m.Len() != len(ver.want) {
				t.Fatalf("version %d: len %d, want %d", i, ver.m.Len(), len(ver.want))
			}
			seen := 0
			ver.m.Range(func(k, v int) bool {
				if ver.want[k] != v {
					t.Fatalf("version %d: %d=%d, want %d", i, k, v, ver.want[k])
				}
				seen++
				return true
			})
			if seen != len(ver.want) {
				t.Fatalf("version %d: ranged over %d", i, seen)
			}
			for k := range 61 {
				v, ok := ver.m.Get(hash(k), k)
				w, wok := ver.want[k]
				if ok != wok || v != w {
					t.Fatalf("version %d: get %d = %d %v, want %d %v", i, k, v, ok, w, wok)
				}
			}
		}
	})
}
