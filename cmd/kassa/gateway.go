package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

const gatewayUsage = "usage: kassa accounts gateway --account ID --gateway sandbox|stripe [--stripe-secret-key sk_…]"

// accountsGateway chooses the payment gateway of an account. The Stripe
// secret key may also come from KASSA_STRIPE_SECRET_KEY, which keeps it out
// of the shell history. Live accounts take only stripe with a live key.
func accountsGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlagSet("accounts gateway", &cfg, getenv, stderr, false)
	accountID := fs.String("account", "", "account id (default: the first account)")
	name := fs.String("gateway", "", "sandbox (offline, test accounts only) or stripe (required)")
	secret := fs.String("stripe-secret-key", getenv("KASSA_STRIPE_SECRET_KEY"),
		"the account's Stripe secret key, with --gateway stripe (env KASSA_STRIPE_SECRET_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || fs.NArg() != 0 {
		return errors.New(gatewayUsage)
	}
	if *name != "stripe" {
		*secret = ""
	}
	a, err := openQuiet(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if *accountID, err = accountOrDefault(ctx, a, *accountID); err != nil {
		return err
	}
	if err := a.Accounts.SetGateway(ctx, *accountID, *name, *secret); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "account %s now uses the %s gateway\n", *accountID, *name)
	return nil
}
