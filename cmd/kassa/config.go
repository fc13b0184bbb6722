package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/store"
)

// config holds every setting; each flag also reads a KASSA_* variable.
type config struct {
	addr         string
	databaseURL  string
	apiKey       string
	publicURL    string
	logFormat    string
	logLevel     string
	accessLog    bool
	maxBodyBytes int64
	workInterval time.Duration
	role         string
	allowPrivate bool
	shutdown     time.Duration
	smtpAddr     string
	smtpFrom     string
	smtpUser     string
	smtpPassword string
}

type envFlag struct {
	name, env, usage string
}

// newFlagSet declares the settings shared by all commands plus, with
// server, the ones of kassa serve.
func newFlagSet(name string, cfg *config, getenv func(string) string, stderr io.Writer, server bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, f envFlag, def string) {
		if v := getenv(f.env); v != "" {
			def = v
		}
		fs.StringVar(p, f.name, def, f.usage+" (env "+f.env+")")
	}
	str(&cfg.databaseURL, envFlag{"database-url", "KASSA_DATABASE_URL", "sqlite:///path/file.db or postgres://user@host/db"}, store.DefaultURL)
	str(&cfg.logFormat, envFlag{"log-format", "KASSA_LOG_FORMAT", "log format: text or json"}, "text")
	str(&cfg.logLevel, envFlag{"log-level", "KASSA_LOG_LEVEL", "log level: debug, info, warn, error"}, "info")
	if !server {
		return fs
	}
	str(&cfg.addr, envFlag{"addr", "KASSA_ADDR", "address to listen on"}, "127.0.0.1:8080")
	str(&cfg.apiKey, envFlag{"api-key", "KASSA_API_KEY", "ensure this sk_test_… key exists on the default account"}, "")
	str(&cfg.publicURL, envFlag{"public-url", "KASSA_PUBLIC_URL", "public base URL for links (default http://ADDR)"}, "")
	str(&cfg.smtpAddr, envFlag{"smtp-addr", "KASSA_SMTP_ADDR", "SMTP server (host:port) for invoice emails; unset: emails are recorded but not sent"}, "")
	str(&cfg.smtpFrom, envFlag{"smtp-from", "KASSA_SMTP_FROM", "sender address of emails"}, "billing@localhost")
	str(&cfg.smtpUser, envFlag{"smtp-username", "KASSA_SMTP_USERNAME", "SMTP user name (PLAIN auth)"}, "")
	cfg.smtpPassword = getenv("KASSA_SMTP_PASSWORD") // env only: keeps it out of the process list
	fs.BoolVar(&cfg.allowPrivate, "webhook-allow-private", getenv("KASSA_WEBHOOK_ALLOW_PRIVATE") == "true",
		"let live-mode webhook destinations be private, loopback or link-local addresses (env KASSA_WEBHOOK_ALLOW_PRIVATE)")
	accessLog := getenv("KASSA_ACCESS_LOG") != "false"
	fs.BoolVar(&cfg.accessLog, "access-log", accessLog, "log every request (env KASSA_ACCESS_LOG)")
	maxBody := int64(1 << 20)
	if v := getenv("KASSA_MAX_BODY_BYTES"); v != "" {
		fmt.Sscan(v, &maxBody)
	}
	fs.Int64Var(&cfg.maxBodyBytes, "max-body-bytes", maxBody, "largest request body accepted (env KASSA_MAX_BODY_BYTES)")
	str(&cfg.role, envFlag{"role", "KASSA_ROLE", "what this process runs: api (the HTTP API only), worker (due work; /healthz, /readyz and /metrics only) or all"}, "all")
	interval := time.Second
	if v := getenv("KASSA_WORK_INTERVAL"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			interval = d
		}
	}
	fs.DurationVar(&cfg.workInterval, "work-interval", interval, "how often an idle worker looks for due work (env KASSA_WORK_INTERVAL)")
	shutdown := 20 * time.Second
	fs.DurationVar(&cfg.shutdown, "shutdown-timeout", shutdown, "how long SIGTERM waits for in-flight requests")
	return fs
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.logFormat)
}
