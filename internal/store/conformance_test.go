package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/kassahq/kassa/internal/store"
)

// Parameters are written $1, $2 … and bind by number on both engines,
// whatever order they appear in; SQLite would otherwise read "$2" as a
// name and number it by first appearance.
func TestParameters(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		ctx := context.Background()
		exec(t, db, `CREATE TABLE params (a TEXT NOT NULL, b TEXT NOT NULL)`)
		// $2 before $1 in a write.
		exec(t, db, `INSERT INTO params (b, a) VALUES ($2, $1)`, "a1", "b1")
		exec(t, db, `INSERT INTO params (b, a) VALUES ($2, $1)`, "a2", "b2")
		exec(t, db, `UPDATE params SET b = $2 WHERE a = $1`, "a2", "B2")

		inBoth(t, db, func(t *testing.T, q store.Querier) {
			var a, b string
			if err := q.QueryRowContext(ctx, `SELECT a, b FROM params WHERE b = $2 AND a = $1`, "a1", "b1").Scan(&a, &b); err != nil {
				t.Fatalf("$2 before $1: %v", err)
			}
			if a != "a1" || b != "b1" {
				t.Fatalf("$2 before $1: got a=%q b=%q, want a1 b1", a, b)
			}
			if err := q.QueryRowContext(ctx, `SELECT a, b FROM params WHERE b = $2 AND a = $1`, "b1", "a1").Scan(&a, &b); !errors.Is(err, sql.ErrNoRows) {
				t.Fatalf("swapped arguments: got a=%q b=%q err=%v, want no row", a, b, err)
			}
			if err := q.QueryRowContext(ctx, `SELECT a, b FROM params WHERE a = $1`, "a2").Scan(&a, &b); err != nil || b != "B2" {
				t.Fatalf("UPDATE … SET b = $2 WHERE a = $1: b=%q err=%v, want B2", b, err)
			}
			var x, y string
			if err := q.QueryRowContext(ctx, `SELECT CAST($2 AS TEXT), CAST($1 AS TEXT)`, "one", "two").Scan(&x, &y); err != nil || x != "two" || y != "one" {
				t.Fatalf("SELECT $2, $1: got %q, %q (%v), want two, one", x, y, err)
			}

			// $1 used twice.
			if n := queryInt(t, q, `SELECT COUNT(*) FROM params WHERE a = $1 OR b = $1`, "b1"); n != 1 {
				t.Fatalf("a = $1 OR b = $1: %d rows, want 1", n)
			}
			if n := queryInt(t, q, `SELECT CAST($1 AS BIGINT) * 10 + CAST($1 AS BIGINT)`, 7); n != 77 {
				t.Fatalf("$1*10 + $1 with 7: %d, want 77", n)
			}
			if n := queryInt(t, q, `SELECT CAST($2 AS BIGINT) * 100 + CAST($1 AS BIGINT) * 10 + CAST($2 AS BIGINT)`, 1, 2); n != 212 {
				t.Fatalf("$2*100 + $1*10 + $2 with 1, 2: %d, want 212", n)
			}
			// Two-digit numbers are not read as $1 followed by a digit.
			args := make([]any, 11)
			for i := range args {
				args[i] = fmt.Sprintf("v%d", i+1)
			}
			var s string
			const eleven = `SELECT CAST($11 AS TEXT) || CAST($1 AS TEXT) || CAST($10 AS TEXT) || '-' ||
				CAST($2 AS TEXT) || CAST($3 AS TEXT) || CAST($4 AS TEXT) || CAST($5 AS TEXT) ||
				CAST($6 AS TEXT) || CAST($7 AS TEXT) || CAST($8 AS TEXT) || CAST($9 AS TEXT)`
			if err := q.QueryRowContext(ctx, eleven, args...).Scan(&s); err != nil || s != "v11v1v10-v2v3v4v5v6v7v8v9" {
				t.Fatalf("$11 || $1 || $10 || '-' || $2 … $9: %q (%v), want v11v1v10-v2v3v4v5v6v7v8v9", s, err)
			}

			// '$1' inside a string literal, or a quoted name, is text.
			var lit, lit2, p string
			rows, err := q.QueryContext(ctx, `SELECT '$1', 'it''s $2', CAST($1 AS TEXT) AS "p$1"`, "v")
			if err != nil {
				t.Fatalf("literal $1: %v", err)
			}
			cols, _ := rows.Columns()
			if !rows.Next() {
				t.Fatalf("literal $1: no row (%v)", rows.Err())
			}
			if err := rows.Scan(&lit, &lit2, &p); err != nil {
				t.Fatalf("literal $1: %v", err)
			}
			rows.Close()
			if lit != "$1" || lit2 != "it's $2" || p != "v" {
				t.Fatalf("literal $1: got %q, %q, %q, want $1, it's $2, v", lit, lit2, p)
			}
			if len(cols) != 3 || cols[2] != "p$1" {
				t.Fatalf("quoted name \"p$1\": columns %q", cols)
			}
		})

		exec(t, db, `INSERT INTO params (a, b) VALUES ('$1', $1)`, "lit")
		if n := queryInt(t, db.Read(), `SELECT COUNT(*) FROM params WHERE a = '$1' AND b = $1`, "lit"); n != 1 {
			t.Fatalf("INSERT … VALUES ('$1', $1): %d rows, want 1", n)
		}
	})
}

