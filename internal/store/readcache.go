package store

import (
	"sync"
	"sync/atomic"
)

// tableVersion counts the writes to one table: version moves when a write
// transaction first touches the table and again when it ends; inflight
// counts the transactions touching it right now.
type tableVersion struct {
	version  atomic.Uint64
	inflight atomic.Int64
}

func (tv *tableVersion) begin() {
	tv.inflight.Add(1)
	tv.version.Add(1)
}

func (tv *tableVersion) end() {
	tv.version.Add(1)
	tv.inflight.Add(-1)
}

func (db *DB) versionOf(table string) *tableVersion {
	db.versionsMu.Lock()
	defer db.versionsMu.Unlock()
	if db.versions == nil {
		db.versions = map[string]*tableVersion{}
	}
	tv := db.versions[table]
	if tv == nil {
		tv = &tableVersion{}
		db.versions[table] = tv
	}
	return tv
}

// ReadCache keeps recently read rows of one table in memory, for the hot
// single-object reads of the API. It is only on for SQLite, where one kassa
// process owns the database file and so sees every write; on PostgreSQL
// other processes write too and every read goes to the database.
//
// A cached value is served only while no write has touched the table since
// it was read (any write to the table drops all of it: simple and safe), and
// a value is cached only when no write was under way while it was read. So a
// read never returns what a committed write has replaced. Values are shared:
// callers must not modify them.
type ReadCache[K comparable, V any] struct {
	tv      *tableVersion // nil: caching is off
	max     int
	mu      sync.RWMutex
	entries map[K]cacheEntry[V]
}

type cacheEntry[V any] struct {
	value   V
	version uint64
}

// NewReadCache returns a cache of at most max values of table's rows.
func NewReadCache[K comparable, V any](db *DB, table string, max int) *ReadCache[K, V] {
	c := &ReadCache[K, V]{max: max}
	if db.Dialect == SQLite {
		c.tv = db.versionOf(table)
	}
	return c
}

// Get returns the cached value for key, or loads it.
func (c *ReadCache[K, V]) Get(key K, load func() (V, error)) (V, error) {
	if c.tv == nil {
		return load()
	}
	version := c.tv.version.Load()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && e.version == version {
		return e.value, nil
	}
	quiet := c.tv.inflight.Load() == 0
	v, err := load()
	if err != nil || !quiet || c.tv.inflight.Load() != 0 || c.tv.version.Load() != version {
		return v, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= c.max {
		c.entries = make(map[K]cacheEntry[V], min(c.max, 1024))
	}
	c.entries[key] = cacheEntry[V]{value: v, version: version}
	c.mu.Unlock()
	return v, nil
}
