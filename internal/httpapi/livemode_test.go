package httpapi_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
)

// The sandbox and its test tokens are test mode only: a live account
// without a real gateway can neither attach nor charge, and the sandbox or
// a Stripe test key cannot be configured for it.
func TestLiveAccountNeedsARealGateway(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		live, err := env.App.Accounts.Create(ctx, "Live shop", true)
		if err != nil {
			t.Fatal(err)
		}
		liveID, key := live.Account.ID, live.Secret
		gatewayOf := func(id string) string {
			t.Helper()
			a, err := env.App.Accounts.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return a.Gateway
		}
		if g := gatewayOf(liveID); g != account.GatewayNone {
			t.Fatalf("new live account's gateway %q, want none", g)
		}
		testID, _ := env.NewAccount("Test shop")
		if g := gatewayOf(testID); g != account.GatewaySandbox {
			t.Fatalf("new test account's gateway %q, want sandbox", g)
		}

		cus := newCustomer(t, env, key, "Live Buyer")
		res := env.Do(apitest.Request{Method: "POST", Path: "/v1/payment-methods/tok_visa/attach", Key: key,
			Body: map[string]any{"customerId": cus}}).Want(t, 400)
		if m := res.Map(t); m["error"] != "GATEWAY_NOT_CONFIGURED" || !strings.Contains(res.Message(t), "live mode") {
			t.Fatalf("live attach of tok_visa: %s", res.Body)
		}
		if n := rowCount(t, env, "payment_methods"); n != 0 {
			t.Fatalf("refused attach stored %d payment methods", n)
		}
		if n := rowCount(t, env, "gateway_customers"); n != 0 {
			t.Fatalf("refused attach stored %d gateway customers", n)
		}

		// kassa accounts gateway refuses test-mode gateways for a live account.
		for _, bad := range [][2]string{{"sandbox", ""}, {"stripe", "sk_test_123"}, {"stripe", "rk_test_123"}} {
			wantAppErr(t, env.App.Accounts.SetGateway(ctx, liveID, bad[0], bad[1]), apperr.BadRequest, "GATEWAY_TEST_MODE_ONLY", "test mode only")
		}
		if g := gatewayOf(liveID); g != account.GatewayNone {
			t.Fatalf("refused SetGateway changed the gateway to %q", g)
		}

		// A live account left on the sandbox from before (with a method
		// attached through it) cannot charge either: nothing is attempted.
		if err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET gateway = 'sandbox' WHERE id = $1`, liveID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO payment_methods (id, account_id, customer_id, gateway, gateway_ref,
				type, billing_details, created) VALUES ('pm_legacy', $1, $2, 'sandbox', 'tok_visa', 'card', '{}', 1)`, liveID, cus); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE customers SET default_payment_method = 'pm_legacy' WHERE id = $1`, cus)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		wantAppErr(t, env.App.Accounts.SetGateway(ctx, liveID, "sandbox", ""), apperr.BadRequest, "GATEWAY_TEST_MODE_ONLY", "sandbox")
		res = env.Do(apitest.Request{Method: "POST", Path: "/v1/payment-methods/tok_visa/attach", Key: key,
			Body: map[string]any{"customerId": cus}}).Want(t, 400)
		if res.Map(t)["error"] != "GATEWAY_NOT_CONFIGURED" {
			t.Fatalf("attach on a live sandbox account: %s", res.Body)
		}
		prod := env.Do(apitest.Request{Method: "POST", Path: "/v1/products", Key: key, Body: map[string]any{"name": "Live plan",
			"currency": "USD", "unit_amount": 2000, "type": "one_time", "tax_behavior": "exclusive"}}).Want(t, 201).Map(t)
		inv := env.Do(apitest.Request{Method: "POST", Path: "/v1/invoices", Key: key, Body: map[string]any{"customer": cus,
			"collection_method": "charge_automatically", "items": []any{map[string]any{"price": prod["default_price"], "quantity": 1}}}}).
			Want(t, 201).Map(t)
		res = env.Do(apitest.Request{Method: "PUT", Path: "/v1/invoices/" + inv["id"].(string), Key: key}).Want(t, 400)
		if res.Map(t)["error"] != "GATEWAY_NOT_CONFIGURED" {
			t.Fatalf("pay on a live sandbox account: %s", res.Body)
		}
		_, _, _, err = env.App.Payments.Charge(ctx, env.ScopeOf(liveID),
			payment.ChargeParams{CustomerID: cus, Amount: 1000, Currency: "usd", IdempotencyKey: "live-1"})
		wantAppErr(t, err, apperr.BadRequest, "GATEWAY_NOT_CONFIGURED", "live mode")
		if n := rowCount(t, env, "payment_attempts"); n != 0 {
			t.Fatalf("%d charge attempts on a live account without a gateway", n)
		}
		got := env.Do(apitest.Request{Method: "GET", Path: "/v1/invoices/" + inv["id"].(string), Key: key}).Want(t, 200).Map(t)
		if got["status"] != "draft" || got["number"] != nil {
			t.Fatalf("refused pay changed the invoice: %v", got)
		}

		// The migration moves such accounts off the sandbox; test accounts stay.
		migration, err := os.ReadFile("../store/migrations/0006_live_gateway.sql")
		if err != nil {
			t.Fatal(err)
		}
		if err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, stripComments(string(migration)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if g := gatewayOf(liveID); g != account.GatewayNone {
			t.Fatalf("after the migration the live account uses %q", g)
		}
		if g := gatewayOf(testID); g != account.GatewaySandbox {
			t.Fatalf("after the migration a test account uses %q", g)
		}

		// Its leftover method can still be detached, without a gateway.
		env.Do(apitest.Request{Method: "POST", Path: "/v1/payment-methods/pm_legacy/detach", Key: key}).Want(t, 200)

		// A live Stripe key is accepted.
		if err := env.App.Accounts.SetGateway(ctx, liveID, "stripe", "sk_live_123"); err != nil {
			t.Fatal(err)
		}
		if g := gatewayOf(liveID); g != account.GatewayStripe {
			t.Fatalf("live account on stripe: %q", g)
		}
	})
}

// stripComments drops SQL comment lines, leaving the statement.
func stripComments(sql string) string {
	var out []string
	for _, l := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.Join(out, "\n")), ";"))
}