// claim takes up to k unclaimed rows of table, in id order, passing over
// rows other transactions hold, and marks them (or deletes them) as taken
// by who. Every claimed row must change exactly once.
func claim(ctx context.Context, tx *store.Tx, table, who string, k int, del bool) ([]int64, error) {
	ids, err := scanInts(ctx, tx, `SELECT id FROM `+table+` WHERE claimed_by IS NULL ORDER BY id LIMIT $1`+tx.Dialect.SkipLocked(), k)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, id := range ids {
		var res sql.Result
		if del {
			res, err = tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = $1 AND claimed_by IS NULL`, id)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE `+table+` SET claimed_by = $2 WHERE id = $1 AND claimed_by IS NULL`, id, who)
		}
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return nil, fmt.Errorf("row %d claimed by %s: %d rows affected (%v), another claimer had it", id, who, n, err)
		}
	}
	return ids, nil
}

// Many claimers, through two handles as two processes would, each take
// batches with ORDER BY … LIMIT k and Dialect.SkipLocked: every row is
// claimed exactly once in total. On SQLite SkipLocked is empty: write
// transactions are serialized whole, so claimers cannot overlap.
func TestClaimsUnderContention(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		dbs := []*store.DB{e.open(t), e.open(t)}
		ctx := context.Background()
		const rows, batch, workers = 400, 7, 8
		exec(t, dbs[0], `CREATE TABLE claim_jobs (id BIGINT PRIMARY KEY, claimed_by TEXT)`)
		if err := dbs[0].InTx(ctx, func(tx *store.Tx) error {
			for i := 1; i <= rows; i++ {
				if _, err := tx.ExecContext(ctx, `INSERT INTO claim_jobs (id) VALUES ($1)`, i); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		var mu sync.Mutex
		claims := map[int64][]string{}
		deleted := map[int64]bool{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, who, del := dbs[w%2], fmt.Sprintf("w%d", w), w%4 >= 2
				<-start
				for {
					var ids []int64
					err := db.InTx(ctx, func(tx *store.Tx) error {
						var err error
						ids, err = claim(ctx, tx, "claim_jobs", who, batch, del)
						return err
					})
					if err != nil {
						errs <- fmt.Errorf("%s: %w", who, err)
						return
					}
					if len(ids) == 0 {
						return
					}
					mu.Lock()
					for _, id := range ids {
						claims[id] = append(claims[id], who)
						deleted[id] = del
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for id := int64(1); id <= rows; id++ {
			if got := claims[id]; len(got) != 1 {
				t.Errorf("row %d claimed %d times (%v), want exactly once", id, len(got), got)
			}
		}
		if len(claims) != rows {
			t.Errorf("%d distinct rows claimed, want %d", len(claims), rows)
		}
		// The database agrees with what the claimers recorded.
		rs, err := dbs[1].Read().QueryContext(ctx, `SELECT id, claimed_by FROM claim_jobs`)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		left := 0
		for rs.Next() {
			var id int64
			var by sql.NullString
			if err := rs.Scan(&id, &by); err != nil {
				t.Fatal(err)
			}
			left++
			if deleted[id] || !by.Valid || len(claims[id]) != 1 || claims[id][0] != by.String {
				t.Errorf("row %d: claimed_by %v in the table, claimers recorded %v (deleted %v)", id, by, claims[id], deleted[id])
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		nDeleted := 0
		for _, d := range deleted {
			if d {
				nDeleted++
			}
		}
		if left+nDeleted != rows {
			t.Errorf("%d rows left marked + %d deleted, want %d", left, nDeleted, rows)
		}
	})
}

// A claimer holding rows does not hold up another claimer on PostgreSQL
// (SKIP LOCKED passes over them); on SQLite the second waits for the first
// to commit (one writer at a time) and then sees them taken. Either way
// the two get different rows.
func TestSkipLockedPassesOverHeldRows(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db1, db2 := e.open(t), e.open(t)
		ctx := context.Background()
		exec(t, db1, `CREATE TABLE held_jobs (id BIGINT PRIMARY KEY, claimed_by TEXT)`)
		for i := 1; i <= 10; i++ {
			exec(t, db1, `INSERT INTO held_jobs (id) VALUES ($1)`, i)
		}

		claimed, release := make(chan struct{}), make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		defer unblock() // also when the test fails half-way
		var once sync.Once
		var first []int64
		var firstPID int64
		firstDone := make(chan error, 1)
		go func() {
			firstDone <- db1.InTx(ctx, func(tx *store.Tx) error {
				if e.postgres() {
					if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&firstPID); err != nil {
						return err
					}
				}
				ids, err := claim(ctx, tx, "held_jobs", "a", 3, false)
				if err != nil {
					return err
				}
				first = ids
				once.Do(func() { close(claimed) })
				<-release
				return nil
			})
		}()
		within(t, claimed, "first claimer")

		type result struct {
			ids []int64
			err error
		}
		second := make(chan result, 1)
		go func() {
			var ids []int64
			err := db2.InTx(ctx, func(tx *store.Tx) error {
				var err error
				ids, err = claim(ctx, tx, "held_jobs", "b", 3, false)
				return err
			})
			second <- result{ids, err}
		}()

		var r result
		if e.postgres() {
			// The second claimer finishes while the first still holds its
			// rows, and is never seen waiting for them.
			timeout := time.After(30 * time.Second)
		wait:
			for {
				select {
				case r = <-second:
					break wait
				case <-timeout:
					t.Fatal("second claimer still waiting after 30 s while the first holds its rows")
				case <-time.After(5 * time.Millisecond):
					blocked, err := blockedBy(db1, firstPID)
					if err != nil {
						t.Fatalf("pg_blocking_pids: %v", err)
					}
					if blocked {
						t.Fatal("second claimer waits for the rows the first holds: SKIP LOCKED not in effect")
					}
				}
			}
			unblock()
		} else {
			select {
			case r = <-second:
				t.Fatalf("second claimer finished (%v, %v) while the first held the write transaction", r.ids, r.err)
			case <-time.After(100 * time.Millisecond):
			}
			unblock()
			r = within(t, second, "second claimer after the first committed")
		}
		if err := within(t, firstDone, "first claimer commit"); err != nil {
			t.Fatalf("first claimer: %v", err)
		}
		if r.err != nil {
			t.Fatalf("second claimer: %v", r.err)
		}
		if !slices.Equal(first, []int64{1, 2, 3}) || !slices.Equal(r.ids, []int64{4, 5, 6}) {
			t.Fatalf("first claimed %v, second %v; want [1 2 3] and [4 5 6]", first, r.ids)
		}
	})
}

// blockedBy reports whether some PostgreSQL backend waits for a lock the
// backend pid holds.
func blockedBy(db *store.DB, pid int64) (bool, error) {
	var n int64
	err := db.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&n)
	return n > 0, err
}

// A row locked with Dialect.ForUpdate makes a second writer wait until the
// first commits; the second then reads the committed value. With 50
// concurrent read-modify-write increments no update is lost.
func TestLockWaits(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db1, db2 := e.open(t), e.open(t)
		ctx := context.Background()
		exec(t, db1, `CREATE TABLE counters (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)`)
		exec(t, db1, `INSERT INTO counters (id, n) VALUES (1, 0), (2, 0)`)

		t.Run("second writer waits", func(t *testing.T) {
			locked, release := make(chan struct{}), make(chan struct{})
			var releaseOnce sync.Once
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			defer unblock() // also when the test fails half-way
			var once sync.Once
			var firstPID int64
			firstDone := make(chan error, 1)
			go func() {
				firstDone <- db1.InTx(ctx, func(tx *store.Tx) error {
					if e.postgres() {
						if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&firstPID); err != nil {
							return err
						}
					}
					var n int64
					if err := tx.QueryRowContext(ctx, `SELECT n FROM counters WHERE id = 1`+tx.Dialect.ForUpdate()).Scan(&n); err != nil {
						return err
					}
					once.Do(func() { close(locked) })
					<-release
					_, err := tx.ExecContext(ctx, `UPDATE counters SET n = $1 WHERE id = 1`, n+1)
					return err
				})
			}()
			within(t, locked, "first writer's lock")

			type result struct {
				seen int64
				err  error
			}
			second := make(chan result, 1)
			go func() {
				var seen int64
				err := db2.InTx(ctx, func(tx *store.Tx) error {
					if err := tx.QueryRowContext(ctx, `SELECT n FROM counters WHERE id = 1`+tx.Dialect.ForUpdate()).Scan(&seen); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `UPDATE counters SET n = $1 WHERE id = 1`, seen+1)
					return err
				})
				second <- result{seen, err}
			}()

			if e.postgres() {
				// Wait until the server reports the second blocked by the first.
				waiting := make(chan struct{})
				go func() {
					defer close(waiting)
					for {
						select {
						case <-release:
							return
						default:
						}
						if blocked, err := blockedBy(db1, firstPID); err != nil || blocked {
							return
						}
						time.Sleep(5 * time.Millisecond)
					}
				}()
				select {
				case <-waiting:
				case r := <-second:
					t.Fatalf("second writer finished (saw %d, %v) while the first held the row", r.seen, r.err)
				case <-time.After(30 * time.Second):
					t.Fatal("second writer not reported blocked behind the first after 30 s")
				}
			}
			select {
			case r := <-second:
				t.Fatalf("second writer finished (saw %d, %v) while the first held the row", r.seen, r.err)
			case <-time.After(100 * time.Millisecond):
			}
			unblock()
			if err := within(t, firstDone, "first writer"); err != nil {
				t.Fatalf("first writer: %v", err)
			}
			r := within(t, second, "second writer")
			if r.err != nil {
				t.Fatalf("second writer: %v", r.err)
			}
			if r.seen != 1 {
				t.Fatalf("second writer read %d, want the first's committed 1", r.seen)
			}
			if n := queryInt(t, db1.Read(), `SELECT n FROM counters WHERE id = 1`); n != 2 {
				t.Fatalf("counter = %d, want 2", n)
			}
		})

		t.Run("no lost update", func(t *testing.T) {
			const writers = 50
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db := []*store.DB{db1, db2}[i%2]
					errs <- db.InTx(ctx, func(tx *store.Tx) error {
						var n int64
						if err := tx.QueryRowContext(ctx, `SELECT n FROM counters WHERE id = 2`+tx.Dialect.ForUpdate()).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE counters SET n = $1 WHERE id = 2`, n+1)
						return err
					})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := queryInt(t, db2.Read(), `SELECT n FROM counters WHERE id = 2`); n != writers {
				t.Fatalf("counter = %d after %d increments", n, writers)
			}
		})
	})
}

// store.IsUniqueViolation is true for a duplicate key (primary key, UNIQUE
// column, unique index) on both engines and false for anything else.
func TestIsUniqueViolation(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		ctx := context.Background()
		exec(t, db, `CREATE TABLE uv_parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
		exec(t, db, `CREATE TABLE uv (
			id BIGINT PRIMARY KEY,
			email TEXT NOT NULL UNIQUE,
			parent_id INTEGER REFERENCES uv_parent (id),
			a TEXT, b TEXT,
			qty BIGINT CHECK (qty >= 0))`)
		exec(t, db, `CREATE UNIQUE INDEX uv_ab ON uv (a, b)`)
		exec(t, db, `INSERT INTO uv_parent (id, name) VALUES (1, 'p')`)
		exec(t, db, `INSERT INTO uv (id, email, parent_id, a, b, qty) VALUES (1, 'x@example.com', 1, 'a', 'b', 1)`)
		exec(t, db, `INSERT INTO uv (id, email) VALUES (2, 'w@example.com')`)

		for _, c := range []struct {
			name, stmt string
			want       bool
		}{
			{"primary key", `INSERT INTO uv (id, email) VALUES (1, 'y@example.com')`, true},
			{"integer primary key", `INSERT INTO uv_parent (id, name) VALUES (1, 'q')`, true},
			{"unique column", `INSERT INTO uv (id, email) VALUES (3, 'x@example.com')`, true},
			{"unique index", `INSERT INTO uv (id, email, a, b) VALUES (4, 'z@example.com', 'a', 'b')`, true},
			{"unique column by update", `UPDATE uv SET email = 'x@example.com' WHERE id = 2`, true},
			{"not null", `INSERT INTO uv (id, email) VALUES (5, NULL)`, false},
			{"foreign key", `INSERT INTO uv (id, email, parent_id) VALUES (6, 'f@example.com', 99)`, false},
			{"check", `INSERT INTO uv (id, email, qty) VALUES (7, 'c@example.com', -1)`, false},
			{"no such table", `INSERT INTO uv_nowhere (id) VALUES (1)`, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := db.InTx(ctx, func(tx *store.Tx) error {
					_, err := tx.ExecContext(ctx, c.stmt)
					return err
				})
				if err == nil {
					t.Fatalf("%s: no error", c.stmt)
				}
				if got := store.IsUniqueViolation(err); got != c.want {
					t.Fatalf("IsUniqueViolation(%v) = %v, want %v", err, got, c.want)
				}
				if got := store.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)); got != c.want {
					t.Fatalf("IsUniqueViolation(wrapped %v) = %v, want %v", err, got, c.want)
				}
			})
		}
		// Nothing the failed statements did remains.
		if n := queryInt(t, db.Read(), `SELECT COUNT(*) FROM uv`); n != 2 {
			t.Fatalf("%d rows in uv, want 2", n)
		}
		if n := queryInt(t, db.Read(), `SELECT COUNT(*) FROM uv WHERE email = 'x@example.com'`); n != 1 {
			t.Fatalf("%d rows with the duplicated email, want 1", n)
		}
	})
	for _, err := range []error{nil, errors.New("duplicate key"), sql.ErrNoRows, context.Canceled} {
		if store.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true", err)
		}
	}
}

