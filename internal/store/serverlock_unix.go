//go:build unix

package store

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// LockServer makes sure only one kassa server runs on an SQLite database:
// its in-process read caches rely on seeing every write. It holds an
// exclusive lock on "<file>.server.lock" until release is called (or the
// process exits). Command-line tools do not take it, and PostgreSQL, which
// any number of servers may share, needs none.
func LockServer(rawURL string) (release func(), err error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	if !strings.HasPrefix(rawURL, "sqlite:") {
		return func() {}, nil
	}
	path := sqlitePath(rawURL) + ".server.lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another kassa server is running on %s (lock %s held): run one server per SQLite database, or use PostgreSQL", sqlitePath(rawURL), path)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
