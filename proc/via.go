package proc

// ResolveErrer is a Resolver that says why a key did not resolve. When
// the Registry of a Via implements it, sends and calls to the Via report
// Resolve's error (wrapping ErrNotRegistered, or an error of the registry's
// own, such as "not yet synchronized") instead of a bare ErrNotRegistered.
//
// Resolve may be called from any goroutine concurrently.
type ResolveErrer interface {
	Resolve(key any) (PID, error)
}
