// Command webhookbench measures Kassa's webhook delivery against the targets
// of docs/PERFORMANCE.md, on each engine in the same run:
//
//   - the database's single-row commit rate through Kassa's store
//     (store.DB.InTx with one small INSERT per transaction, sequential),
//     measured beside each of the two measures below;
//   - delivery throughput: -events events recorded up front (event.Record
//     in batched transactions, one active destination), then the claim loop
//     (App.RunBackground, as kassa serve runs it) until a local receiver
//     has every one; on PostgreSQL also with a second queue in the process;
//   - latency: a steady -rate events/s for -steady, each event committed in
//     its own transaction, commit → arrival at the receiver per event,
//     p50/p99/max.
//
// The receiver (net/http on 127.0.0.1) verifies every delivery's signature
// with pkg/webhook.Verify and the account's secret, and answers 200.
//
// Usage: go run ./bench/webhookbench [-engine sqlite|postgres|both] [-events 20000] [-rate 500] [-steady 20s]
//
// PostgreSQL is KASSA_TEST_DATABASE_URL, else -pg-url; each run uses a fresh
// schema and drops it afterwards. -cpuprofile DIR writes one CPU profile per
// engine and measure (go tool pprof DIR/<engine>-<measure>.pprof).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/webhook"
	pkgwebhook "github.com/kassahq/kassa/pkg/webhook"
)

type options struct {
	events     int
	batch      int
	rate       int
	steady     time.Duration
	warmup     time.Duration
	commitFor  time.Duration
	interval   time.Duration
	producers  int
	profileDir string
}

