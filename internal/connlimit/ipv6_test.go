package connlimit

import (
	"fmt"
	"net"
	"testing"
)

// TestIPv6FloodFromOneNetwork floods the limiter from 300 addresses of one
// IPv6 /64, as any holder of such a network (a single subscriber, a cloud
// instance) can: each address holds one slot, so if every address counted
// as its own host, the flood would fill MaxTotal with equal shares that
// nobody may evict, and a peer from elsewhere would be locked out.
func TestIPv6FloodFromOneNetwork(t *testing.T) {
	l := New(Config{MaxTotal: 256, MaxPerHost: 16})
	held := 0
	for i := range 300 {
		a := &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:1:2::%x", i+1)), Port: 40000 + i}
		if _, err := l.Admit(Host(a), &fakeConn{}); err == nil {
			held++
		}
	}
	if held > 16 {
		t.Errorf("one /64 holds %d slots, want at most MaxPerHost (16)", held)
	}
	legit := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4370}
	if _, err := l.Admit(Host(legit), &fakeConn{}); err != nil {
		t.Fatalf("a peer from another network is refused during the flood: %v", err)
	}
	other := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 4370}
	if _, err := l.Admit(Host(other), &fakeConn{}); err != nil {
		t.Fatalf("a peer from a neighbouring /64 is refused during the flood: %v", err)
	}
}
