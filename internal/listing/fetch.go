package listing

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/kassahq/kassa/internal/store"
)

// Querier is what Fetch reads with; store.Querier satisfies it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Row is one result row to scan.
type Row = store.Row

// Query names what a list reads.
type Query struct {
	What    string // for errors: "prices"
	Columns string // the select list
	From    string // " FROM prices pr JOIN …"
	OrderBy string // "pr.created DESC, pr.seq DESC"
}

// Fetch counts the rows matching w, then reads the requested page of them.
func Fetch[T any](ctx context.Context, q Querier, lq Query, w *Where, p Params, scan func(Row) (T, error)) (Page[T], error) {
	var total int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*)`+lq.From+w.SQL(), w.Args...).Scan(&total); err != nil {
		return Page[T]{}, fmt.Errorf("count %s: %w", lq.What, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+lq.Columns+lq.From+w.SQL()+` ORDER BY `+lq.OrderBy+w.LimitOffset(p), w.Args...)
	if err != nil {
		return Page[T]{}, fmt.Errorf("list %s: %w", lq.What, err)
	}
	defer rows.Close()
	var items []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return Page[T]{}, fmt.Errorf("read %s: %w", lq.What, err)
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		return Page[T]{}, fmt.Errorf("list %s: %w", lq.What, err)
	}
	return NewPage(items, total, p), nil
}
