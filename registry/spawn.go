package registry

import "github.com/grovedev/grove/proc"

// As registers the process being spawned under key with value before its
// Init runs, like starting a process with {:via, Registry, key} in Elixir:
//
//	pid, err := rt.Spawn(&Session{}, r.As("session:42", nil))
//	proc.Call[State](ctx, rt, r.Via("session:42"), GetState{})
//
// A key already taken in a unique registry makes the spawn fail with
// the *AlreadyRegisteredError.
func (r *Registry) As(key, value any) proc.SpawnOption {
	return proc.WithRegister(func(pid proc.PID) error { return r.Register(pid, key, value) })
}
