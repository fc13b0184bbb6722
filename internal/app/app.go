// Package app wires Kassa together: database, services, workers and the HTTP
// API. The CLI and the tests build the same App.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/httpapi"
	"github.com/kassahq/kassa/internal/idempotency"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/mail"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/subscription"
	"github.com/kassahq/kassa/internal/taxrate"
	"github.com/kassahq/kassa/internal/testclock"
	"github.com/kassahq/kassa/internal/webhook"
)

// Config is what an App needs.
type Config struct {
	DatabaseURL  string
	Clock        clock.Clock // real time; nil means clock.Real
	Logger       *slog.Logger
	AccessLog    bool
	MaxBodyBytes int64
	// PublicURL is the base of links Kassa hands out (price checkout links);
	// "" means catalog.DefaultPublicURL.
	PublicURL string
	// StripeAPIBase replaces Stripe's API address for accounts on the stripe
	// gateway (a stripe-mock in tests); "" reads KASSA_STRIPE_API_BASE.
	StripeAPIBase string
	// Mailer delivers email; nil means none is configured and queued
	// messages are marked skipped.
	Mailer mail.Sender
	// WebhookAllowPrivate lets live-mode webhook destinations be private,
	// loopback or link-local addresses (KASSA_WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
}

// App is a wired Kassa instance.
type App struct {
	DB            *store.DB
	Clock         clock.Clock
	Logger        *slog.Logger
	Accounts      *account.Service
	Customers     *customer.Service
	Payments      *payment.Service
	Catalog       *catalog.Service
	TaxRates      *taxrate.Service
	Invoices      *invoice.Service
	Idempotency   *idempotency.Store
	Queue         *duework.Queue
	TestClock     *testclock.Service
	Webhooks      *webhook.Service
	Events        *event.Service
	Subscriptions *subscription.Service
	Metrics       *prometheus.Registry
	API           *httpapi.Server
}

// Open connects to the database, migrates it and builds the services.
func Open(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	a := &App{DB: db, Clock: cfg.Clock, Logger: cfg.Logger}
	a.Accounts = account.NewService(db, cfg.Clock)
	a.Customers = customer.NewService(db)
	a.Catalog = catalog.NewService(db, cfg.PublicURL)
	a.TaxRates = taxrate.NewService(db)
	a.Idempotency = idempotency.NewStore(db, cfg.Clock.Now)
	a.Queue = duework.New(db, cfg.Clock, cfg.Logger)
	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(a.Queue.Collectors()...)
	if cfg.StripeAPIBase == "" {
		cfg.StripeAPIBase = os.Getenv("KASSA_STRIPE_API_BASE")
	}
	a.Payments = payment.NewService(db, a.Customers, payment.AccountGateways(a.Accounts, cfg.StripeAPIBase))
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = catalog.DefaultPublicURL
	}
	a.Invoices = invoice.NewService(db, a.Catalog, a.Payments, publicURL, cfg.Logger)
	a.Webhooks = webhook.NewService(db, cfg.WebhookAllowPrivate, cfg.Clock)
	a.Events = event.NewService(db)
	a.Subscriptions = subscription.NewService(db, a.Catalog, a.TaxRates, a.Invoices)
	a.Customers.AddDeletionGuard(subscription.DeletionGuard)
	a.Catalog.AddPriceUsage(subscription.PriceUsage)
	a.registerWork(mail.NewOutbox(db, cfg.Mailer, cfg.Logger))
	a.TestClock = testclock.New(db, a.Accounts, a.Queue, cfg.Clock)
	a.API = httpapi.New(httpapi.Deps{
		DB: db, Clock: cfg.Clock, Logger: cfg.Logger, AccessLog: cfg.AccessLog, MaxBodyBytes: cfg.MaxBodyBytes,
		Metrics:  a.Metrics,
		Accounts: a.Accounts, Customers: a.Customers, Idempotency: a.Idempotency, TestClock: a.TestClock,
		Webhooks: a.Webhooks, Events: a.Events, Subscriptions: a.Subscriptions,
		Catalog: a.Catalog, TaxRates: a.TaxRates,
		Payments: a.Payments, Invoices: a.Invoices,
	})
	return a, nil
}

// registerWork registers the handler of every kind of due work.
func (a *App) registerWork(outbox *mail.Outbox) {
	a.Queue.Register(a.Queue.Probe())
	a.Queue.Register(duework.Kind{Name: payment.KindReconcileAttempt, Call: a.scoped(a.Payments.ReconcileAttempt)})
	a.Queue.Register(duework.Kind{Name: payment.KindReconcileRefund, Call: a.scoped(a.Payments.ReconcileRefund)})
	a.Queue.Register(duework.Kind{Name: mail.KindDeliver, Call: func(ctx context.Context, it duework.Item) (time.Time, error) {
		return outbox.Deliver(ctx, it.SubjectID, it.DueAt)
	}})
	a.Queue.Register(duework.Kind{Name: subscription.KindCycle, OwnTransaction: true, Tx: func(ctx context.Context, tx *store.Tx, it duework.Item) (time.Time, error) {
		sc, err := a.Accounts.ScopeAt(ctx, it.AccountID, it.DueAt)
		if apperr.IsKind(err, apperr.NotFound) {
			return time.Time{}, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		// Cycle schedules the subscription's next boundary itself.
		return time.Time{}, a.Subscriptions.Cycle(ctx, tx, sc, it.SubjectID)
	}})
	a.Queue.Register(duework.Kind{Name: subscription.KindCharge, Call: a.scoped(a.Subscriptions.Charge)})
	// A delivery attempt takes at most 10 s; a crashed worker's deliveries
	// are taken over a minute later.
	a.Queue.Register(duework.Kind{Name: webhook.KindDeliver, Lease: time.Minute, CallRecord: func(ctx context.Context, it duework.Item) (func(context.Context, *store.Tx) (time.Time, error), error) {
		sc, err := a.Accounts.ScopeAt(ctx, it.AccountID, it.DueAt)
		if apperr.IsKind(err, apperr.NotFound) {
			return func(context.Context, *store.Tx) (time.Time, error) { return time.Time{}, nil }, nil
		}
		if err != nil {
			return nil, err
		}
		return a.Webhooks.Deliver(ctx, sc, it.SubjectID)
	}})
}

// scoped adapts a domain handler that works for an account to the queue:
// it runs on the account's scope with the clock frozen at the item's due
// time. Work of an account that no longer exists is dropped.
func (a *App) scoped(fn func(ctx context.Context, sc account.Scope, subjectID string) (time.Time, error)) duework.CallHandler {
	return func(ctx context.Context, it duework.Item) (time.Time, error) {
		sc, err := a.Accounts.ScopeAt(ctx, it.AccountID, it.DueAt)
		if apperr.IsKind(err, apperr.NotFound) {
			return time.Time{}, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		return fn(ctx, sc, it.SubjectID)
	}
}

// RunBackground runs the due-work claim loop, looking for work every
// interval when none is waiting, and, every hour, forgets idempotency keys
// past their retention, until ctx ends. On return, claimed work has
// finished or been released.
func (a *App) RunBackground(ctx context.Context, interval time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if err := a.Idempotency.Sweep(ctx); err != nil && ctx.Err() == nil {
				a.Logger.Error("idempotency sweep failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	a.Queue.Run(ctx, interval)
	wg.Wait()
}

// OpsHandler serves only /healthz, /readyz and /metrics: what a worker
// process answers.
func (a *App) OpsHandler() http.Handler { return a.API.Ops() }

// Handler is the HTTP handler of the whole app.
func (a *App) Handler() http.Handler { return a.API }

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
