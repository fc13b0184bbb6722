// Command subscriptionbench measures Kassa's subscription billing against
// the targets of issue 10 (docs/PERFORMANCE.md), on each engine in the same
// run, each measure beside the database's single-row commit rate
// (store.DB.InTx with one small INSERT per transaction, sequential and with
// -conc goroutines) measured just before it:
//
//   - the billing run: -subs subscriptions (tok_visa customers, one monthly
//     price) created in-process through app.Subscriptions.Create by
//     -creators goroutines, starting now and billing from tomorrow
//     (start_billing_date), so that creating them writes no invoice; the
//     account's clock is then moved a day and an hour on (AdvanceClockTx and
//     duework.Shift in one transaction, no work run), and -workers separate
//     app.Open instances on the same database run App.RunBackground, as
//     `kassa serve --role worker` does, until no subscription.cycle or
//     subscription.charge item is due and every subscription has a paid
//     invoice (period 0, billed through the renewal path: KindCycle →
//     renewal transaction → KindCharge). Then the workers run again with the
//     clock where it is: 0 new invoices expected;
//   - POST /subscriptions through the HTTP API (httptest server over
//     App.Handler()): each request subscribes a tok_visa customer starting
//     now (first invoice, charge on the sandbox, events); capacity with
//     -clients closed-loop clients for -closed, then latency at a constant
//     -rate requests/s for -open (open loop, latency from each request's
//     scheduled time, errors counted).
//
// Usage: go run ./bench/subscriptionbench [-engine sqlite|postgres|both] [-subs 100000] [-workers 2]
//
// PostgreSQL is KASSA_TEST_DATABASE_URL, else -pg-url; each run uses a fresh
// schema (a fresh SQLite file) and drops it afterwards. -cpuprofile FILE
// writes a CPU profile of the billing run (all workers are in this
// process); the engine's name is appended.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/app"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/subscription"
)

type options struct {
	subs, workers, creators, customers, conc, clients, rate, maxInflight int
	commitFor, closed, open, interval                                    time.Duration
	cpuprofile                                                           string
	skipRun, skipHTTP                                                    bool
}

