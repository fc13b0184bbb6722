package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/app"
	"github.com/kassahq/kassa/internal/mail"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlagSet("serve", &cfg, getenv, stderr, true)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if cfg.apiKey != "" && !account.ValidKeyFormat(cfg.apiKey) {
		return fmt.Errorf("KASSA_API_KEY must be sk_test_ followed by 32 letters and digits")
	}
	runAPI, runWork, err := roles(cfg.role)
	if err != nil {
		return err
	}
	logs := newLogWriter(stderr)
	defer logs.Close()
	logger, err := cfg.logger(logs)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Listen first: links handed out (checkout, invoice payment pages) need
	// the address actually bound when no public URL is configured.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	base := cfg.publicURL
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	defer ln.Close()

	var mailer mail.Sender
	if cfg.smtpAddr != "" {
		mailer = mail.SMTP{Addr: cfg.smtpAddr, From: cfg.smtpFrom, Username: cfg.smtpUser, Password: cfg.smtpPassword}
	}
	a, err := app.Open(ctx, app.Config{DatabaseURL: cfg.databaseURL, Logger: logger,
		AccessLog: cfg.accessLog, MaxBodyBytes: cfg.maxBodyBytes, PublicURL: base, Mailer: mailer,
		WebhookAllowPrivate: cfg.allowPrivate})
	if err != nil {
		return err
	}
	defer a.Close()

	boot, err := a.Accounts.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if cfg.apiKey != "" {
		def, err := a.Accounts.Default(ctx)
		if err != nil {
			return err
		}
		if err := a.Accounts.EnsureKey(ctx, def.ID, cfg.apiKey); err != nil {
			return fmt.Errorf("KASSA_API_KEY: %w", err)
		}
	}

	if boot != nil {
		fmt.Fprintf(stdout, `Kassa is set up. This is shown once; keep the key somewhere safe.

  account:  %s (test mode)
  API key:  %s
  API:      %s/v1
  OpenAPI:  %s/openapi.json
  health:   %s/healthz

  curl -H 'cc-api-key: %s' %s/v1/customers
`, boot.Account.ID, boot.Secret, base, base, base, boot.Secret, base)
	}
	logger.Info("kassa listening", "addr", ln.Addr().String(), "database", a.DB.Dialect.Name(), "role", cfg.role,
		"worker", a.Queue.Worker())

	workCtx, stopWork := context.WithCancel(context.Background())
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		if runWork {
			a.RunBackground(workCtx, cfg.workInterval)
		}
	}()

	handler := a.Handler()
	if !runAPI {
		handler = a.OpsHandler()
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		stopWork()
		<-workDone
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopWork()
	<-workDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// roles says what a --role value runs: the HTTP API, the due-work loop.
func roles(role string) (api, work bool, err error) {
	switch role {
	case "all", "":
		return true, true, nil
	case "api":
		return true, false, nil
	case "worker":
		return false, true, nil
	}
	return false, false, fmt.Errorf("--role %q: want api, worker or all", role)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlagSet("migrate", &cfg, getenv, stderr, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := app.Open(ctx, app.Config{DatabaseURL: cfg.databaseURL})
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}
