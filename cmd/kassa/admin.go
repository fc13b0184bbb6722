package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/kassahq/kassa/internal/app"
)

func openQuiet(ctx context.Context, cfg config) (*app.App, error) {
	return app.Open(ctx, app.Config{DatabaseURL: cfg.databaseURL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// accountOrDefault returns accountID, or the first account's id when it is empty.
func accountOrDefault(ctx context.Context, a *app.App, accountID string) (string, error) {
	if accountID != "" {
		return accountID, nil
	}
	def, err := a.Accounts.Default(ctx)
	if err != nil {
		return "", err
	}
	if def == nil {
		return "", fmt.Errorf("no account yet: run kassa serve once or kassa accounts create")
	}
	return def.ID, nil
}

func accounts(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gateway" {
		return accountsGateway(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "configure" {
		return accountsConfigure(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: kassa accounts create|configure|gateway …")
	}
	var cfg config
	fs := newFlagSet("accounts create", &cfg, getenv, stderr, false)
	name := fs.String("name", "", "account name (required)")
	live := fs.Bool("live", false, "create a live-mode account (default: test mode)")
	asJSON := fs.Bool("json", false, `print {"account": "...", "api_key": "..."}`)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("--name is required")
	}
	a, err := openQuiet(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	created, err := a.Accounts.Create(ctx, *name, *live)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"account": created.Account.ID, "api_key": created.Secret})
	}
	fmt.Fprintf(stdout, "account: %s\napi key: %s\n", created.Account.ID, created.Secret)
	return nil
}

func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: kassa keys create|list|revoke")
	}
	var cfg config
	fs := newFlagSet("keys "+args[0], &cfg, getenv, stderr, false)
	accountID := fs.String("account", "", "account id (default: the first account)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	a, err := openQuiet(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] != "revoke" {
		if *accountID, err = accountOrDefault(ctx, a, *accountID); err != nil {
			return err
		}
	}
	switch args[0] {
	case "create":
		k, secret, err := a.Accounts.CreateKey(ctx, *accountID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key id:  %s\napi key: %s\n", k.ID, secret)
	case "list":
		list, err := a.Accounts.ListKeys(ctx, *accountID)
		if err != nil {
			return err
		}
		for _, k := range list {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked"
			}
			mode := "test"
			if k.Livemode {
				mode = "live"
			}
			fmt.Fprintf(stdout, "%s  %s  %s  %s\n", k.ID, mode, k.Hint, state)
		}
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: kassa keys revoke KEY_ID")
		}
		if err := a.Accounts.RevokeKey(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked", fs.Arg(0))
	default:
		return fmt.Errorf("unknown keys command %q", args[0])
	}
	return nil
}
