// Package store opens Kassa's database (embedded SQLite or PostgreSQL), runs
// the migrations and hands out transactions. Domain packages own their SQL;
// this package only knows the two engines.
//
// SQL is written once in portable form: $1 placeholders, RETURNING and
// ON CONFLICT work on both engines. What differs (row locks, claim queries)
// comes from the Dialect.
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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ncruces/go-sqlite3"
	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/unicode"
)

// DefaultURL is where Kassa keeps its data when nothing is configured.
const DefaultURL = "sqlite://kassa-data/kassa.db"

// DB is an open database: a writer and a read-only reader handle.
type DB struct {
	Dialect Dialect
	writer  *sql.DB
	reader  *sql.DB
	stmts   *stmtCache
}

// Querier runs reads: the read handle (DB.Read) and a transaction (*Tx)
// both satisfy it. It has no Exec: what reads cannot write by mistake.
type Querier interface {
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

func init() {
	// Kassa lowers both sides of a case-insensitive search and keeps
	// SQLite's own LIKE (and its index optimization).
	unicode.RegisterLike = false
}

// sqliteConn prepares every SQLite connection: Unicode-aware lower() and
// upper(), so that searches fold "ÖLÇÜ" as PostgreSQL does.
func sqliteConn(c *sqlite3.Conn) error { return unicode.Register(c) }

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite database url has no file path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	// busy_timeout first: the pragmas run in order, and those after it
	// must wait for another process's lock rather than fail at once.
	pragmas := "_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	writer, err := sqlitedriver.Open("file:"+path+"?"+pragmas+"&_txlock=immediate", sqliteConn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One writer connection: write transactions queue in Go instead of
	// failing with SQLITE_BUSY. Other processes (kassa accounts create) wait
	// on busy_timeout and BEGIN IMMEDIATE.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	// Switching a new file to WAL can fail with SQLITE_BUSY at once,
	// without waiting (SQLite's deadlock avoidance), while another process
	// opens it too: try again.
	for deadline := time.Now().Add(15 * time.Second); ; {
		err = writer.PingContext(ctx)
		if err == nil || !errors.Is(err, sqlite3.BUSY) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// The reader cannot write: query_only refuses any statement that would.
	reader, err := sqlitedriver.Open("file:"+path+"?"+pragmas+"&_pragma=query_only(1)&_txlock=deferred", sqliteConn)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite reader %s: %w", path, err)
	}
	reader.SetMaxOpenConns(8)
	reader.SetMaxIdleConns(8)
	return newDB(sqliteDialect{}, writer, reader), nil
}

// Pool sizes on PostgreSQL, per process.
const (
	pgWriters = 16
	pgReaders = 16
)

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	open := func(readOnly bool, conns int) (*sql.DB, error) {
		cfg, err := pgx.ParseConfig(rawURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres %s: %w", redact(rawURL), err)
		}
		if readOnly {
			// The reader's sessions refuse writes, as SQLite's query_only does.
			cfg.RuntimeParams["default_transaction_read_only"] = "on"
		}
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect postgres %s: %w", redact(rawURL), err)
		}
		return db, nil
	}
	writer, err := open(false, pgWriters)
	if err != nil {
		return nil, err
	}
	reader, err := open(true, pgReaders)
	if err != nil {
		writer.Close()
		return nil, err
	}
	return newDB(postgresDialect{}, writer, reader), nil
}

func newDB(d Dialect, writer, reader *sql.DB) *DB {
	return &DB{Dialect: d, writer: writer, reader: reader, stmts: &stmtCache{db: reader, dialect: d}}
}

// stmtCache is a Querier that keeps one prepared statement per query text,
// so that SQLite compiles a query once per connection, not per execution.
type stmtCache struct {
	db      *sql.DB
	dialect Dialect
	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
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

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = c.dialect.params(query)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	query = c.dialect.params(query)
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
	return errors.Join(db.writer.Close(), db.reader.Close())
}

// Read returns the handle for reads outside a transaction. It cannot write
// (no Exec, and a read-only session underneath), and its statements are
// prepared once and reused. A cancelled ctx stops the query on both engines.
func (db *DB) Read() Querier { return db.stmts }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.writer.PingContext(ctx) }

// Tx is a write transaction.
type Tx struct {
	*sql.Tx
	Dialect    Dialect
	savepoints int
}

// InTx runs fn in a write transaction and commits it when fn returns nil.
// On PostgreSQL a serialization failure or deadlock is retried a few times:
// fn must therefore have no effects outside the transaction.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		err = db.inTxOnce(ctx, fn)
		if err == nil || !db.Dialect.retryable(err) {
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
	tx := &Tx{Tx: sqlTx, Dialect: db.Dialect}
	// Whether fn failed, panicked or ended its goroutine (t.FailNow), the
	// transaction (on SQLite the one writer) is never left held; after a
	// commit this does nothing.
	defer func() { _ = sqlTx.Rollback() }()
	if err = fn(tx); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Savepoint runs fn inside a savepoint of tx: when fn fails, what it wrote
// is rolled back and the rest of tx goes on; the error is returned.
func (tx *Tx) Savepoint(ctx context.Context, fn func() error) (err error) {
	tx.savepoints++
	name := fmt.Sprintf("kassa_sp%d", tx.savepoints)
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_, _ = tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+name)
			panic(p)
		}
	}()
	if err = fn(); err != nil {
		if _, rbErr := tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+name); rbErr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rbErr))
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
