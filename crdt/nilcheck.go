package crdt

import "reflect"

// isNilPointer reports whether v, a pointer of a generic type parameter, is
// nil.
func isNilPointer[T any](v T) bool {
	rv := reflect.ValueOf(any(v))
	return !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil())
}
