package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// Row is one result row to scan (*sql.Row and *sql.Rows are both).
type Row interface{ Scan(dest ...any) error }

// One scans the single row a query returned. No row is the error notFound
// gives (the domain's 404); any other failure is wrapped naming what was
// being loaded.
func One[T any](row *sql.Row, scan func(Row) (T, error), notFound func() error, what string) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, notFound()
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("load %s: %w", what, err)
	}
	return v, nil
}