// On PostgreSQL, two transactions locking two rows in opposite order
// deadlock; the server aborts one and DB.InTx runs it again, and both
// succeed. A serialization failure is retried the same way. On SQLite
// write transactions are serialized whole, so there is nothing to retry.
func TestDeadlockRetry(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db1, db2 := e.open(t), e.open(t)
		ctx := context.Background()
		exec(t, db1, `CREATE TABLE dl (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)`)
		exec(t, db1, `INSERT INTO dl (id, n) VALUES (1, 0), (2, 0)`)
		bump := func(tx *store.Tx, id int64) error {
			_, err := tx.ExecContext(ctx, `UPDATE dl SET n = n + 1 WHERE id = $1`, id)
			return err
		}

		if !e.postgres() {
			t.Run("serialized writers", func(t *testing.T) {
				var attempts [2]atomic.Int32
				locked := make(chan struct{})
				var once sync.Once
				firstDone := make(chan error, 1)
				go func() {
					firstDone <- db1.InTx(ctx, func(tx *store.Tx) error {
						attempts[0].Add(1)
						if err := bump(tx, 1); err != nil {
							return err
						}
						once.Do(func() { close(locked) })
						// Give the other transaction time to start and want row 2.
						time.Sleep(50 * time.Millisecond)
						return bump(tx, 2)
					})
				}()
				within(t, locked, "first transaction")
				var seen int64
				err := db2.InTx(ctx, func(tx *store.Tx) error {
					attempts[1].Add(1)
					if err := tx.QueryRowContext(ctx, `SELECT n FROM dl WHERE id = 2`).Scan(&seen); err != nil {
						return err
					}
					if err := bump(tx, 2); err != nil {
						return err
					}
					return bump(tx, 1)
				})
				if err != nil {
					t.Fatalf("second transaction: %v", err)
				}
				if err := within(t, firstDone, "first transaction"); err != nil {
					t.Fatalf("first transaction: %v", err)
				}
				if a, b := attempts[0].Load(), attempts[1].Load(); a != 1 || b != 1 {
					t.Fatalf("attempts %d and %d, want 1 each: SQLite writers do not deadlock", a, b)
				}
				if seen != 1 {
					t.Fatalf("second transaction began before the first committed (saw n=%d, want 1)", seen)
				}
				if got := queryInts(t, db1.Read(), `SELECT n FROM dl ORDER BY id`); !slices.Equal(got, []int64{2, 2}) {
					t.Fatalf("counters %v, want [2 2]", got)
				}
			})
			return
		}

		t.Run("deadlock", func(t *testing.T) {
			var attempts [2]atomic.Int32
			var firstLocks sync.WaitGroup
			firstLocks.Add(2)
			run := func(i int, db *store.DB, first, second int64) error {
				return db.InTx(ctx, func(tx *store.Tx) error {
					a := attempts[i].Add(1)
					if err := bump(tx, first); err != nil {
						return err
					}
					if a == 1 {
						// Both hold their first row before either asks for its second.
						firstLocks.Done()
						firstLocks.Wait()
					}
					return bump(tx, second)
				})
			}
			done := make(chan error, 2)
			go func() { done <- run(0, db1, 1, 2) }()
			go func() { done <- run(1, db2, 2, 1) }()
			for range 2 {
				if err := within(t, done, "deadlocked transactions"); err != nil {
					t.Fatalf("transaction failed despite retries: %v", err)
				}
			}
			a, b := attempts[0].Load(), attempts[1].Load()
			if a+b != 3 || min(a, b) != 1 {
				t.Fatalf("attempts %d and %d, want one transaction retried once after the deadlock", a, b)
			}
			if got := queryInts(t, db1.Read(), `SELECT n FROM dl ORDER BY id`); !slices.Equal(got, []int64{2, 2}) {
				t.Fatalf("counters %v, want [2 2]", got)
			}
		})

		t.Run("serialization failure", func(t *testing.T) {
			exec(t, db1, `UPDATE dl SET n = 0`)
			var attempts [2]atomic.Int32
			secondRead, firstDone := make(chan struct{}), make(chan struct{})
			var once sync.Once
			rr := func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`)
				return err
			}
			done := make(chan error, 2)
			go func() {
				err := db1.InTx(ctx, func(tx *store.Tx) error {
					attempts[0].Add(1)
					if err := rr(tx); err != nil {
						return err
					}
					var n int64
					if err := tx.QueryRowContext(ctx, `SELECT n FROM dl WHERE id = 1`).Scan(&n); err != nil {
						return err
					}
					<-secondRead
					_, err := tx.ExecContext(ctx, `UPDATE dl SET n = $1 WHERE id = 1`, n+1)
					return err
				})
				close(firstDone)
				done <- err
			}()
			go func() {
				done <- db2.InTx(ctx, func(tx *store.Tx) error {
					attempts[1].Add(1)
					if err := rr(tx); err != nil {
						return err
					}
					var n int64
					if err := tx.QueryRowContext(ctx, `SELECT n FROM dl WHERE id = 1`).Scan(&n); err != nil {
						return err
					}
					// The first attempt's snapshot predates the other's commit.
					once.Do(func() { close(secondRead) })
					<-firstDone
					_, err := tx.ExecContext(ctx, `UPDATE dl SET n = $1 WHERE id = 1`, n+1)
					return err
				})
			}()
			for range 2 {
				if err := within(t, done, "repeatable-read transactions"); err != nil {
					t.Fatalf("transaction failed despite retries: %v", err)
				}
			}
			if a, b := attempts[0].Load(), attempts[1].Load(); a != 1 || b != 2 {
				t.Fatalf("attempts %d and %d, want 1 and 2 (retried after the serialization failure)", a, b)
			}
			if n := queryInt(t, db1.Read(), `SELECT n FROM dl WHERE id = 1`); n != 2 {
				t.Fatalf("counter %d, want 2", n)
			}
		})
	})
}

// Tx.Savepoint rolls back only what its fn wrote when fn fails; the
// transaction goes on and commits the rest. Savepoints nest.
func TestSavepoints(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		ctx := context.Background()
		exec(t, db, `CREATE TABLE sp (id BIGINT PRIMARY KEY)`)
		errBoom := errors.New("boom")
		ins := func(tx *store.Tx, id int) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO sp (id) VALUES ($1)`, id)
			return err
		}
		ids := func(q store.Querier) []int64 { return queryInts(t, q, `SELECT id FROM sp ORDER BY id`) }

		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := ins(tx, 1); err != nil {
				return err
			}
			// A failing savepoint loses its own write only.
			if err := tx.Savepoint(ctx, func() error {
				if err := ins(tx, 2); err != nil {
					return err
				}
				return errBoom
			}); !errors.Is(err, errBoom) {
				return fmt.Errorf("failing savepoint returned %v, want boom", err)
			}
			if err := ins(tx, 3); err != nil {
				return err
			}
			// Nested: the inner one fails, the outer goes on and succeeds.
			if err := tx.Savepoint(ctx, func() error {
				if err := ins(tx, 4); err != nil {
					return err
				}
				if err := tx.Savepoint(ctx, func() error {
					if err := ins(tx, 5); err != nil {
						return err
					}
					return errBoom
				}); !errors.Is(err, errBoom) {
					return fmt.Errorf("inner savepoint returned %v, want boom", err)
				}
				return ins(tx, 6)
			}); err != nil {
				return fmt.Errorf("outer savepoint: %w", err)
			}
			// Nested: the inner one succeeds, the outer fails: both roll back.
			if err := tx.Savepoint(ctx, func() error {
				if err := ins(tx, 7); err != nil {
					return err
				}
				if err := tx.Savepoint(ctx, func() error { return ins(tx, 8) }); err != nil {
					return fmt.Errorf("inner savepoint: %w", err)
				}
				return errBoom
			}); !errors.Is(err, errBoom) {
				return fmt.Errorf("outer savepoint returned %v, want boom", err)
			}
			// A statement failing inside a savepoint (which aborts the whole
			// transaction on PostgreSQL) leaves the transaction usable.
			if err := tx.Savepoint(ctx, func() error {
				if err := ins(tx, 9); err != nil {
					return err
				}
				return ins(tx, 1)
			}); !store.IsUniqueViolation(err) {
				return fmt.Errorf("savepoint with a duplicate key returned %v, want a unique violation", err)
			}
			if err := ins(tx, 10); err != nil {
				return fmt.Errorf("after the failed statement: %w", err)
			}
			if got := ids(tx); !slices.Equal(got, []int64{1, 3, 4, 6, 10}) {
				return fmt.Errorf("inside the transaction: %v, want [1 3 4 6 10]", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(db.Read()); !slices.Equal(got, []int64{1, 3, 4, 6, 10}) {
			t.Fatalf("committed %v, want [1 3 4 6 10]", got)
		}

		// A transaction failing after a released savepoint loses it too.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.Savepoint(ctx, func() error { return ins(tx, 20) }); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx returned %v, want boom", err)
		}

		// A panic inside a savepoint rolls the transaction back and leaves
		// the handle usable.
		func() {
			defer func() {
				if p := recover(); p != "savepoint panic" {
					t.Fatalf("recovered %v, want the panic to propagate", p)
				}
			}()
			_ = db.InTx(ctx, func(tx *store.Tx) error {
				return tx.Savepoint(ctx, func() error {
					if err := ins(tx, 30); err != nil {
						return err
					}
					panic("savepoint panic")
				})
			})
		}()
		exec(t, db, `INSERT INTO sp (id) VALUES (40)`)
		if got := ids(db.Read()); !slices.Equal(got, []int64{1, 3, 4, 6, 10, 40}) {
			t.Fatalf("after the failed transactions: %v, want [1 3 4 6 10 40]", got)
		}
	})
}

