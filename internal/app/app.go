// Package app wires Kassa together: database, services, workers and the HTTP
// API. The CLI and the tests build the same App.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/clock"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/httpapi"
	"github.com/kassahq/kassa/internal/idempotency"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/worker"
)

// Config is what an App needs.
type Config struct {
	DatabaseURL  string
	Clock        clock.Clock // real time; nil means clock.Real
	Logger       *slog.Logger
	AccessLog    bool
	MaxBodyBytes int64
}

// App is a wired Kassa instance.
type App struct {
	DB          *store.DB
	Clock       clock.Clock
	Logger      *slog.Logger
	Accounts    *account.Service
	Customers   *customer.Service
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
	a.Idempotency = idempotency.NewStore(db, cfg.Clock.Now)
	a.Worker = worker.NewRunner(a.Accounts, cfg.Logger)
	a.API = httpapi.New(httpapi.Deps{
		DB: db, Clock: cfg.Clock, Logger: cfg.Logger, AccessLog: cfg.AccessLog, MaxBodyBytes: cfg.MaxBodyBytes,
		Accounts: a.Accounts, Customers: a.Customers, Idempotency: a.Idempotency, Worker: a.Worker,
	})
	return a, nil
}

// Handler is the HTTP handler of the whole app.
func (a *App) Handler() http.Handler { return a.API }

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
