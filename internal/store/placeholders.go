package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// Kassa's SQL writes parameters as $1, $2 … (PostgreSQL's form). SQLite
// reads "$2" as a parameter *named* "$2", numbered by first appearance, so
// "WHERE b = $2 AND a = $1" would bind the arguments the wrong way round;
// its "?2" is bound by number. sqliteParams rewrites the one into the
// other, outside string literals and quoted names, once per query text.
func sqliteParams(query string) string {
	if v, ok := rewritten.Load(query); ok {
		return v.(string)
	}
	out := rewriteParams(query)
	if cachedRewrites.Add(1) <= maxRewrites {
		rewritten.Store(query, out)
	}
	return out
}

var (
	rewritten      sync.Map
	cachedRewrites counter
)

// maxRewrites bounds the cache; list queries with varying filters produce
// many texts, and past the bound they are rewritten on every call.
const maxRewrites = 4096

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Add(d int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	return c.n
}

func rewriteParams(query string) string {
	if !strings.Contains(query, "$") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query))
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// A literal or quoted name, copied whole ('' and "" escape themselves).
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
			continue
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end])
			i += end - 1
			continue
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+4])
			i += end + 3
			continue
		case c == '$' && i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9':
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// The Tx methods below shadow *sql.Tx's, so that every statement of a
// transaction goes through the dialect's parameter form.

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.Dialect.params(query), args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.Dialect.params(query), args...)
}

// QueryRowContext runs a single-row query in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.Dialect.params(query), args...)
}
