package lease

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestMachineInvariants applies random commands and checks what the
// service promises: one holder per name, and a new holder's token above
// every token the name had.
func TestMachineInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine()
		highest := map[string]uint64{}
		owners := []string{"a", "b", "c"}
		names := []string{"x", "y"}
		for i := range rapid.IntRange(1, 80).Draw(t, "n") {
			index := uint64(i + 1)
			name := rapid.SampledFrom(names).Draw(t, "name")
			owner := rapid.SampledFrom(owners).Draw(t, "owner")
			before, held := m.names[name]
			c := command{name: name, owner: owner, ttl: time.Second}
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				c.kind = cmdAcquire
			case 1:
				c.kind, c.token = cmdRenew, before.Token
			case 2:
				c.kind, c.token = cmdRelease, before.Token
			case 3:
				c.kind, c.token, c.renewals = cmdExpire, before.Token, rapid.Uint64Range(0, 2).Draw(t, "renewals")
			}
			if snapshotNow := rapid.Bool().Draw(t, "snap"); snapshotNow {
				b, _ := m.Snapshot()
				m = newMachine()
				if err := m.Restore(b); err != nil {
					t.Fatal(err)
				}
			}
			reply, _ := m.Apply(index, c.encode())
			after, nowHeld := m.names[name]
			if c.kind == cmdAcquire {
				_, isErr := reply.(error)
				switch {
				case held && before.Owner != owner:
					if !isErr || after != before {
						t.Fatalf("acquire of a name held by %s by %s: %v", before.Owner, owner, reply)
					}
				case held:
					if after.Token != before.Token {
						t.Fatalf("re-acquire changed the token %d -> %d", before.Token, after.Token)
					}
				default:
					if !nowHeld || after.Token <= highest[name] {
						t.Fatalf("new holder's token %d not above %d", after.Token, highest[name])
					}
				}
			}
			if nowHeld && after.Token > highest[name] {
				highest[name] = after.Token
			}
		}
	})
}
