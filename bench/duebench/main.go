// Command duebench measures Kassa's due-work queue (internal/duework) against
// the targets of docs/PERFORMANCE.md, on each engine in the same run:
//
//   - the database's single-row commit rate through Kassa's store
//     (store.DB.InTx with one small INSERT per transaction), sequential and
//     with -conc goroutines; the better of the two is the physical limit;
//   - the claim loop's throughput (Queue.RunDue until drained) for no-op Tx
//     items spread over many accounts, with single-row commits mixed in, and
//     on PostgreSQL also with two queues in the process; its ratio to the
//     commit rate;
//   - one pass of the claim loop with 100,000 accounts, 100,000 scheduled
//     items and nothing due.
//
// Usage: go run ./bench/duebench [-engine sqlite|postgres|both] [-items 50000]
//
// PostgreSQL is KASSA_TEST_DATABASE_URL, else -pg-url; each run uses a fresh
// schema and drops it afterwards.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/kassahq/kassa/bench/internal/benchdb"
	"github.com/kassahq/kassa/internal/app"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/store"
)

const noopKind = "bench.noop"

type options struct {
	items, accounts, idleAccounts, conc, passes int
	commitFor                                   time.Duration
	sameSecond, explain, holdXact               bool
	cpuprofile                                  string
}

func main() {
	engine := flag.String("engine", "both", "sqlite, postgres or both")
	pgURL := flag.String("pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server (KASSA_TEST_DATABASE_URL wins)")
	var o options
	flag.IntVar(&o.items, "items", 50000, "no-op items to drain")
	flag.IntVar(&o.accounts, "accounts", 1000, "accounts the items are spread over")
	flag.IntVar(&o.idleAccounts, "idle-accounts", 100000, "accounts (and future items) of the idle pass")
	flag.IntVar(&o.conc, "conc", 16, "concurrent committers (PostgreSQL's writer pool holds 16 connections)")
	flag.IntVar(&o.passes, "passes", 500, "idle passes timed")
	flag.DurationVar(&o.commitFor, "commit-duration", 2*time.Second, "how long each commit-rate measurement runs")
	flag.BoolVar(&o.sameSecond, "same-second", false, "make every item due in the same second (renewals at midnight)")
	flag.BoolVar(&o.holdXact, "hold-xact", false, "PostgreSQL: keep another transaction open from before the drains to the end (a slow report elsewhere), so that no dead row can be cleaned up")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the drains to this file (the engine's name is appended)")
	flag.BoolVar(&o.explain, "explain", false, "print PostgreSQL's plan of the claim query before each drain and the idle passes")
	flag.Parse()
	if v := os.Getenv("KASSA_TEST_DATABASE_URL"); v != "" {
		*pgURL = v
	}
	var engines []string
	switch *engine {
	case "both":
		engines = []string{"sqlite", "postgres"}
	case "sqlite", "postgres":
		engines = []string{*engine}
	default:
		fmt.Fprintln(os.Stderr, "duebench: -engine must be sqlite, postgres or both")
		os.Exit(2)
	}
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d CPUs, %s %s/%s\n", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("items %d over %d accounts (same second: %v), %d committers, idle pass over %d accounts\n\n",
		o.items, o.accounts, o.sameSecond, o.conc, o.idleAccounts)
	for _, e := range engines {
		if err := runEngine(e, *pgURL, o); err != nil {
			fmt.Fprintf(os.Stderr, "duebench %s: %v\n", e, err)
			os.Exit(1)
		}
	}
}