func main() {
	engine := flag.String("engine", "both", "sqlite, postgres or both")
	pgURL := flag.String("pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server (KASSA_TEST_DATABASE_URL wins)")
	var o options
	flag.IntVar(&o.subs, "subs", 100000, "due subscriptions of the billing run")
	flag.IntVar(&o.workers, "workers", 2, "worker instances (separate app.Open, each its own queue) of the billing run")
	flag.IntVar(&o.creators, "creators", 8, "goroutines creating the billing run's subscriptions")
	flag.IntVar(&o.customers, "customers", 100, "customers the subscriptions are spread over")
	flag.IntVar(&o.conc, "conc", 16, "concurrent committers of the commit-rate measure")
	flag.IntVar(&o.clients, "clients", 16, "closed-loop HTTP clients")
	flag.IntVar(&o.rate, "rate", 300, "requests/s of the open-loop measure")
	flag.IntVar(&o.maxInflight, "max-inflight", 256, "open loop: requests outstanding at most; one due beyond it is not sent and counts as an error")
	flag.DurationVar(&o.commitFor, "commit-duration", 2*time.Second, "how long each commit-rate measurement runs")
	flag.DurationVar(&o.closed, "closed", 10*time.Second, "how long the closed-loop measure runs")
	flag.DurationVar(&o.open, "open", 60*time.Second, "how long the open-loop measure runs")
	flag.DurationVar(&o.interval, "interval", 50*time.Millisecond, "the workers' idle interval (kassa serve's --work-interval)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the billing run to this file (the engine's name is appended)")
	flag.BoolVar(&o.skipRun, "skip-run", false, "skip the billing run")
	flag.BoolVar(&o.skipHTTP, "skip-http", false, "skip the POST /subscriptions measures")
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
		fmt.Fprintln(os.Stderr, "subscriptionbench: -engine must be sqlite, postgres or both")
		os.Exit(2)
	}
	host, _ := os.Hostname()
	fmt.Printf("| | |\n|---|---|\n")
	fmt.Printf("| machine | %s, nproc %d, %s, %s %s/%s |\n", host, runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("| date -u | %s |\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("| command | `go run ./bench/subscriptionbench %s` |\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("| load average at start | %s |\n\n", loadAvg())
	failed := false
	for _, e := range engines {
		if err := runEngine(e, *pgURL, o); err != nil {
			fmt.Fprintf(os.Stderr, "subscriptionbench %s: %v\n", e, err)
			failed = true
		}
	}
	fmt.Printf("load average at end: %s (date -u %s)\n", loadAvg(), time.Now().UTC().Format(time.RFC3339))
	if failed {
		os.Exit(1)
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

type row struct{ measure, result, target string }

type bench struct {
	o         options
	engine    string
	dbURL     string
	a         *app.App
	acct      *account.Account
	sc        account.Scope
	key       string
	logger    *slog.Logger
	committer *benchdb.Committer
	srv       *httptest.Server
	client    *http.Client
}

func runEngine(engine, pgURL string, o options) error {
	ctx := context.Background()
	dbURL, cleanup, err := benchdb.Fresh(engine, pgURL, "subscriptionbench")
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
	created, err := a.Accounts.Create(ctx, "Subscription bench", false)
	if err != nil {
		return err
	}
	b := &bench{o: o, engine: engine, dbURL: dbURL, a: a, acct: created.Account, sc: a.Accounts.ScopeOf(created.Account),
		key: created.Secret, logger: logger}
	if b.committer, err = benchdb.NewCommitter(ctx, a.DB); err != nil {
		return err
	}
	b.srv = httptest.NewServer(a.Handler())
	defer b.srv.Close()
	b.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	defer b.client.CloseIdleConnections()

	var rows []row
	if !o.skipRun {
		r, err := b.billingRun(ctx)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if !o.skipHTTP {
		r, err := b.httpMeasures(ctx)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	fmt.Printf("### %s\n\n| measure | result | target |\n|---|---|---|\n", engine)
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.measure, r.result, r.target)
	}
	fmt.Println()
	return nil
}

// commits measures the single-row commit rate, sequential and with -conc
// goroutines, and describes it.
func (b *bench) commits(ctx context.Context) (float64, string, error) {
	seq, err := b.commitRate(ctx, 1)
	if err != nil {
		return 0, "", err
	}
	par, err := b.commitRate(ctx, b.o.conc)
	if err != nil {
		return 0, "", err
	}
	limit := max(seq, par)
	return limit, fmt.Sprintf("single-row commits %.0f /s sequential, %.0f /s with %d goroutines", seq, par, b.o.conc), nil
}

func (b *bench) commitRate(ctx context.Context, goroutines int) (float64, error) {
	return b.committer.Rate(ctx, goroutines, b.o.commitFor)
}

// post sends a JSON body to the API and returns the status and the decoded
// answer.
func (b *bench) post(ctx context.Context, path string, body any) (int, map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("cc-api-key", b.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return res.StatusCode, nil, fmt.Errorf("POST %s: %d %q: %w", path, res.StatusCode, out, err)
	}
	return res.StatusCode, m, nil
}

func (b *bench) mustPost(ctx context.Context, path string, body any, want int) (map[string]any, error) {
	status, m, err := b.post(ctx, path, body)
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, fmt.Errorf("POST %s: %d %v, want %d", path, status, m, want)
	}
	return m, nil
}

// fixture creates n tok_visa customers and a monthly price through the API.
func (b *bench) fixture(ctx context.Context, n int, prefix string) ([]string, string, error) {
	cust := make([]string, n)
	for i := range cust {
		m, err := b.mustPost(ctx, "/v1/customers", map[string]any{"name": fmt.Sprintf("%s %d", prefix, i)}, 201)
		if err != nil {
			return nil, "", err
		}
		cust[i] = m["id"].(string)
		if _, err := b.mustPost(ctx, "/v1/payment-methods/tok_visa/attach", map[string]any{"customerId": cust[i]}, 200); err != nil {
			return nil, "", err
		}
	}
	m, err := b.mustPost(ctx, "/v1/products", map[string]any{"name": prefix + " monthly plan", "currency": "USD", "unit_amount": 1000,
		"type": "recurring", "recurring": map[string]any{"interval": "month", "interval_count": 1},
		"tax_behavior": "exclusive"}, 201)
	if err != nil {
		return nil, "", err
	}
	return cust, m["default_price"].(string), nil
}

func (b *bench) count(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := b.a.DB.Read().QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// pending counts the subscription work due now (and charge
// reconciliations).
func (b *bench) pending(ctx context.Context) (int, error) {
	return b.count(ctx, `SELECT COUNT(*) FROM due_work WHERE account_id = $1 AND
		((kind = $2 AND run_at <= $3) OR kind IN ($4, $5))`,
		b.acct.ID, subscription.KindCycle, time.Now().Unix(), subscription.KindCharge, payment.KindReconcileAttempt)
}

func (b *bench) paidSubscriptions(ctx context.Context) (int, error) {
	return b.count(ctx, `SELECT COUNT(DISTINCT subscription_id) FROM invoices
		WHERE account_id = $1 AND subscription_id IS NOT NULL AND status = 'paid'`, b.acct.ID)
}

func (b *bench) invoices(ctx context.Context) (int, error) {
	return b.count(ctx, `SELECT COUNT(*) FROM invoices WHERE account_id = $1`, b.acct.ID)
}

// workers runs the billing workers: -workers separate app.Open instances
// on the same database, each running RunBackground, until stop is called;
// stop returns the subscription.cycle items each one did.
func (b *bench) workers(ctx context.Context) (stop func() []float64, err error) {
	var apps []*app.App
	for range b.o.workers {
		w, err := app.Open(ctx, app.Config{DatabaseURL: b.dbURL, Logger: b.logger})
		if err != nil {
			for _, w := range apps {
				w.Close()
			}
			return nil, err
		}
		apps = append(apps, w)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range apps {
		wg.Add(1)
		go func() { defer wg.Done(); w.RunBackground(runCtx, b.o.interval) }()
	}
	return func() []float64 {
		cancel()
		wg.Wait()
		done := make([]float64, len(apps))
		for i, w := range apps {
			done[i] = doneCount(w, subscription.KindCycle)
			w.Close()
		}
		return done
	}, nil
}

// doneCount reads kassa_due_work_done_total{kind} from an app's metrics.
func doneCount(a *app.App, kind string) float64 {
	families, err := a.Metrics.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != "kassa_due_work_done_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (b *bench) billingRun(ctx context.Context) ([]row, error) {
	n := b.o.subs
	cust, price, err := b.fixture(ctx, b.o.customers, "Renewing")
	if err != nil {
		return nil, err
	}
	// Creation, in-process, billing from tomorrow.
	start := time.Now()
	var next atomic.Int64
	errc := make(chan error, b.o.creators)
	var wg sync.WaitGroup
	for range b.o.creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				now := b.sc.Now().Unix()
				raw, _ := json.Marshal(map[string]any{"customer": cust[i%len(cust)], "items": []any{map[string]any{"price": price, "quantity": 1}},
					"trial_days": 0, "start_date": now, "start_billing_date": now + 86400})
				var p subscription.CreateParams
				if err := json.Unmarshal(raw, &p); err != nil {
					errc <- err
					return
				}
				if _, err := b.a.Subscriptions.Create(ctx, b.sc, p); err != nil {
					errc <- fmt.Errorf("create subscription %d: %w", i, err)
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, err
	default:
	}
	setup := time.Since(start)
	fmt.Fprintf(os.Stderr, "%s: created %d subscriptions in %s\n", b.engine, n, setup.Round(time.Millisecond))

	// Everything falls due: the clock a day and an hour on, no work run.
	seconds := int64(86400 + 3600)
	if err := b.a.DB.InTx(ctx, func(tx *store.Tx) error {
		delta, _, err := b.a.Accounts.AdvanceClockTx(ctx, tx, b.sc, account.ClockAdvance{Seconds: &seconds})
		if err != nil {
			return err
		}
		return duework.Shift(ctx, tx, b.acct.ID, delta, time.Now())
	}); err != nil {
		return nil, err
	}
	b.a.Accounts.ClockMoved()
	due, err := b.pending(ctx)
	if err != nil {
		return nil, err
	}
	if due != n {
		return nil, fmt.Errorf("%d subscription items due after the advance, want %d", due, n)
	}
	invoicesBefore, err := b.invoices(ctx)
	if err != nil {
		return nil, err
	}

	limit, commits, err := b.commits(ctx)
	if err != nil {
		return nil, err
	}
	load0 := loadAvg()
	if b.o.cpuprofile != "" {
		f, err := os.Create(b.o.cpuprofile + "." + b.engine)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	start = time.Now()
	stop, err := b.workers(ctx)
	if err != nil {
		return nil, err
	}
	deadline := start.Add(15 * time.Minute)
	var elapsed time.Duration
	for {
		time.Sleep(100 * time.Millisecond)
		left, err := b.pending(ctx)
		if err != nil {
			stop()
			return nil, err
		}
		if left == 0 {
			paid, err := b.paidSubscriptions(ctx)
			if err != nil {
				stop()
				return nil, err
			}
			if paid == n {
				elapsed = time.Since(start)
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("billing run not done after 15 minutes: %d items pending", left)
		}
	}
	done := stop()
	if b.o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	load1 := loadAvg()
	invoicesAfter, err := b.invoices(ctx)
	if err != nil {
		return nil, err
	}
	dups, err := b.count(ctx, `SELECT COUNT(*) FROM (SELECT subscription_id, period_start FROM invoices
		WHERE subscription_id IS NOT NULL GROUP BY subscription_id, period_start HAVING COUNT(*) > 1) d`)
	if err != nil {
		return nil, err
	}
	attempts, err := b.count(ctx, `SELECT COUNT(*) FROM payment_attempts`)
	if err != nil {
		return nil, err
	}
	events, err := b.count(ctx, `SELECT COUNT(*) FROM events WHERE account_id = $1 AND type LIKE 'invoice.%'`, b.acct.ID)
	if err != nil {
		return nil, err
	}
	if invoicesAfter-invoicesBefore != n || dups != 0 {
		return nil, fmt.Errorf("%d invoices written for %d subscriptions, %d periods billed twice", invoicesAfter-invoicesBefore, n, dups)
	}

	// Again, the clock where it is: nothing to bill.
	stop, err = b.workers(ctx)
	if err != nil {
		return nil, err
	}
	time.Sleep(max(3*time.Second, 20*b.o.interval))
	again := stop()
	invoicesAgain, err := b.invoices(ctx)
	if err != nil {
		return nil, err
	}

	shares := make([]string, len(done))
	for i, d := range done {
		shares[i] = fmt.Sprintf("%.0f", d)
	}
	rate := float64(n) / elapsed.Seconds()
	target := "—"
	if b.engine == "postgres" {
		target = "≤ 60 s for 100,000 with 2 workers"
	}
	return []row{
		{fmt.Sprintf("billing run: %d due subscriptions (created in-process by %d goroutines in %.1f s, start now, start_billing_date tomorrow, clock moved 25 h: period 0 billed by the renewal path) over %d tok_visa customers, %d worker instances (app.Open + RunBackground each, interval %s); load %s → %s",
			n, b.o.creators, setup.Seconds(), len(cust), b.o.workers, b.o.interval, load0, load1),
			fmt.Sprintf("**%.1f s** = %.0f subscriptions/s = %.2f × the commit limit, beside %s; invoices %d (%d charge attempts, %d invoice.* events, 0 periods billed twice); bills per worker %s",
				elapsed.Seconds(), rate, rate/limit, commits, invoicesAfter-invoicesBefore, attempts, events, strings.Join(shares, " / ")),
			target},
		{"billing run again, nothing advanced (workers run 3 s)",
			fmt.Sprintf("**%d new invoices** (bills done %v)", invoicesAgain-invoicesAfter, again),
			"0"},
	}, nil
}

func (b *bench) httpMeasures(ctx context.Context) ([]row, error) {
	cust, price, err := b.fixture(ctx, 200, "Subscribing")
	if err != nil {
		return nil, err
	}
	var nextCust atomic.Int64
	create := func(ctx context.Context) error {
		c := cust[int(nextCust.Add(1))%len(cust)]
		status, m, err := b.post(ctx, "/v1/subscriptions", map[string]any{"customer": c,
			"items": []any{map[string]any{"price": price, "quantity": 1}}, "trial_days": 0, "start_date": b.sc.Now().Unix()})
		if err != nil {
			return err
		}
		if status != 201 {
			return fmt.Errorf("POST /v1/subscriptions: %d %v", status, m)
		}
		if inv, _ := m["latest_invoice"].(string); inv == "" {
			if invm, ok := m["latest_invoice"].(map[string]any); !ok || invm["id"] == nil {
				return fmt.Errorf("POST /v1/subscriptions: no latest_invoice in %v", m)
			}
		}
		return nil
	}
	// Warm up connections and statements.
	for range 50 {
		if err := create(ctx); err != nil {
			return nil, err
		}
	}
	var rows []row

	// Capacity: closed loop.
	limit, commits, err := b.commits(ctx)
	if err != nil {
		return nil, err
	}
	load0 := loadAvg()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, b.o.clients)
	runCtx, cancel := context.WithTimeout(ctx, b.o.closed)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range b.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				t := time.Now()
				if err := create(ctx); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lats[c] = append(lats[c], time.Since(t))
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	cancel()
	elapsed := time.Since(start)
	all := slices.Concat(lats...)
	slices.Sort(all)
	capacity := float64(ok.Load()) / elapsed.Seconds()
	rows = append(rows, row{fmt.Sprintf("POST /subscriptions capacity, %d closed-loop clients for %s (subscription + first invoice + tok_visa charge + events; httptest server over App.Handler()); load %s → %s",
		b.o.clients, b.o.closed, load0, loadAvg()),
		fmt.Sprintf("**%.0f /s** = **%.2f** × the commit limit, beside %s; p50 %s, p99 %s; %d errors%s",
			capacity, capacity/limit, commits, pct(all, 50), pct(all, 99), failed.Load(), errNote(&firstErr)),
		"≥ 0.3 × commit limit"})

	// Latency: open loop at a constant rate.
	_, commits, err = b.commits(ctx)
	if err != nil {
		return nil, err
	}
	load0 = loadAvg()
	total := int(b.o.open.Seconds() * float64(b.o.rate))
	openLats := make([]time.Duration, total)
	okFlags := make([]bool, total)
	var openFailed atomic.Int64
	var openErr atomic.Value
	gap := time.Second / time.Duration(b.o.rate)
	// At most -max-inflight requests outstanding: a request due while as
	// many wait is not sent and counts as an error (the server is behind).
	inflight := make(chan struct{}, b.o.maxInflight)
	var dropped int64
	start = time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * gap)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		select {
		case inflight <- struct{}{}:
		default:
			dropped++
			openFailed.Add(1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			if err := create(ctx); err != nil {
				openFailed.Add(1)
				openErr.CompareAndSwap(nil, err)
				return
			}
			openLats[i] = time.Since(at) // from the scheduled time: no coordinated omission
			okFlags[i] = true
		}()
	}
	sent := time.Since(start)
	wg.Wait()
	var got []time.Duration
	for i, l := range openLats {
		if okFlags[i] {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	rows = append(rows, row{fmt.Sprintf("POST /subscriptions at a constant %d /s for %s, open loop (%d requests, sent in %.1f s; latency from each request's scheduled time); load %s → %s",
		b.o.rate, b.o.open, total, sent.Seconds(), load0, loadAvg()),
		fmt.Sprintf("p50 %s, **p99 %s**, max %s of the %d answered; **%d errors** (%d not sent: %d already outstanding)%s, beside %s",
			pct(got, 50), pct(got, 99), pct(got, 100), len(got), openFailed.Load(), dropped, b.o.maxInflight, errNote(&openErr), commits),
		"p99 ≤ 50 ms, 0 errors"})
	return rows, nil
}

func errNote(v *atomic.Value) string {
	if err, ok := v.Load().(error); ok {
		s := err.Error()
		if len(s) > 120 {
			s = s[:120] + "…"
		}
		return fmt.Sprintf(" (first: %s)", strings.ReplaceAll(s, "|", "/"))
	}
	return ""
}

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "—"
	}
	i := min(len(sorted)-1, len(sorted)*p/100)
	d := sorted[i]
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}
