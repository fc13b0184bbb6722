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

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/httpapi"
	"github.com/kassahq/kassa/internal/idempotency"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/mail"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxrate"
	"github.com/kassahq/kassa/internal/worker"
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
}

// App is a wired Kassa instance.
type App struct {
	DB          *store.DB
	Clock       clock.Clock
	Logger      *slog.Logger
	Accounts    *account.Service
	Customers   *customer.Service
	Payments    *payment.Service
	Catalog     *catalog.Service
	TaxRates    *taxrate.Service
	Invoices    *invoice.Service
	Idempotency *idempotency.Store
	Worker      *worker.Runner
	API         *httpapi.Server
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
	a.Worker = worker.NewRunner(a.Accounts, cfg.Logger)
	if cfg.StripeAPIBase == "" {
		cfg.StripeAPIBase = os.Getenv("KASSA_STRIPE_API_BASE")
	}
	a.Payments = payment.NewService(db, a.Customers, payment.AccountGateways(a.Accounts, cfg.StripeAPIBase))
	a.Worker.Register(a.Payments.ReconcileTask())
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = catalog.DefaultPublicURL
	}
	a.Invoices = invoice.NewService(db, a.Catalog, a.Payments, publicURL, cfg.Logger)
	a.Worker.Register(mail.NewOutbox(db, cfg.Mailer, cfg.Logger))
	a.API = httpapi.New(httpapi.Deps{
		DB: db, Clock: cfg.Clock, Logger: cfg.Logger, AccessLog: cfg.AccessLog, MaxBodyBytes: cfg.MaxBodyBytes,
		Accounts: a.Accounts, Customers: a.Customers, Idempotency: a.Idempotency, Worker: a.Worker,
		Catalog: a.Catalog, TaxRates: a.TaxRates,
		Payments: a.Payments, Invoices: a.Invoices,
	})
	return a, nil
}

// RunBackground runs the due work every interval and, every hour, forgets
// idempotency keys past their retention, until ctx ends.
func (a *App) RunBackground(ctx context.Context, interval time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if err := a.Idempotency.Sweep(ctx); err != nil {
				a.Logger.Error("idempotency sweep failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	a.Worker.Run(ctx, interval)
	wg.Wait()
}

// Handler is the HTTP handler of the whole app.
func (a *App) Handler() http.Handler { return a.API }

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