func main() {
	engine := flag.String("engine", "both", "sqlite, postgres or both")
	pgURL := flag.String("pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server (KASSA_TEST_DATABASE_URL wins)")
	var o options
	flag.IntVar(&o.events, "events", 20000, "events recorded up front for the throughput measure")
	flag.IntVar(&o.batch, "batch", 500, "events per transaction when recording them up front")
	flag.IntVar(&o.rate, "rate", 500, "events per second of the latency measure")
	flag.DurationVar(&o.steady, "steady", 20*time.Second, "how long the latency measure runs")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "events at the same rate before the latency measure, not counted (the claim loop starts idle)")
	flag.DurationVar(&o.commitFor, "commit-duration", 2*time.Second, "how long each commit-rate measurement runs")
	flag.DurationVar(&o.interval, "interval", time.Second, "the claim loop's idle interval (kassa serve's --work-interval)")
	flag.IntVar(&o.producers, "producers", 8, "goroutines committing the latency measure's events")
	flag.StringVar(&o.profileDir, "cpuprofile", "", "directory for CPU profiles of each measure")
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
		fmt.Fprintln(os.Stderr, "webhookbench: -engine must be sqlite, postgres or both")
		os.Exit(2)
	}
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d CPUs, %s %s/%s\n", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("throughput: %d events recorded %d per transaction, then drained; latency: %d events/s for %s from %d producers, claim-loop interval %s\n\n",
		o.events, o.batch, o.rate, o.steady, o.producers, o.interval)
	failed := false
	for _, e := range engines {
		if err := runEngine(e, *pgURL, o); err != nil {
			fmt.Fprintf(os.Stderr, "webhookbench %s: %v\n", e, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// receiver is the merchant's endpoint: it verifies every signature and
// notes when each event (by the id in its data) first arrived.
type receiver struct {
	secret string
	mu     sync.Mutex
	first  map[string]time.Time
	// perPrefix counts the distinct ids that arrived, by the prefix up to
	// the first "_".
	perPrefix map[string]int
	hits      atomic.Int64
	dups      atomic.Int64
	bad       atomic.Int64
	// arrived is signalled (without blocking) on every new id.
	arrived chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := pkgwebhook.Verify(body, req.Header.Get(pkgwebhook.HeaderName), r.secret, pkgwebhook.DefaultTolerance); err != nil {
		r.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var env struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data.ID == "" {
		r.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.hits.Add(1)
	prefix, _, _ := strings.Cut(env.Data.ID, "_")
	r.mu.Lock()
	_, seen := r.first[env.Data.ID]
	if !seen {
		r.first[env.Data.ID] = at
		r.perPrefix[prefix+"_"]++
	}
	r.mu.Unlock()
	if seen {
		r.dups.Add(1)
	} else {
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(http.StatusOK)
}

// count returns how many of the ids with prefix ("t0_", "l_") have arrived.
func (r *receiver) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perPrefix[prefix]
}

func (r *receiver) arrival(dataID string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.first[dataID]
	return t, ok
}

type bench struct {
	o       options
	engine  string
	a       *app.App
	sc      account.Scope
	rec     *receiver
	logger  *slog.Logger
	commits *benchdb.Committer
}

func runEngine(engine, pgURL string, o options) error {
	ctx := context.Background()
	dbURL, cleanup, err := benchdb.Fresh(engine, pgURL, "webhookbench")
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
	created, err := a.Accounts.Create(ctx, "Webhook bench", false)
	if err != nil {
		return err
	}
	b := &bench{o: o, engine: engine, a: a, sc: a.Accounts.ScopeOf(created.Account), logger: logger}
	keys, err := a.Webhooks.Keys(ctx, b.sc)
	if err != nil {
		return err
	}
	b.rec = &receiver{secret: keys.WebhookSecret, first: map[string]time.Time{}, perPrefix: map[string]int{}, arrived: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b.rec, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hook := "http://" + ln.Addr().String() + "/hooks"
	if _, err := a.Webhooks.CreateDestination(ctx, b.sc, webhook.DestinationParams{URL: &hook}); err != nil {
		return err
	}
	if b.commits, err = benchdb.NewCommitter(ctx, a.DB); err != nil {
		return err
	}

	type row struct{ measure, result, target string }
	var rows []row

	// (a) Throughput.
	queueRuns := []int{1}
	if engine == "postgres" {
		queueRuns = append(queueRuns, 2)
	}
	target := map[string]float64{"sqlite": 1000, "postgres": 1500}[engine]
	for round, nq := range queueRuns {
		commits, err := b.commitRate(ctx)
		if err != nil {
			return err
		}
		r, err := b.throughput(ctx, round, nq)
		if err != nil {
			return err
		}
		name := "1 queue"
		if nq > 1 {
			name = fmt.Sprintf("%d queues, same process; second queue's share %.0f %%", nq, 100*r.share)
		}
		rows = append(rows, row{fmt.Sprintf("delivery throughput, %d events backlog, %s (record %.1f s, %d re-sent, %d bad signatures)",
			b.o.events, name, r.recordFor.Seconds(), r.dups, r.bad),
			fmt.Sprintf("**%.0f /s** beside %.0f single-row commits/s (%.2f deliveries per commit)", r.rate, commits, r.rate/commits),
			fmt.Sprintf("≥ %.0f /s", target)})
	}

	// (b) Latency.
	commits, err := b.commitRate(ctx)
	if err != nil {
		return err
	}
	l, err := b.latency(ctx)
	if err != nil {
		return err
	}
	rows = append(rows, row{fmt.Sprintf("commit → delivery at %d events/s for %s after %s of warm-up (achieved %.0f /s, %d events, %d re-sent, %d bad signatures, %d arrived before the producer saw its commit; the warm-up's first event, to an idle loop: %s)",
		b.o.rate, b.o.steady, b.o.warmup, l.achieved, l.n, l.dups, l.bad, l.early, ms(l.first)),
		fmt.Sprintf("p50 %s, **p99 %s**, max %s beside %.0f single-row commits/s", ms(l.p50), ms(l.p99), ms(l.max), commits),
		"p99 ≤ 1 s"})

	fmt.Printf("### %s\n\n| measure | result | target |\n|---|---|---|\n", engine)
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.measure, r.result, r.target)
	}
	fmt.Println()
	return nil
}

func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}

// commitRate makes single-row write transactions back to back for
// -commit-duration and returns commits/s.
func (b *bench) commitRate(ctx context.Context) (float64, error) {
	return b.commits.Rate(ctx, 1, b.o.commitFor)
}

// record stores one event whose data carries dataID, in tx.
func (b *bench) record(ctx context.Context, tx *store.Tx, dataID string) error {
	return event.Record(ctx, tx, b.sc, "customer.created", map[string]any{
		"id": dataID, "object": "customer", "name": "Bench " + dataID, "email": "bench@example.com",
		"currency": "USD", "created": b.sc.Now().Unix(), "livemode": false,
	})
}

type throughputResult struct {
	rate, share float64
	recordFor   time.Duration
	dups, bad   int64
}

// throughput records -events events, then runs nq claim loops until the
// receiver has every one, and returns deliveries/s.
func (b *bench) throughput(ctx context.Context, round, nq int) (throughputResult, error) {
	var r throughputResult
	prefix := fmt.Sprintf("t%d_", round)
	start := time.Now()
	for lo := 0; lo < b.o.events; lo += b.o.batch {
		if err := b.a.DB.InTx(ctx, func(tx *store.Tx) error {
			for i := lo; i < min(lo+b.o.batch, b.o.events); i++ {
				if err := b.record(ctx, tx, fmt.Sprintf("%s%d", prefix, i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return r, err
		}
	}
	r.recordFor = time.Since(start)
	dups0, bad0 := b.rec.dups.Load(), b.rec.bad.Load()

	stopProfile, err := b.profile(fmt.Sprintf("throughput-%dq", nq))
	if err != nil {
		return r, err
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.a.RunBackground(runCtx, b.o.interval) }()
	var second atomic.Int64
	if nq > 1 {
		q := duework.New(b.a.DB, clock.Real{}, b.logger)
		q.Register(deliverKind(b.a, &second))
		wg.Add(1)
		go func() { defer wg.Done(); q.Run(runCtx, b.o.interval) }()
	}
	start = time.Now()
	err = b.waitFor(ctx, prefix, b.o.events, 10*time.Minute)
	elapsed := time.Since(start)
	if err == nil {
		err = b.drained(ctx) // the last outcomes are being recorded
	}
	stop()
	wg.Wait()
	stopProfile()
	if err != nil {
		return r, err
	}
	r.rate = float64(b.o.events) / elapsed.Seconds()
	r.share = float64(second.Load()) / float64(b.o.events)
	r.dups, r.bad = b.rec.dups.Load()-dups0, b.rec.bad.Load()-bad0
	return r, nil
}

// deliverKind is the webhook kind as internal/app registers it, counting
// the items this queue handles.
func deliverKind(a *app.App, handled *atomic.Int64) duework.Kind {
	return duework.Kind{Name: webhook.KindDeliver, CallRecord: func(ctx context.Context, it duework.Item) (func(context.Context, *store.Tx) (time.Time, error), error) {
		handled.Add(1)
		sc, err := a.Accounts.ScopeAt(ctx, it.AccountID, it.DueAt)
		if apperr.IsKind(err, apperr.NotFound) {
			return func(context.Context, *store.Tx) (time.Time, error) { return time.Time{}, nil }, nil
		}
		if err != nil {
			return nil, err
		}
		return a.Webhooks.Deliver(ctx, sc, it.SubjectID)
	}}
}

// drained waits until no delivery is left on the queue.
func (b *bench) drained(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := b.a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM due_work WHERE kind = $1`, webhook.KindDeliver).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries still queued a minute after every event arrived", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor waits until n events with prefix have arrived.
func (b *bench) waitFor(ctx context.Context, prefix string, n int, limit time.Duration) error {
	deadline := time.After(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for b.rec.count(prefix) < n {
		select {
		case <-b.rec.arrived:
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("%d of %d events arrived within %s", b.rec.count(prefix), n, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

type latencyResult struct {
	n             int
	achieved      float64
	p50, p99, max time.Duration
	first         time.Duration // the first event's, sent to an idle loop
	dups, bad     int64
	early         int
}

// latency commits -rate events/s, each in its own transaction, for -steady
// while the claim loop runs, and measures each event's commit → arrival.
func (b *bench) latency(ctx context.Context) (latencyResult, error) {
	var r latencyResult
	prefix := "l_"
	dups0, bad0 := b.rec.dups.Load(), b.rec.bad.Load()
	stopProfile, err := b.profile("latency")
	if err != nil {
		return r, err
	}
	defer stopProfile()
	runCtx, stop := context.WithCancel(ctx)
	var loop sync.WaitGroup
	loop.Add(1)
	go func() { defer loop.Done(); b.a.RunBackground(runCtx, b.o.interval) }()
	defer func() { stop(); loop.Wait() }()

	// The loop starts idle and first looks again after -interval; the
	// warm-up's events absorb that, and the measure is the steady state.
	warm := int(float64(b.o.rate) * b.o.warmup.Seconds())
	total := warm + int(float64(b.o.rate)*b.o.steady.Seconds())
	committed := make([]time.Time, total)
	ticks := make(chan int, total)
	errc := make(chan error, b.o.producers)
	var wg sync.WaitGroup
	for p := 0; p < b.o.producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ticks {
				dataID := fmt.Sprintf("%s%d", prefix, i)
				if err := b.a.DB.InTx(ctx, func(tx *store.Tx) error { return b.record(ctx, tx, dataID) }); err != nil {
					errc <- err
					return
				}
				committed[i] = time.Now()
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(b.o.rate)
	var measured time.Time
	for i := 0; i < total; i++ {
		if i == warm {
			measured = time.Now()
		}
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		ticks <- i
	}
	close(ticks)
	wg.Wait()
	r.achieved = float64(total-warm) / time.Since(measured).Seconds()
	select {
	case err := <-errc:
		return r, err
	default:
	}
	if err := b.waitFor(ctx, prefix, total, 5*time.Minute); err != nil {
		return r, err
	}
	if err := b.drained(ctx); err != nil {
		return r, err
	}
	lat := make([]time.Duration, 0, total)
	for i := 0; i < total; i++ {
		at, _ := b.rec.arrival(fmt.Sprintf("%s%d", prefix, i))
		d := at.Sub(committed[i])
		if d < 0 { // arrived before InTx returned to the producer
			r.early++
			d = 0
		}
		if i == 0 {
			r.first = d
		}
		if i >= warm {
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	r.n = len(lat)
	r.p50, r.p99, r.max = lat[r.n/2], lat[r.n*99/100], lat[r.n-1]
	r.dups, r.bad = b.rec.dups.Load()-dups0, b.rec.bad.Load()-bad0
	return r, nil
}

// profile starts a CPU profile of a measure when -cpuprofile is set.
func (b *bench) profile(measure string) (func(), error) {
	if b.o.profileDir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(b.o.profileDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(b.o.profileDir, b.engine+"-"+measure+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
