// Package store opens Kassa's database (embedded SQLite or PostgreSQL), runs
// the migrations and hands out transactions. Domain packages own their SQL;
// this package only knows the two dialects.
//
// SQL is written once in portable form: $1 placeholders, RETURNING and
// ON CONFLICT work on both engines. What differs (row locks) comes from Dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL engine.
type Dialect string

// The two engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ForUpdate is the row-lock suffix for a SELECT inside a write transaction.
// SQLite needs none: Kassa writes through a single connection, so write
// transactions are already serialized.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// DefaultURL is where Kassa keeps its data when nothing is configured.
const DefaultURL = "sqlite://kassa-data/kassa.db"

// DB is an open database: a writer and a reader handle (the same pool on
// PostgreSQL; one writer connection plus a read pool on SQLite).
type DB struct {
	Dialect Dialect
	writer  *sql.DB
	reader  *sql.DB
	stmts   *stmtCache

	versionsMu sync.Mutex
	versions   map[string]*tableVersion
}

// Querier is what reads need; both *sql.DB and *Tx satisfy it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to the database named by rawURL: "sqlite:///abs/path.db",
// "sqlite://relative/path.db" or "postgres://...". An empty URL means DefaultURL.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openPostgres(ctx, rawURL)
	case strings.HasPrefix(rawURL, "sqlite:"):
		return openSQLite(ctx, sqlitePath(rawURL))
	default:
		return nil, fmt.Errorf("database url %q: want sqlite:///path/to/file.db or postgres://…", redact(rawURL))
	}
}

func sqlitePath(rawURL string) string {
	p := strings.TrimPrefix(rawURL, "sqlite:")
	// sqlite:///abs/path → /abs/path; sqlite://rel/path → rel/path
	if strings.HasPrefix(p, "//") {
		p = p[2:]
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	pinAllocatorPages()
	if path == "" {
		return nil, errors.New("sqlite database url has no file path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	pragmas := "_pragma=journal_mode(WAL)&_pragma=busy_timeout(15000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	dsn := "file:" + path + "?" + pragmas + "&_txlock=immediate"
	writer, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One writer connection: write transactions queue in Go instead of
	// failing with SQLITE_BUSY. Other processes (kassa accounts create) wait
	// on busy_timeout and BEGIN IMMEDIATE.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite reader %s: %w", path, err)
	}
	reader.SetMaxOpenConns(8)
	reader.SetMaxIdleConns(8)
	return newDB(SQLite, writer, reader), nil
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(rawURL), err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect postgres %s: %w", redact(rawURL), err)
	}
	return newDB(Postgres, db, db), nil
}

func newDB(d Dialect, writer, reader *sql.DB) *DB {
	return &DB{Dialect: d, writer: writer, reader: reader, stmts: &stmtCache{db: reader, detach: d == SQLite}}
}

// stmtCache is a Querier that keeps one prepared statement per query text.
type stmtCache struct {
	db *sql.DB
	// detach drops cancellation from single-row reads: modernc's SQLite
	// driver starts a watcher goroutine per cancellable query, which costs
	// more than the point read itself.
	detach bool
	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
}

// maxCachedStatements bounds the cache; list queries with varying filters
// produce many texts, and beyond the bound they are simply not cached.
const maxCachedStatements = 512

func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	st := c.stmts[query]
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st = c.stmts[query]; st != nil {
		return st
	}
	if len(c.stmts) >= maxCachedStatements {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // let the plain call report the error
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if c.detach {
		ctx = context.WithoutCancel(ctx)
	}
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// redact hides a password in a URL for error messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// Close closes both handles.
func (db *DB) Close() error {
	db.stmts.close()
	err := db.writer.Close()
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

// Read returns the handle for reads outside a transaction. Its statements
// are prepared once and reused: parsing SQL costs more than a point read.
func (db *DB) Read() Querier { return db.stmts }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.writer.PingContext(ctx) }

// Tx is a write transaction.
type Tx struct {
	*sql.Tx
	Dialect Dialect
	db      *DB
	touched []*tableVersion
}

// Touch tells the read caches that this transaction writes table: they stop
// serving it from the moment of the call until the transaction has ended.
// Every write to a table that has a ReadCache must touch it.
func (tx *Tx) Touch(table string) {
	tv := tx.db.versionOf(table)
	for _, t := range tx.touched {
		if t == tv {
			return
		}
	}
	tv.begin()
	tx.touched = append(tx.touched, tv)
}

// InTx runs fn in a write transaction and commits it when fn returns nil.
// On PostgreSQL a serialization failure or deadlock is retried a few times:
// fn must therefore have no effects outside the transaction.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		err = db.inTxOnce(ctx, fn)
		if err == nil || !retryable(err) {
			return err
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return err
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqlTx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: sqlTx, Dialect: db.Dialect, db: db}
	defer func() {
		// After commit or rollback: the caches may read the table again.
		for _, tv := range tx.touched {
			tv.end()
		}
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
