package handshake

// The tests use many cookies; stretching each at full cost would dominate
// their time under the race detector.
func init() { cookieIterations = 1000 }
