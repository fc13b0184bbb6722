package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccountsGatewayCommand(t *testing.T) {
	ctx := context.Background()
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "kassa.db")
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	kassa := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(args, "--database-url", dbURL), getenv, &out, &errOut)
		return out.String(), err
	}
	out, err := kassa("accounts", "create", "--name", "Shop", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Account string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	gatewayOf := func() (string, string) {
		a, err := openQuiet(ctx, config{databaseURL: dbURL})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		acct, err := a.Accounts.Get(ctx, created.Account)
		if err != nil {
			t.Fatal(err)
		}
		return acct.Gateway, acct.GatewaySecret
	}

	if out, err = kassa("accounts", "gateway", "--account", created.Account, "--gateway", "stripe", "--stripe-secret-key", "sk_test_abc123"); err != nil ||
		!strings.Contains(out, "now uses the stripe gateway") {
		t.Fatalf("set stripe: %q, %v", out, err)
	}
	if g, s := gatewayOf(); g != "stripe" || s != "sk_test_abc123" {
		t.Fatalf("gateway %s %s", g, s)
	}
	// The key may come from the environment.
	env["KASSA_STRIPE_SECRET_KEY"] = "rk_live_fromenv"
	if _, err = kassa("accounts", "gateway", "--account", created.Account, "--gateway", "stripe"); err != nil {
		t.Fatal(err)
	}
	if _, s := gatewayOf(); s != "rk_live_fromenv" {
		t.Fatalf("secret %s", s)
	}
	if _, err = kassa("accounts", "gateway", "--account", created.Account, "--gateway", "sandbox"); err != nil {
		t.Fatal(err)
	}
	if g, s := gatewayOf(); g != "sandbox" || s != "" {
		t.Fatalf("back to sandbox: %s %q", g, s)
	}
	delete(env, "KASSA_STRIPE_SECRET_KEY")

	// A live account starts without a gateway and refuses test-mode ones.
	out, err = kassa("accounts", "create", "--name", "Live shop", "--live", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var live struct{ Account string }
	if err := json.Unmarshal([]byte(out), &live); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--gateway", "sandbox"},
		{"--gateway", "stripe", "--stripe-secret-key", "sk_test_abc123"},
	} {
		if _, err := kassa(append([]string{"accounts", "gateway", "--account", live.Account}, args...)...); err == nil ||
			!strings.Contains(err.Error(), "test mode only") {
			t.Errorf("live account %v: %v", args, err)
		}
	}
	if out, err = kassa("accounts", "gateway", "--account", live.Account, "--gateway", "stripe", "--stripe-secret-key", "sk_live_abc123"); err != nil ||
		!strings.Contains(out, "now uses the stripe gateway") {
		t.Fatalf("live account on stripe: %q, %v", out, err)
	}
	for _, args := range [][]string{
		{"accounts", "gateway", "--account", created.Account},
		{"accounts", "gateway", "--account", created.Account, "--gateway", "paypal"},
		{"accounts", "gateway", "--account", created.Account, "--gateway", "stripe"},
		{"accounts", "gateway", "--account", "acct_nope", "--gateway", "sandbox"},
	} {
		if _, err := kassa(args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
