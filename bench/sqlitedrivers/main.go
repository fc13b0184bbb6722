// Command sqlitedrivers compares the two pure-Go SQLite drivers Kassa could
// use, through database/sql as Kassa uses them: point reads of random rows
// out of many distinct ones, by prepared statements on a read pool, while a
// writer keeps updating rows on its own connection (WAL, as Kassa opens it).
//
// Usage: go run ./bench/sqlitedrivers [-duration 5s] [-rows 1000] [-readers 2]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	_ "modernc.org/sqlite"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "measuring time per driver")
	rows := flag.Int("rows", 1000, "distinct rows read")
	readers := flag.Int("readers", 2, "concurrent readers")
	flag.Parse()
	for _, d := range []struct{ name, driver, pragmas string }{
		{"modernc.org/sqlite v1.40.0", "sqlite", "_pragma=journal_mode(WAL)&_pragma=busy_timeout(15000)&_pragma=synchronous(NORMAL)"},
		{"github.com/ncruces/go-sqlite3 v0.37.0", "sqlite3", "_pragma=journal_mode(WAL)&_pragma=busy_timeout(15000)&_pragma=synchronous(NORMAL)"},
	} {
		reads, writes, err := run(d.driver, d.pragmas, *duration, *rows, *readers)
		if err != nil {
			fmt.Fprintln(os.Stderr, d.name, err)
			os.Exit(1)
		}
		fmt.Printf("%-40s point reads %8.0f/s (%.1f µs each per reader)   writes beside them %6.0f/s\n", d.name,
			reads, float64(*readers)*1e6/reads, writes)
	}
}

func run(driver, pragmas string, duration time.Duration, rows, readers int) (float64, float64, error) {
	dir, err := os.MkdirTemp("", "sqlitedrivers")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "b.db") + "?" + pragmas
	w, err := sql.Open(driver, dsn+"&_txlock=immediate")
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE customers (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT, email TEXT,
		phone TEXT, address TEXT, metadata TEXT, balance BIGINT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL)`); err != nil {
		return 0, 0, err
	}
	tx, _ := w.Begin()
	for i := 0; i < rows; i++ {
		if _, err := tx.Exec(`INSERT INTO customers VALUES ($1, 'acct_1', $2, $3, '+1 555 0100', '{"line1":"1 Main St","city":"Springfield","country":"US"}', '{"tier":"gold"}', 0, $4, $4)`,
			fmt.Sprintf("cus_%06d", i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("c%d@example.test", i), 1700000000+i); err != nil {
			return 0, 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	r, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	st, err := r.Prepare(`SELECT id, name, email, phone, address, metadata, balance, created, updated FROM customers WHERE account_id = $1 AND id = $2`)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var reads, writes atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, readers+1)
	for g := 0; g < readers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var id, name, email, phone, addr, meta string
			var bal, created, updated int64
			for ctx.Err() == nil {
				key := fmt.Sprintf("cus_%06d", rand.IntN(rows))
				// A request context, as an HTTP handler passes it.
				if err := st.QueryRowContext(context.Background(), "acct_1", key).Scan(&id, &name, &email, &phone, &addr, &meta, &bal, &created, &updated); err != nil {
					errc <- err
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := w.Exec(`UPDATE customers SET updated = updated + 1 WHERE id = $1`, fmt.Sprintf("cus_%06d", rand.IntN(rows))); err != nil {
				errc <- err
				return
			}
			writes.Add(1)
			time.Sleep(time.Millisecond) // writes mixed in, not a write benchmark
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return 0, 0, err
	default:
	}
	s := duration.Seconds()
	return float64(reads.Load()) / s, float64(writes.Load()) / s, nil
}