// A transaction whose fn ends its goroutine without returning (t.FailNow,
// runtime.Goexit) is rolled back: the writer is not left held (on SQLite
// every later write would wait for ever) and nothing it wrote stays.
func TestInTxGoexitRollsBack(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		ctx := context.Background()
		exec(t, db, `CREATE TABLE gx (id BIGINT PRIMARY KEY)`)
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			_ = db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO gx (id) VALUES (1)`); err != nil {
					return err
				}
				runtime.Goexit()
				return nil
			})
		}()
		within(t, exited, "goroutine ending inside InTx")
		done := make(chan error, 1)
		go func() {
			done <- db.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO gx (id) VALUES (2)`)
				return err
			})
		}()
		if err := within(t, done, "next transaction after a goroutine ended inside InTx"); err != nil {
			t.Fatal(err)
		}
		if got := queryInts(t, db.Read(), `SELECT id FROM gx ORDER BY id`); !slices.Equal(got, []int64{2}) {
			t.Fatalf("rows %v, want [2]", got)
		}
	})
}

// Several processes starting at once on one fresh database all migrate it:
// each migration is applied once and the schema is usable.
func TestConcurrentMigrations(t *testing.T) {
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".sql"); ok {
			versions = append(versions, name)
		}
	}
	slices.Sort(versions)
	if len(versions) == 0 {
		t.Fatal("no migrations found")
	}

	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		const migrators = 4
		var mu sync.Mutex
		var dbs []*store.DB
		t.Cleanup(func() {
			for _, db := range dbs {
				db.Close()
			}
		})
		errs := make(chan error, migrators)
		start := make(chan struct{})
		for i := range migrators {
			go func() {
				<-start
				db, err := store.Open(ctx, e.url)
				if err != nil {
					errs <- fmt.Errorf("migrator %d: open: %w", i, err)
					return
				}
				mu.Lock()
				dbs = append(dbs, db)
				mu.Unlock()
				if err := db.Migrate(ctx); err != nil {
					errs <- fmt.Errorf("migrator %d: %w", i, err)
					return
				}
				errs <- nil
			}()
		}
		close(start)
		for range migrators {
			if err := within(t, errs, "migrators"); err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			return
		}

		db := e.open(t)
		applied := func() []string {
			rows, err := db.Read().QueryContext(ctx, `SELECT version FROM kassa_migrations ORDER BY version`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := applied(); !slices.Equal(got, versions) {
			t.Fatalf("kassa_migrations %v, want each of %v once", got, versions)
		}
		// The schema is there and usable.
		for _, table := range []string{"accounts", "due_work"} {
			if n := queryInt(t, db.Read(), `SELECT COUNT(*) FROM `+table); n != 0 {
				t.Errorf("%s has %d rows in a fresh database", table, n)
			}
		}
		// Migrating again changes nothing.
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		if got := applied(); !slices.Equal(got, versions) {
			t.Fatalf("kassa_migrations after migrating again %v, want %v", got, versions)
		}
	})
}

