// Package shrinkmap gives a Go map's room back once it has emptied: a map
// never shrinks by itself, so a table that once held a million entries
// keeps the memory for a million until it is rebuilt.
//
// # Usage
//
// Keep the peak size next to the map, update it on insert and call Shrink
// after each delete, under the same lock:
//
//	m[k] = v
//	peak = max(peak, len(m))
//	...
//	delete(m, k)
//	m, peak = shrinkmap.Shrink(m, peak)
package shrinkmap

// MinPeak is the peak size below which Shrink leaves a map alone: a small
// map costs little and rebuilding it would be churn.
const MinPeak = 1024

// Shrink returns m, or a copy of it when it has fallen to a quarter of its
// peak size, with the peak to keep for it. Copying len(m) entries after at
// least three times as many deletions costs O(1) per deletion.
func Shrink[M ~map[K]V, K comparable, V any](m M, peak int) (M, int) {
	if peak < MinPeak || len(m) > peak/4 {
		return m, peak
	}
	n := make(M, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n, len(n)
}
