package entity

import (
	"testing"
)

// TestStartOnAFormedCluster starts regions on members that join a cluster
// whose regions already run, so that the region's member map reports
// changes while Start is still setting the region up (run under the race
// detector: Start's writes raced the change hook's reads).
func TestStartOnAFormedCluster(t *testing.T) {
	st := newStore()
	h, rs := startRegions(t, 2, -1, st)
	for range 3 {
		m := h.Add()
		if rs.get(m.Name) == nil {
			t.Fatalf("no region on %s", m.Name)
		}
	}
}