// The read handle refuses to write on both engines (SQLite query_only,
// PostgreSQL default_transaction_read_only); its Querier type has no Exec.
func TestReadHandleCannotWrite(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		ctx := context.Background()
		exec(t, db, `CREATE TABLE ro (id BIGINT PRIMARY KEY, v TEXT NOT NULL)`)
		exec(t, db, `INSERT INTO ro (id, v) VALUES (1, 'a')`)
		readOnly := func(err error) bool {
			return pgCode(err) == "25006" || sqliteCode(err) == sqlite3.READONLY
		}
		writes := []string{
			`INSERT INTO ro (id, v) VALUES (2, 'b') RETURNING id`,
			`INSERT INTO ro (id, v) VALUES (3, 'c')`,
			`UPDATE ro SET v = 'z' RETURNING id`,
			`DELETE FROM ro WHERE id = 1 RETURNING id`,
			`DELETE FROM ro`,
			`CREATE TABLE ro2 (id BIGINT)`,
			`DROP TABLE ro`,
		}
		if e.postgres() {
			writes = append(writes, `WITH d AS (DELETE FROM ro RETURNING id) SELECT COUNT(*) FROM d`)
		}
		for range 2 { // the second time through cached statements
			for _, w := range writes {
				if err := drain(ctx, db.Read(), w); !readOnly(err) {
					t.Errorf("Read().QueryContext(%q): %v, want a read-only error", w, err)
				}
			}
			var id int64
			if err := db.Read().QueryRowContext(ctx, `INSERT INTO ro (id, v) VALUES (4, 'd') RETURNING id`).Scan(&id); !readOnly(err) {
				t.Errorf("Read().QueryRowContext(INSERT … RETURNING): id %d, %v, want a read-only error", id, err)
			}
		}
		var v string
		if err := db.Read().QueryRowContext(ctx, `SELECT v FROM ro WHERE id = 1`).Scan(&v); err != nil || v != "a" {
			t.Fatalf("after the refused writes: v=%q, %v", v, err)
		}
		if n := queryInt(t, db.Read(), `SELECT COUNT(*) FROM ro`); n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}
	})
}

