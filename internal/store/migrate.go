package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are plain SQL written for both engines. The few words that
// differ are placeholders, replaced by the Dialect:
//
//	%PK%    an auto-incrementing surrogate key column
//	%JSON%  a column holding JSON text

// Migrate applies every embedded migration not applied yet, each in its own
// transaction. Safe to run from several processes at once.
func (db *DB) Migrate(ctx context.Context) error {
	// Under the migration lock: two PostgreSQL sessions racing through
	// CREATE TABLE IF NOT EXISTS can both try to create it.
	if err := db.InTx(ctx, func(tx *Tx) error {
		if err := db.Dialect.lockMigrations(ctx, tx.Tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS kassa_migrations (
			version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	}); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return err
		}
		if err := db.applyMigration(ctx, version, db.Dialect.schema().Replace(string(body))); err != nil {
			return fmt.Errorf("migration %s: %w", version, err)
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, version, body string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		// Serialize concurrent migrators; released at commit.
		if err := db.Dialect.lockMigrations(ctx, tx.Tx); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kassa_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for _, stmt := range splitStatements(body) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%w\n%s", err, stmt)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO kassa_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().Unix())
		return err
	})
}

// splitStatements splits a migration on semicolons at line ends; migrations
// contain no procedural code, so this is enough.
func splitStatements(body string) []string {
	var out []string
	for _, part := range strings.Split(body, ";\n") {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";")); s != "" {
			out = append(out, s)
		}
	}
	return out
}