func runEngine(engine, pgURL string, o options) error {
	ctx := context.Background()
	dbURL, cleanup, err := benchdb.Fresh(engine, pgURL, "duebench")
	if err != nil {
		return err
	}
	defer cleanup()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.Open(ctx, app.Config{DatabaseURL: dbURL, Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close()
	var ran atomic.Int64
	noop := duework.Kind{Name: noopKind, Tx: func(context.Context, *store.Tx, duework.Item) (time.Time, error) {
		ran.Add(1)
		return time.Time{}, nil
	}}
	a.Queue.Register(noop)

	// (a) The commit rate.
	c, err := benchdb.NewCommitter(ctx, a.DB)
	if err != nil {
		return err
	}
	seq, err := c.Rate(ctx, 1, o.commitFor)
	if err != nil {
		return err
	}
	par, err := c.Rate(ctx, o.conc, o.commitFor)
	if err != nil {
		return err
	}
	limit := max(seq, par)

	// The accounts: the first o.accounts get the items to drain; every one
	// has an item due next month (subscriptions renewing), never due here.
	created, err := a.Accounts.Create(ctx, "Bench", false)
	if err != nil {
		return err
	}
	company := created.Account.CompanyID
	more, err := insertAccounts(ctx, a.DB, company, max(o.idleAccounts, o.accounts)-1)
	if err != nil {
		return err
	}
	accounts := append([]string{created.Account.ID}, more...)
	nextMonth := time.Now().AddDate(0, 1, 0).Unix()
	if err := insertItems(ctx, a.DB, accounts, len(accounts), "idle_", func(i int) int64 { return nextMonth + int64(i%86400) }); err != nil {
		return err
	}
	var nAccounts, nWork int
	a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&nAccounts)
	a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM due_work`).Scan(&nWork)

	// (c) One pass with many accounts and nothing due, on a fresh table.
	if o.explain {
		explain(ctx, a.DB, "idle pass, fresh table")
	}
	idleFresh, err := idlePasses(ctx, a.Queue, o.passes)
	if err != nil {
		return err
	}

	if o.holdXact && engine == "postgres" {
		release, err := holdTransaction(ctx, dbURL)
		if err != nil {
			return err
		}
		defer release()
	}

	// (b) The claim loop draining no-op items.
	type drain struct {
		name                string
		queues              int
		rate, writes, share float64
	}
	var drains []drain
	queueRuns := []int{1}
	if engine == "postgres" {
		queueRuns = append(queueRuns, 2)
	}
	drainAccounts := accounts[:o.accounts]
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile + "." + engine)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	for round, nq := range queueRuns {
		now := time.Now().Unix()
		if err := insertItems(ctx, a.DB, drainAccounts, o.items, fmt.Sprintf("r%d_", round), func(i int) int64 {
			if o.sameSecond {
				return now - 60
			}
			return now - 3600 + int64(i%3600) // one hour of backlog
		}); err != nil {
			return err
		}
		if o.explain {
			explain(ctx, a.DB, fmt.Sprintf("drain, %d queue(s)", nq))
		}
		ran.Store(0)
		queues := []*duework.Queue{a.Queue}
		for len(queues) < nq {
			q := duework.New(a.DB, clock.Real{}, logger)
			q.Register(noop)
			queues = append(queues, q)
		}
		rate, writes, perQueue, err := drainQueues(ctx, a.DB, c, queues, o.items)
		if err != nil {
			return err
		}
		if got := ran.Load(); got != int64(o.items) {
			return fmt.Errorf("%d queue(s): %d handler runs for %d items", nq, got, o.items)
		}
		d := drain{name: "1 queue", queues: nq, rate: rate, writes: writes}
		if nq > 1 {
			d.name = fmt.Sprintf("%d queues, same process", nq)
			d.share = float64(slices.Min(perQueue)) / float64(o.items)
		}
		drains = append(drains, d)
	}

	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}

	// (c) again, right after the drains deleted their items.
	if o.explain {
		explain(ctx, a.DB, "idle pass, after the drains")
	}
	idleAfter, err := idlePasses(ctx, a.Queue, o.passes)
	if err != nil {
		return err
	}

	fmt.Printf("### %s\n\n| measure | result | target |\n|---|---|---|\n", engine)
	fmt.Printf("| single-row commits, sequential | %.0f /s | — |\n", seq)
	fmt.Printf("| single-row commits, %d goroutines | %.0f /s | — |\n", o.conc, par)
	for _, d := range drains {
		extra := ""
		if d.share > 0 {
			extra = fmt.Sprintf("; smaller share %.0f %%", 100*d.share)
		}
		fmt.Printf("| claim loop, %d no-op items over %d accounts, %s (%.0f commits/s beside it%s) | %.0f items/s = **%.2f** × commit limit | ≥ 0.5 × |\n",
			o.items, len(drainAccounts), d.name, d.writes, extra, d.rate, d.rate/limit)
	}
	for _, p := range []struct {
		when   string
		passes []time.Duration
	}{{"fresh table", idleFresh}, {fmt.Sprintf("right after the drains deleted %d items", o.items*len(queueRuns)), idleAfter}} {
		fmt.Printf("| idle pass, %d accounts, %d items scheduled, none due, %s: median (p90, max) of %d | **%s** (%s, %s) | ≤ 10 ms |\n",
			nAccounts, nWork, p.when, o.passes, ms(p.passes[len(p.passes)/2]), ms(p.passes[len(p.passes)*9/10]), ms(p.passes[len(p.passes)-1]))
	}
	fmt.Println()
	return nil
}

// explain prints PostgreSQL's plan of the claim query (as duework.RunDue
// sends it) with what running it cost.
func explain(ctx context.Context, db *store.DB, when string) {
	if db.Dialect.Name() != "postgres" {
		return
	}
	var plan []string
	err := db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT seq, account_id, kind, subject_id, due_at, run_at, attempts,
			COALESCE(last_error, ''), leased_until, COALESCE(leased_by, ''), version FROM due_work WHERE run_at <= $1
			ORDER BY run_at, seq LIMIT $2`+tx.Dialect.SkipLocked(), time.Now().Unix(), duework.DefaultBatch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return err
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Dead rows stay in the index until no transaction may see them.
		var oldest sql.NullFloat64
		err = tx.QueryRowContext(ctx, `SELECT EXTRACT(EPOCH FROM now() - MIN(xact_start)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`).Scan(&oldest)
		plan = append(plan, fmt.Sprintf("(oldest other open transaction in this database: %.1f s)", oldest.Float64))
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain:", err)
		return
	}
	fmt.Printf("claim query plan (%s):\n    %s\n", when, strings.Join(plan, "\n    "))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

// drainQueues runs RunDue in a loop on each queue (one goroutine each) until
// total items were claimed, while one goroutine makes a single-row commit
// every millisecond. It returns items/s, the mixed-in commits/s and the
// items each queue claimed.
func drainQueues(ctx context.Context, db *store.DB, c *benchdb.Committer, queues []*duework.Queue, total int) (float64, float64, []int, error) {
	var claimed atomic.Int64
	perQueue := make([]int, len(queues))
	errc := make(chan error, len(queues)+1)
	stopWrites := make(chan struct{})
	var writes atomic.Int64
	var ww sync.WaitGroup
	ww.Add(1)
	go func() {
		defer ww.Done()
		for {
			select {
			case <-stopWrites:
				return
			case <-time.After(time.Millisecond):
			}
			if err := c.Commit(ctx); err != nil {
				errc <- err
				return
			}
			writes.Add(1)
		}
	}()
	deadline := time.Now().Add(5 * time.Minute)
	start := time.Now()
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for claimed.Load() < int64(total) {
				if time.Now().After(deadline) {
					errc <- errors.New("not drained after 5 minutes")
					return
				}
				n, err := q.RunDue(ctx)
				if err != nil {
					errc <- err
					return
				}
				perQueue[i] += n
				if claimed.Add(int64(n)); n == 0 {
					time.Sleep(time.Millisecond) // the rest is locked by the other queue
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopWrites)
	ww.Wait()
	select {
	case err := <-errc:
		return 0, 0, nil, err
	default:
	}
	var left int
	if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM due_work WHERE run_at <= $1`, time.Now().Unix()).Scan(&left); err != nil {
		return 0, 0, nil, err
	}
	if left != 0 {
		return 0, 0, nil, fmt.Errorf("%d items left after draining", left)
	}
	return float64(total) / elapsed.Seconds(), float64(writes.Load()) / elapsed.Seconds(), perQueue, nil
}

// idlePasses times n passes of RunDue that find nothing due, sorted.
func idlePasses(ctx context.Context, q *duework.Queue, n int) ([]time.Duration, error) {
	for i := 0; i < 20; i++ { // warm up connections and statements
		if _, err := q.RunDue(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		got, err := q.RunDue(ctx)
		if err != nil {
			return nil, err
		}
		if got != 0 {
			return nil, fmt.Errorf("idle pass claimed %d items", got)
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out, nil
}

// insertAccounts adds n test accounts of company in one transaction, as
// account.Service.Create writes them (without keys), and returns their ids.
func insertAccounts(ctx context.Context, db *store.DB, company string, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = id.New(id.Account)
	}
	now := time.Now().Unix()
	err := bulk(ctx, db, `INSERT INTO accounts (id, company_id, name, livemode, gateway, created) VALUES `, n, func(b *strings.Builder, i int) {
		fmt.Fprintf(b, "('%s', '%s', 'Bench %d', FALSE, 'sandbox', %d)", ids[i], company, i, now)
	})
	return ids, err
}

// insertItems schedules n no-op items, round robin over accounts, the i-th
// due (and, the accounts' clocks being real, runnable) at due(i); the rows
// are those duework.Schedule writes.
func insertItems(ctx context.Context, db *store.DB, accounts []string, n int, prefix string, due func(i int) int64) error {
	order := rand.Perm(n) // scheduled in no particular order
	return bulk(ctx, db, `INSERT INTO due_work (account_id, kind, subject_id, due_at, run_at, created) VALUES `, n, func(b *strings.Builder, i int) {
		j := order[i]
		at := due(j)
		fmt.Fprintf(b, "('%s', '%s', '%s%d', %d, %d, %d)", accounts[j%len(accounts)], noopKind, prefix, j, at, at, at)
	})
}

// bulk inserts n rows, 500 per statement, in one transaction.
func bulk(ctx context.Context, db *store.DB, head string, n int, row func(b *strings.Builder, i int)) error {
	if n <= 0 {
		return nil
	}
	return db.InTx(ctx, func(tx *store.Tx) error {
		for lo := 0; lo < n; lo += 500 {
			var b strings.Builder
			b.WriteString(head)
			for i := lo; i < min(lo+500, n); i++ {
				if i > lo {
					b.WriteString(", ")
				}
				row(&b, i)
			}
			if _, err := tx.ExecContext(ctx, b.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// holdTransaction opens a transaction with a transaction id on a connection
// of its own and keeps it open until release is called.
func holdTransaction(ctx context.Context, dbURL string) (release func(), err error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, `SELECT txid_current()`)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return func() { tx.Rollback(); db.Close() }, nil
}
