// Package benchdb is what Kassa's benchmarks share: a fresh database per
// run, and the physical limit they are measured beside, the database's
// single-row commit rate through Kassa's own store.
package benchdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the admin handle

	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

// Fresh returns the URL of an empty database of engine ("sqlite" or
// "postgres": a schema of its own on pgURL, through search_path) and a
// function that removes it. name prefixes the directory or schema.
func Fresh(engine, pgURL, name string) (string, func(), error) {
	if engine == "sqlite" {
		dir, err := os.MkdirTemp("", name)
		if err != nil {
			return "", nil, err
		}
		return "sqlite://" + filepath.Join(dir, "kassa.db"), func() { os.RemoveAll(dir) }, nil
	}
	admin, err := sql.Open("pgx", pgURL)
	if err != nil {
		return "", nil, err
	}
	schema := name + "_" + strings.ToLower(id.Random(10))
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	cleanup := func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			fmt.Fprintln(os.Stderr, name+": drop schema:", err)
		}
		admin.Close()
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), cleanup, nil
}

// Committer makes single-row write transactions through Kassa's store.
type Committer struct {
	db   *store.DB
	next atomic.Int64
}

// NewCommitter creates the table it writes to.
func NewCommitter(ctx context.Context, db *store.DB) (*Committer, error) {
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE bench_commits (id BIGINT NOT NULL, note TEXT NOT NULL)`)
		return err
	}); err != nil {
		return nil, err
	}
	return &Committer{db: db}, nil
}

// Commit writes one small row in a transaction of its own.
func (c *Committer) Commit(ctx context.Context) error {
	n := c.next.Add(1)
	return c.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO bench_commits (id, note) VALUES ($1, $2)`, n, "a small row")
		return err
	})
}

// Rate runs goroutines committing back to back for d and returns commits/s.
func (c *Committer) Rate(ctx context.Context, goroutines int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var done atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, goroutines)
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := c.Commit(ctx); err != nil {
					if ctx.Err() == nil {
						errc <- err
					}
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}
