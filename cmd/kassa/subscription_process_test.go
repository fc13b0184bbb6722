package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/app"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/subscription"
)

// renewalFixture is an account whose subscriptions all fell due for
// renewal at once, and a read-write handle on its database.
type renewalFixture struct {
	url       string
	accountID string
	subs      int
	db        *store.DB
}

// seed says what seedRenewals creates.
type seed struct {
	subs, customers int
	// creators is how many goroutines create the subscriptions.
	creators int
	// billLater makes each subscription start now but bill from tomorrow
	// (start_billing_date): its creation writes no invoice and charges
	// nothing, so it is several times cheaper, and its first bill is then
	// the worker's, through the same path as a renewal (KindCycle →
	// renewTx → KindCharge). Without it, every subscription bills and is
	// charged its first period on creation and the worker renews it.
	billLater bool
}

// seedRenewals creates the subscriptions through the API of a `kassa serve
// --role api` process (built without -race, so that seeding costs the same
// under the race detector; the API runs no due work): customers with
// tok_visa as their default method, a monthly price, and the subscriptions
// spread over the customers, all in the default (test-mode) account. Then,
// in-process, it moves the account's clock forward without running any
// work, in one transaction with duework.Shift, an hour past the next
// billing date of every subscription (a month on, or a day with
// billLater), so that they all fall due together.
func seedRenewals(t *testing.T, url string, o seed) *renewalFixture {
	t.Helper()
	ctx := context.Background()
	key := "sk_test_" + id.Random(32)
	api := startKassaProcess(t, url, "api", "KASSA_API_KEY="+key)
	c := &seedClient{t: t, base: "http://" + api.addr, key: key,
		http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.creators}}}
	cust := make([]string, o.customers)
	for i := range cust {
		cust[i] = c.post("/v1/customers", map[string]any{"name": fmt.Sprintf("Renewing %d", i)}, 201)["id"].(string)
		c.post("/v1/payment-methods/tok_visa/attach", map[string]any{"customerId": cust[i]}, 200)
	}
	price := c.post("/v1/products", map[string]any{"name": "Monthly plan", "currency": "USD", "unit_amount": 1000,
		"type": "recurring", "recurring": map[string]any{"interval": "month", "interval_count": 1},
		"tax_behavior": "exclusive"}, 201)["default_price"].(string)
	start := time.Now()
	var wg sync.WaitGroup
	for g := range o.creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < o.subs && !t.Failed(); i += o.creators {
				now := time.Now().Unix()
				body := map[string]any{"customer": cust[i%o.customers], "items": []any{map[string]any{"price": price, "quantity": 1}},
					"trial_days": 0, "start_date": now}
				if o.billLater {
					body["start_billing_date"] = now + 86400
				}
				c.post("/v1/subscriptions", body, 201)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("created %d subscriptions over %d customers through the API in %s", o.subs, o.customers, time.Since(start).Round(time.Millisecond))
	api.stop(t)

	a, err := app.Open(ctx, app.Config{DatabaseURL: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	acct, err := a.Accounts.Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc := a.Accounts.ScopeOf(acct)
	now := sc.Now()
	seconds := int64(billing.PeriodStart(now, billing.Interval{Unit: "month", Count: 1}, 1).Sub(now)/time.Second) + 3600
	if o.billLater {
		seconds = 86400 + 3600
	}
	err = a.DB.InTx(ctx, func(tx *store.Tx) error {
		delta, _, err := a.Accounts.AdvanceClockTx(ctx, tx, sc, account.ClockAdvance{Seconds: &seconds})
		if err != nil {
			return err
		}
		return duework.Shift(ctx, tx, acct.ID, delta, time.Now())
	})
	a.Accounts.ClockMoved()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &renewalFixture{url: url, accountID: acct.ID, subs: o.subs, db: db}
}

// seedClient posts to a Kassa API; a wrong status fails the test.
type seedClient struct {
	t         *testing.T
	base, key string
	http      *http.Client
}

func (c *seedClient) post(path string, body any, want int) map[string]any {
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("cc-api-key", c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Errorf("POST %s: %v", path, err)
		return nil
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if res.StatusCode != want || err != nil {
		c.t.Errorf("POST %s: %d %s (%v), want %d", path, res.StatusCode, out, err, want)
		return nil
	}
	return m
}

func (f *renewalFixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// progress grows with every renewal and every charge attempt committed.
func (f *renewalFixture) progress(t *testing.T) int {
	return f.count(t, `SELECT (SELECT COUNT(*) FROM subscription_periods) + (SELECT COUNT(*) FROM payment_attempts)`)
}

// pending counts the work still to do now: renewals due, charges, and
// reconciliations of attempts a killed worker left pending.
func (f *renewalFixture) pending(t *testing.T) int {
	return f.count(t, `SELECT COUNT(*) FROM due_work WHERE (kind = $1 AND run_at <= $2) OR kind IN ($3, $4)`,
		subscription.KindCycle, time.Now().Unix(), subscription.KindCharge, payment.KindReconcileAttempt)
}

// duplicates counts invoices billing a period already billed and invoices
// with more than one charge attempt or more than one charge.
func (f *renewalFixture) duplicates(t *testing.T) (invoices, attempts, charges int) {
	invoices = f.count(t, `SELECT COUNT(*) FROM (SELECT subscription_id, period_start FROM invoices
		WHERE subscription_id IS NOT NULL GROUP BY subscription_id, period_start HAVING COUNT(*) > 1) d`)
	attempts = f.count(t, `SELECT COUNT(*) FROM (SELECT invoice_id FROM payment_attempts
		WHERE invoice_id IS NOT NULL GROUP BY invoice_id HAVING COUNT(*) > 1) d`)
	charges = f.count(t, `SELECT COUNT(*) FROM (SELECT invoice_id FROM balance_transactions
		WHERE type = 'charge' AND invoice_id IS NOT NULL GROUP BY invoice_id HAVING COUNT(*) > 1) d`)
	return invoices, attempts, charges
}

// waitDrained waits until nothing is pending, polling gently (the
// workers share the machine's cores with the test).
func (f *renewalFixture) waitDrained(t *testing.T, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for f.pending(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d items still pending after %s", f.pending(t), limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expireLeases ends the leases of a killed worker, as if it had died a
// whole lease ago (5 minutes for charges): the next worker takes over the
// Call items (charges, reconciliations) it was running when killed, instead
// of the test waiting for them. Only called while no worker runs.
func (f *renewalFixture) expireLeases(t *testing.T) int {
	t.Helper()
	past := time.Now().Unix() - 1
	var n int64
	err := f.db.InTx(context.Background(), func(tx *store.Tx) error {
		res, err := tx.ExecContext(context.Background(), `UPDATE due_work SET leased_until = $1, run_at = $1
			WHERE leased_until IS NOT NULL AND leased_until > $1`, past)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// verify checks every subscription against the periods its anchor says
// are due by the account's clock: each billed by exactly one invoice (and
// one subscription_periods row naming it), no invoice for any other
// period, each invoice paid with exactly one charge attempt and one charge,
// and announced once each by invoice.created, invoice.finalized and
// invoice.payment_succeeded; the subscription's period_index at the last.
func (f *renewalFixture) verify(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	began := time.Now()
	var offset int64
	if err := f.db.Read().QueryRowContext(ctx, `SELECT clock_offset FROM accounts WHERE id = $1`, f.accountID).Scan(&offset); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Duration(offset) * time.Second)
	type period struct {
		sub   string
		start int64
	}
	type invoiceRow struct {
		id, status                   string
		attempts, charges, periodRow int
	}
	rows, err := f.db.Read().QueryContext(ctx, `SELECT i.subscription_id, i.period_start, i.id, i.status,
		COALESCE(a.n, 0), COALESCE(b.n, 0), COALESCE(p.n, 0)
		FROM invoices i
		LEFT JOIN (SELECT invoice_id, COUNT(*) AS n FROM payment_attempts GROUP BY invoice_id) a ON a.invoice_id = i.id
		LEFT JOIN (SELECT invoice_id, COUNT(*) AS n FROM balance_transactions WHERE type = 'charge' GROUP BY invoice_id) b
			ON b.invoice_id = i.id
		LEFT JOIN (SELECT invoice_id, subscription_id, period_start, COUNT(*) AS n FROM subscription_periods
			GROUP BY invoice_id, subscription_id, period_start) p
			ON p.invoice_id = i.id AND p.subscription_id = i.subscription_id AND p.period_start = i.period_start
		WHERE i.account_id = $1`, f.accountID)
	if err != nil {
		t.Fatal(err)
	}
	invoices := map[period][]invoiceRow{}
	total := 0
	for rows.Next() {
		var p period
		var r invoiceRow
		if err := rows.Scan(&p.sub, &p.start, &r.id, &r.status, &r.attempts, &r.charges, &r.periodRow); err != nil {
			t.Fatal(err)
		}
		invoices[p] = append(invoices[p], r)
		total++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	periodRows := f.count(t, `SELECT COUNT(*) FROM subscription_periods`)
	announced := f.invoiceEvents(t)
	rows, err = f.db.Read().QueryContext(ctx, `SELECT id, billing_cycle_anchor, interval_unit, interval_count, period_index
		FROM subscriptions WHERE account_id = $1`, f.accountID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	subs, want, problems := 0, 0, 0
	report := func(format string, args ...any) {
		if problems++; problems <= 20 {
			t.Errorf(format, args...)
		}
	}
	for rows.Next() {
		var sub string
		var anchor int64
		var iv billing.Interval
		var index *int64
		if err := rows.Scan(&sub, &anchor, &iv.Unit, &iv.Count, &index); err != nil {
			t.Fatal(err)
		}
		subs++
		k := int64(0)
		for ; !billing.PeriodStart(time.Unix(anchor, 0), iv, k).After(now); k++ {
			want++
			start := billing.PeriodStart(time.Unix(anchor, 0), iv, k).Unix()
			got := invoices[period{sub, start}]
			delete(invoices, period{sub, start})
			switch {
			case len(got) != 1:
				report("%s: period %d (%s) billed by %d invoices, want 1", sub, k, time.Unix(start, 0).UTC(), len(got))
			case got[0].periodRow != 1:
				report("%s: period %d: invoice %s is not the one subscription_periods names", sub, k, got[0].id)
			case got[0].attempts != 1 || got[0].charges != 1:
				report("%s: period %d: invoice %s has %d charge attempts and %d charges, want 1 each", sub, k, got[0].id, got[0].attempts, got[0].charges)
			case got[0].status != "paid":
				report("%s: period %d: invoice %s is %s, want paid", sub, k, got[0].id, got[0].status)
			default:
				ev := announced[got[0].id]
				if ev["invoice.created"] != 1 || ev["invoice.finalized"] != 1 || ev["invoice.payment_succeeded"] != 1 || len(ev) != 3 {
					report("%s: period %d: invoice %s announced by %v, want created, finalized and payment_succeeded once each", sub, k, got[0].id, ev)
				}
			}
		}
		if index == nil || *index != k-1 {
			report("%s: period_index %v, want %d", sub, index, k-1)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for p, got := range invoices {
		report("%s: %d invoice(s) for period %s, which is not due", p.sub, len(got), time.Unix(p.start, 0).UTC())
	}
	if subs != f.subs || total != want || periodRows != want {
		report("%d subscriptions, %d due periods, %d invoices, %d subscription_periods rows; want %d subscriptions and one invoice and one row per due period",
			subs, want, total, periodRows, f.subs)
	}
	if problems > 20 {
		t.Errorf("… and %d more problems", problems-20)
	}
	t.Logf("verified %d subscriptions in %s: %d due periods, each invoiced once, charged once, paid, its events once; %d attempts settled by the reconciler",
		subs, time.Since(began).Round(time.Millisecond), want, f.count(t, `SELECT COUNT(*) FROM payment_attempts WHERE checks > 0`))
}

// invoiceEvents counts the account's invoice.* events by invoice and type.
func (f *renewalFixture) invoiceEvents(t *testing.T) map[string]map[string]int {
	t.Helper()
	rows, err := f.db.Read().QueryContext(context.Background(), `SELECT type, payload FROM events
		WHERE account_id = $1 AND type LIKE 'invoice.%'`, f.accountID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var typ, payload string
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(payload), &env); err != nil {
			t.Fatalf("%s event: %v", typ, err)
		}
		if out[env.Data.ID] == nil {
			out[env.Data.ID] = map[string]int{}
		}
		out[env.Data.ID][typ]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *renewalWorker) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, l := range w.log {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// metric reads one sample of the worker's /metrics, 0 when absent.
func (w *renewalWorker) metric(t *testing.T, name, kind string) float64 {
	t.Helper()
	res, err := http.Get("http://" + w.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	prefix := fmt.Sprintf(`%s{kind=%q} `, name, kind)
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return f
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return 0
}

func logFailures(t *testing.T, name string, w *renewalWorker) {
	t.Helper()
	if f := w.failures(); len(f) > 0 {
		t.Logf("%s logged %d warnings/errors; first: %s", name, len(f), f[0])
	}
}

// A billing run of 2,000 due renewals, its worker SIGKILLed 20 times at
// random points (50–400 ms after it starts renewing or charging) and
// restarted: every due period is invoiced exactly once, charged exactly
// once, and paid in the end.
func TestRenewalsSurviveWorkerCrashes(t *testing.T) {
	if os.Getenv("KASSA_REQUIRE_POSTGRES") == "1" && apitest.PostgresURL() == "" {
		t.Fatal("KASSA_REQUIRE_POSTGRES=1 but KASSA_TEST_DATABASE_URL is not set")
	}
	for _, e := range apitest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			kassaBinary(t)
			const n, kills = 2000, 20
			f := seedRenewals(t, e.URL(t), seed{subs: n, customers: 10, creators: 4})
			if got := f.pending(t); got < 2*n {
				t.Fatalf("%d items pending after the advance, want the %d renewals and %d first charges", got, n, n)
			}
			start := time.Now()
			killed := 0
			for killed < kills && f.pending(t) > 0 {
				before := f.progress(t)
				w := startRenewalWorker(t, f.url)
				waitFor(t, "the worker to make progress", func() bool { return f.progress(t) > before || f.pending(t) == 0 })
				time.Sleep(time.Duration(50+rand.IntN(351)) * time.Millisecond)
				w.kill()
				killed++
				logFailures(t, fmt.Sprintf("worker %d", killed), w)
				expired := f.expireLeases(t)
				dupInv, dupAtt, dupCharge := f.duplicates(t)
				t.Logf("kill %d: %d renewals and attempts so far, %d items pending, %d leases taken over", killed,
					f.progress(t), f.pending(t), expired)
				if dupInv+dupAtt+dupCharge > 0 {
					t.Fatalf("after kill %d: %d periods billed twice, %d invoices with several attempts, %d with several charges",
						killed, dupInv, dupAtt, dupCharge)
				}
			}
			if killed < kills {
				t.Logf("the run drained after %d kills", killed)
			}
			w := startRenewalWorker(t, f.url)
			f.waitDrained(t, 3*time.Minute)
			w.stop(t)
			logFailures(t, "final worker", w)
			t.Logf("%d kills, drained in %s", killed, time.Since(start).Round(time.Millisecond))
			f.verify(t)
		})
	}
}

// Two worker processes on one PostgreSQL bill 10,000 due subscriptions
// together: every due period invoiced exactly once (no duplicate, no
// miss), charged once and paid, and both processes billed some of them, as
// each one's kassa_due_work_done_total{kind="subscription.cycle"} on its
// /metrics says. The subscriptions bill from tomorrow (seed.billLater), so
// that every invoice is the workers' and creating them takes 10–25 s here
// instead of about 1.5 minutes for 10,000 invoiced and charged on creation.
func TestTwoWorkersRenewTenThousandSubscriptions(t *testing.T) {
	var pg *apitest.Engine
	for _, e := range apitest.Engines() {
		if e.Name == "postgres" {
			pg = &e
		}
	}
	if pg == nil {
		if os.Getenv("KASSA_REQUIRE_POSTGRES") == "1" {
			t.Fatal("KASSA_REQUIRE_POSTGRES=1 but KASSA_TEST_DATABASE_URL is not set")
		}
		t.Skip("needs PostgreSQL (KASSA_TEST_DATABASE_URL)")
	}
	kassaBinary(t)
	const n = 10000
	f := seedRenewals(t, pg.URL(t), seed{subs: n, customers: 100, creators: 8, billLater: true})
	if got := f.pending(t); got != n {
		t.Fatalf("%d items pending after the advance, want the %d subscriptions' bills", got, n)
	}
	start := time.Now()
	a, b := startRenewalWorker(t, f.url), startRenewalWorker(t, f.url)
	f.waitDrained(t, 8*time.Minute)
	t.Logf("two workers billed %d subscriptions and charged them in %s", n, time.Since(start).Round(time.Millisecond))
	done := map[string]float64{}
	sum := 0.0
	for name, w := range map[string]*renewalWorker{"a": a, "b": b} {
		done[name] = w.metric(t, "kassa_due_work_done_total", subscription.KindCycle)
		sum += done[name]
		t.Logf("worker %s: %.0f bills done, %.0f failed (retried later), %.0f charge items done", name, done[name],
			w.metric(t, "kassa_due_work_failed_total", subscription.KindCycle), w.metric(t, "kassa_due_work_done_total", subscription.KindCharge))
	}
	a.stop(t)
	b.stop(t)
	logFailures(t, "worker a", a)
	logFailures(t, "worker b", b)
	if done["a"] == 0 || done["b"] == 0 || sum < n {
		t.Errorf("bills done by worker a %.0f, by worker b %.0f; want both > 0 and %d in all", done["a"], done["b"], n)
	}
	f.verify(t)
}