// countTo1e9 runs for minutes unless it is stopped.
const countTo1e9 = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000000000) SELECT COUNT(*) AS %s FROM c`

// An abandoned request stops its query on both engines, through the read
// handle and inside a transaction, and the handles keep working.
func TestCancellation(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		exec(t, db, `CREATE TABLE cancel_log (id BIGINT PRIMARY KEY)`)
		cancelled := func(err error) bool {
			return errors.Is(err, context.Canceled) || pgCode(err) == "57014" || sqliteCode(err) == sqlite3.INTERRUPT
		}
		// run starts fn with a context cancelled after ~100 ms and returns
		// what fn returned; then, on PostgreSQL, waits until the server is
		// no longer running the query.
		n := 0
		run := func(t *testing.T, fn func(ctx context.Context, query string) error) error {
			t.Helper()
			n++
			marker := fmt.Sprintf("%s_cancel_%d", strings.TrimPrefix(e.schema, "kt_"), n)
			query := fmt.Sprintf(countTo1e9, "kt_"+marker)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			done := make(chan error, 1)
			go func() { done <- fn(ctx, query) }()
			err := within(t, done, "query after its context was cancelled")
			if e.postgres() {
				serverStopped(t, db, marker)
			}
			return err
		}
		stillWorks := func(t *testing.T) {
			t.Helper()
			for i := range 20 { // more than the pools hold
				if got := queryInt(t, db.Read(), `SELECT CAST($1 AS BIGINT)`, i); got != int64(i) {
					t.Fatalf("read handle after the cancellation: %d, want %d", got, i)
				}
			}
			exec(t, db, `INSERT INTO cancel_log (id) VALUES ($1)`, n)
		}

		t.Run("read", func(t *testing.T) {
			err := run(t, func(ctx context.Context, query string) error {
				var c int64
				return db.Read().QueryRowContext(ctx, query).Scan(&c)
			})
			if !cancelled(err) {
				t.Fatalf("cancelled read: %v, want a cancellation error", err)
			}
			stillWorks(t)
		})
		t.Run("read rows", func(t *testing.T) {
			err := run(t, func(ctx context.Context, query string) error {
				return drain(ctx, db.Read(), query)
			})
			if !cancelled(err) {
				t.Fatalf("cancelled read: %v, want a cancellation error", err)
			}
			stillWorks(t)
		})
		t.Run("query in tx", func(t *testing.T) {
			err := run(t, func(ctx context.Context, query string) error {
				return db.InTx(context.Background(), func(tx *store.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO cancel_log (id) VALUES (-1)`); err != nil {
						return err
					}
					var c int64
					return tx.QueryRowContext(ctx, query).Scan(&c)
				})
			})
			if !cancelled(err) {
				t.Fatalf("cancelled query in a transaction: %v, want a cancellation error", err)
			}
			stillWorks(t)
		})
		t.Run("tx context", func(t *testing.T) {
			err := run(t, func(ctx context.Context, query string) error {
				return db.InTx(ctx, func(tx *store.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO cancel_log (id) VALUES (-2)`); err != nil {
						return err
					}
					var c int64
					return tx.QueryRowContext(ctx, query).Scan(&c)
				})
			})
			if !cancelled(err) {
				t.Fatalf("transaction with a cancelled context: %v, want a cancellation error", err)
			}
			stillWorks(t)
		})
		// The cancelled transactions' writes were rolled back.
		if got := queryInts(t, db.Read(), `SELECT id FROM cancel_log ORDER BY id`); slices.ContainsFunc(got, func(id int64) bool { return id < 0 }) {
			t.Fatalf("cancel_log %v: a cancelled transaction committed", got)
		}
	})
}

// serverStopped waits until no PostgreSQL backend runs a query containing
// marker; if one still does after the safety timeout, the test fails (a
// client that merely dropped its connection leaves the server computing).
func serverStopped(t *testing.T, db *store.DB, marker string) {
	t.Helper()
	const q = `SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0`
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int64
		if err := db.Read().QueryRowContext(context.Background(), q, marker).Scan(&n); err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			// Stop it, so that it does not run on after the test.
			_ = db.Read().QueryRowContext(context.Background(),
				`SELECT COUNT(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND strpos(query, $1) > 0`, marker).Scan(&n)
			t.Fatalf("the server still runs the cancelled query 30 s later")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// LOWER folds non-ASCII letters on both engines, so that a
// case-insensitive search written LOWER(name) LIKE LOWER($1) finds them.
func TestUnicodeCaseFolding(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		db := e.open(t)
		ctx := context.Background()
		exec(t, db, `CREATE TABLE uc (id BIGINT PRIMARY KEY, name TEXT NOT NULL)`)
		exec(t, db, `INSERT INTO uc (id, name) VALUES (1, 'ÖLÇÜx'), (2, 'Olcux'), (3, 'ölçü'), (4, 'xÖLÇÜ')`)
		inBoth(t, db, func(t *testing.T, q store.Querier) {
			var lower, upper string
			if err := q.QueryRowContext(ctx, `SELECT LOWER('ÖLÇÜx'), UPPER('ölçüx')`).Scan(&lower, &upper); err != nil {
				t.Fatal(err)
			}
			if lower != "ölçüx" || upper != "ÖLÇÜX" {
				t.Fatalf("LOWER('ÖLÇÜx') = %q, UPPER('ölçüx') = %q; want ölçüx, ÖLÇÜX", lower, upper)
			}
			for _, pattern := range []string{"ölçü%", "ÖLÇÜ%", "Ölçü%"} {
				got := queryInts(t, q, `SELECT id FROM uc WHERE LOWER(name) LIKE LOWER($1) ORDER BY id`, pattern)
				if !slices.Equal(got, []int64{1, 3}) {
					t.Errorf("LOWER(name) LIKE LOWER(%q): %v, want [1 3]", pattern, got)
				}
			}
			if got := queryInts(t, q, `SELECT id FROM uc WHERE LOWER(name) LIKE LOWER($1) ORDER BY id`, "%ölçü"); !slices.Equal(got, []int64{3, 4}) {
				t.Errorf("LOWER(name) LIKE LOWER('%%ölçü'): %v, want [3 4]", got)
			}
		})
	})
}
