//go:build !unix

package store

// LockServer is a no-op where advisory file locks are not available.
func LockServer(rawURL string) (release func(), err error) { return func() {}, nil }
