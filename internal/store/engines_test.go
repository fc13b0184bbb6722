package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"

	"github.com/kassahq/kassa/internal/store"
)

// The conformance suite runs every test once per engine, as River's
// riverdrivertest does: SQLite always, PostgreSQL when
// KASSA_TEST_DATABASE_URL is set (each test in a schema of its own).

// postgresURL is the PostgreSQL server tests use, if any.
func postgresURL() string { return os.Getenv("KASSA_TEST_DATABASE_URL") }

// engine is one fresh, empty database for one test.
type engine struct {
	name string // "sqlite" or "postgres"
	url  string
	// schema is the PostgreSQL schema the test runs in ("" on SQLite).
	schema string
}

func (e engine) postgres() bool { return e.name == "postgres" }

// open opens another handle on the test's database, as another process
// would; it is closed when the test ends.
func (e engine) open(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), e.url)
	if err != nil {
		t.Fatalf("open %s: %v", e.name, err)
	}
	t.Cleanup(func() { db.Close() })
	if got := db.Dialect.Name(); got != e.name {
		t.Fatalf("Dialect.Name() = %q on %s", got, e.name)
	}
	return db
}

// eachEngine runs fn once per engine as a subtest.
func eachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	t.Helper()
	if os.Getenv("KASSA_REQUIRE_POSTGRES") == "1" && postgresURL() == "" {
		t.Fatal("KASSA_REQUIRE_POSTGRES=1 but KASSA_TEST_DATABASE_URL is not set")
	}
	t.Run("sqlite", func(t *testing.T) {
		fn(t, engine{name: "sqlite", url: "sqlite://" + filepath.Join(t.TempDir(), "k.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		if postgresURL() == "" {
			t.Skip("KASSA_TEST_DATABASE_URL is not set")
		}
		u, schema := freshSchema(t)
		fn(t, engine{name: "postgres", url: u, schema: schema})
	})
}

// freshSchema creates an empty schema for one test, dropped when it ends,
// and returns a URL whose connections use it.
func freshSchema(t testing.TB) (string, string) {
	t.Helper()
	base := postgresURL()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "kt_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	// Registered first, so it runs after the handles opened by the test
	// are closed.
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse KASSA_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}

// exec runs one statement in a transaction of its own.
func exec(t testing.TB, db *store.DB, query string, args ...any) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ExecContext(context.Background(), query, args...)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// queryInt returns the single integer a query answers.
func queryInt(t testing.TB, q store.Querier, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// queryInts returns the first column of every row of a query.
func queryInts(t testing.TB, q store.Querier, query string, args ...any) []int64 {
	t.Helper()
	out, err := scanInts(context.Background(), q, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

func scanInts(ctx context.Context, q store.Querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// drain runs a query through QueryContext and reads all of its rows,
// returning the first error wherever it surfaces (SQLite reports some
// only at the first step).
func drain(ctx context.Context, q store.Querier, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return errors.Join(rows.Err(), rows.Close())
}

// inBoth runs fn with the read handle and, again, inside a transaction:
// both are Queriers and must behave alike.
func inBoth(t *testing.T, db *store.DB, fn func(t *testing.T, q store.Querier)) {
	t.Helper()
	t.Run("read", func(t *testing.T) { fn(t, db.Read()) })
	t.Run("tx", func(t *testing.T) {
		if err := db.InTx(context.Background(), func(tx *store.Tx) error {
			fn(t, tx)
			return nil
		}); err != nil {
			t.Fatalf("transaction: %v", err)
		}
	})
}

// pgCode is the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// sqliteCode is the primary result code of a SQLite error, or 0.
func sqliteCode(err error) sqlite3.ErrorCode {
	var sqErr *sqlite3.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code()
	}
	var code sqlite3.ErrorCode
	if errors.As(err, &code) {
		return code
	}
	return 0
}

// within waits for done, failing the test if it has not come within a
// generous safety timeout (a hang, not a slow machine).
func within[T any](t testing.TB, done <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-done:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: still waiting after 30 s", what)
		panic("unreachable")
	}
}
