package connlimit

import (
	"net"
	"testing"

	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeConn struct{ closed int }

func (c *fakeConn) Close() error { c.closed++; return nil }

func TestHostCapAndEviction(t *testing.T) {
	l := New(Config{MaxTotal: 4, MaxPerHost: 2})
	a1, a2 := &fakeConn{}, &fakeConn{}
	sa1, _ := l.Admit("a", a1)
	l.Admit("a", a2)
	if _, err := l.Admit("a", &fakeConn{}); err != ErrHostFull {
		t.Fatalf("third from a: %v", err)
	}
	b1 := &fakeConn{}
	sb1, _ := l.Admit("b", b1)
	l.Admit("c", &fakeConn{})
	// Full, and a holds no more than b's share plus one: b is refused.
	if _, err := l.Admit("b", &fakeConn{}); err != ErrFull {
		t.Fatalf("b when full: %v", err)
	}
	// Full: the oldest of the host holding the most (a) goes.
	sd, err := l.Admit("d", &fakeConn{})
	if err != nil || a1.closed != 1 || a2.closed != 0 || b1.closed != 0 {
		t.Fatalf("eviction: %v, closed a1 %d a2 %d b1 %d", err, a1.closed, a2.closed, b1.closed)
	}
	if sa1.Release() {
		t.Fatal("an evicted slot released as kept")
	}
	if !sb1.Release() {
		t.Fatal("release of a kept slot")
	}
	if !sb1.Release() {
		t.Fatal("a second release of a kept slot (Release is idempotent)")
	}
	if l.Pending() != 3 {
		t.Fatalf("pending %d", l.Pending())
	}
	sd.Release()
	st := l.Stats()
	if st.Admitted.Load() != 5 || st.Refused.Load() != 2 || st.Evicted.Load() != 1 {
		t.Fatalf("stats %d %d %d", st.Admitted.Load(), st.Refused.Load(), st.Evicted.Load())
	}
}

type stringAddr string

func (a stringAddr) Network() string { return "test" }
func (a stringAddr) String() string  { return string(a) }

func TestHost(t *testing.T) {
	for _, c := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 5}, "10.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 5}, "::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::9"), Port: 5}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 5}, "10.0.0.1"},
		{stringAddr("[2001:db8:1:2::7]:99"), "2001:db8:1:2::/64"},
		{stringAddr("10.0.0.2:99"), "10.0.0.2"},
		{stringAddr("a:1"), "a"},
		{&net.UnixAddr{Name: "/s"}, "/s"},
		{nil, ""},
	} {
		if got := Host(c.a); got != c.want {
			t.Errorf("Host(%v) = %q", c.a, got)
		}
	}
}

// TestProperties checks the limits against a model under random admits
// and releases: never more than MaxTotal slots or MaxPerHost per host, a
// host under its share is never refused, an eviction takes the oldest slot
// of a host holding the most, and evicted connections are closed once.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		total := rapid.IntRange(1, 8).Draw(rt, "total")
		perHost := rapid.IntRange(1, 4).Draw(rt, "perHost")
		l := New(Config{MaxTotal: total, MaxPerHost: perHost})
		type held struct {
			host string
			slot *Slot
			conn *fakeConn
		}
		var live []held // admission order
		for range rapid.IntRange(1, 100).Draw(rt, "steps") {
			if len(live) > 0 && rapid.Bool().Draw(rt, "release") {
				i := rapid.IntRange(0, len(live)-1).Draw(rt, "which")
				if !live[i].slot.Release() {
					rt.Fatal("a live slot was evicted")
				}
				live = append(live[:i], live[i+1:]...)
				continue
			}
			host := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(rt, "host")
			counts := map[string]int{}
			for _, h := range live {
				counts[h.host]++
			}
			c := &fakeConn{}
			s, err := l.Admit(host, c)
			if counts[host] >= perHost {
				if err != ErrHostFull {
					rt.Fatalf("host %s over its share admitted", host)
				}
				continue
			}
			most := 0
			for _, n := range counts {
				most = max(most, n)
			}
			if len(live) >= total && most <= counts[host]+1 {
				if err != ErrFull {
					rt.Fatalf("host %s admitted with no fair victim: %v", host, err)
				}
				continue
			}
			if err != nil {
				rt.Fatalf("host %s under its share refused: %v", host, err)
			}
			if len(live) >= total {
				victim := -1
				for i, h := range live {
					if counts[h.host] == most && h.conn.closed == 1 {
						victim = i
						break
					}
				}
				if victim < 0 {
					rt.Fatal("no connection of a host holding the most was closed")
				}
				for i, h := range live {
					if counts[h.host] == most && i < victim && h.host == live[victim].host {
						rt.Fatal("not the oldest of its host evicted")
					}
				}
				if live[victim].slot.Release() {
					rt.Fatal("evicted slot not reported")
				}
				live = append(live[:victim], live[victim+1:]...)
			}
			live = append(live, held{host, s, c})
			if l.Pending() != len(live) || l.Pending() > total {
				rt.Fatalf("pending %d, model %d", l.Pending(), len(live))
			}
			for _, h := range live {
				if h.conn.closed != 0 {
					rt.Fatal("a live connection was closed")
				}
			}
		}
	})
}
