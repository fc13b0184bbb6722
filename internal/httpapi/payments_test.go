package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/gateway/stripegw/stripemock"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
)

const day = 24 * 60 * 60

func newCustomer(t *testing.T, env *apitest.Env, key, name string) string {
	t.Helper()
	return env.Do(apitest.Request{Method: "POST", Path: "/v1/customers", Key: key,
		Body: map[string]any{"name": name, "email": strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"}}).
		Want(t, http.StatusCreated).Map(t)["id"].(string)
}

func attach(t *testing.T, env *apitest.Env, token, customerID string) map[string]any {
	t.Helper()
	return env.Post("/v1/payment-methods/"+token+"/attach", map[string]any{"customerId": customerID}).Want(t, 200).Map(t)
}

func rowCount(t *testing.T, env *apitest.Env, table string) int {
	t.Helper()
	var n int
	if err := env.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type txnPage struct {
	Data []map[string]any         `json:"data"`
	Meta struct{ ItemsTotal int } `json:"meta"`
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// balanceOf returns currency → [available, pending, available card,
// available bank, pending card, pending bank].
func balanceOf(t *testing.T, env *apitest.Env) map[string][6]int64 {
	t.Helper()
	b := env.Get("/v1/balance").Want(t, 200).Map(t)
	if b["object"] != "balance" || b["livemode"] != false {
		t.Fatalf("balance %v", b)
	}
	out := map[string][6]int64{}
	for i, list := range []string{"available", "pending"} {
		for _, e := range b[list].([]any) {
			it := e.(map[string]any)
			st := it["source_types"].(map[string]any)
			v := out[it["currency"].(string)]
			v[i] = num(it["amount"])
			v[2+2*i] = num(st["card"])
			v[3+2*i] = num(st["bank_account"])
			out[it["currency"].(string)] = v
		}
	}
	pre := b["refund_and_dispute_prefunding"].(map[string]any)
	for _, list := range []string{"available", "pending"} {
		if n := len(pre[list].([]any)); n != len(out) {
			t.Fatalf("prefunding %s has %d entries, want %d: %v", list, n, len(out), pre)
		}
	}
	return out
}

func TestSandboxTokensChargedEndToEnd(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		if got := balanceOf(t, env); len(got) != 1 || got["usd"] != [6]int64{} {
			t.Fatalf("empty balance %v", got)
		}
		cases := []struct {
			token, typ, brand, last4 string
			status                   payment.AttemptStatus
			code                     string
			fee                      int64
		}{
			{"tok_visa", "card", "visa", "4242", payment.AttemptSucceeded, "", 59},
			{"tok_mastercard", "card", "mastercard", "4444", payment.AttemptSucceeded, "", 59},
			{"tok_amex", "card", "amex", "0005", payment.AttemptSucceeded, "", 59},
			{"tok_chargeDeclined", "card", "visa", "0002", payment.AttemptDeclined, "card_declined", 0},
			{"tok_chargeDeclinedInsufficientFunds", "card", "visa", "9995", payment.AttemptDeclined, "insufficient_funds", 0},
			{"tok_chargeDeclinedExpiredCard", "card", "visa", "0069", payment.AttemptDeclined, "expired_card", 0},
			{"tok_processingError", "card", "visa", "0119", payment.AttemptUnconfirmed, "processing_error", 0},
			{"tok_us_bank_account", "us_bank_account", "", "6789", payment.AttemptSucceeded, "", 8},
		}
		charges := map[string]string{} // transaction id → token
		var unconfirmed *payment.Attempt
		var bankPM, bankCustomer string
		for _, tc := range cases {
			cus := newCustomer(t, env, "", "Holder "+tc.token)
			pm := attach(t, env, tc.token, cus)
			id, _ := pm["id"].(string)
			if !strings.HasPrefix(id, "pm_") || len(id) != 27 || pm["object"] != "payment_method" || pm["type"] != tc.typ ||
				pm["customer"] != cus || pm["livemode"] != false || pm["allow_redisplay"] != "unspecified" {
				t.Fatalf("%s: attached %v", tc.token, pm)
			}
			if md, ok := pm["metadata"].(map[string]any); !ok || len(md) != 0 {
				t.Fatalf("%s: metadata %v", tc.token, pm["metadata"])
			}
			bd := pm["billing_details"].(map[string]any)
			if bd["name"] != "Holder "+tc.token || bd["address"].(map[string]any)["postal_code"] != nil {
				t.Fatalf("%s: billing details %v", tc.token, bd)
			}
			if tc.typ == "card" {
				card := pm["card"].(map[string]any)
				if card["brand"] != tc.brand || card["last4"] != tc.last4 || card["walletType"] != nil || pm["us_bank_account"] != nil {
					t.Fatalf("%s: card %v", tc.token, pm)
				}
			} else {
				bank := pm["us_bank_account"].(map[string]any)
				if pm["card"] != nil || bank["last4"] != tc.last4 || bank["bank_name"] != "STRIPE TEST BANK" ||
					bank["routing_number"] != "110000000" || bank["account_type"] != "checking" ||
					bank["networks"].(map[string]any)["preferred"] != "ach" {
					t.Fatalf("%s: bank account %v", tc.token, pm)
				}
				bankPM, bankCustomer = id, cus
			}
			// The first method attached becomes the customer's default.
			if c := env.Get("/v1/customers/"+cus).Want(t, 200).Map(t); c["default_payment_method"] != id {
				t.Fatalf("%s: default %v, want %s", tc.token, c["default_payment_method"], id)
			}

			a, txn, res, err := env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID), payment.ChargeParams{
				CustomerID: cus, Amount: 1000, Currency: "usd", Description: "Order " + tc.token, IdempotencyKey: "order-" + tc.token,
			})
			if err != nil {
				t.Fatalf("%s: charge: %v", tc.token, err)
			}
			if a.Status != tc.status || a.DeclineCode != tc.code || a.PaymentMethodID != id {
				t.Fatalf("%s: attempt %+v", tc.token, a)
			}
			if tc.status == payment.AttemptSucceeded {
				if txn == nil || txn.Fee != tc.fee || txn.Net != 1000-tc.fee || res.Outcome != gateway.Approved {
					t.Fatalf("%s: transaction %+v result %+v", tc.token, txn, res)
				}
				charges[txn.ID] = tc.token
			} else if txn != nil {
				t.Fatalf("%s: %s attempt has a transaction %+v", tc.token, tc.status, txn)
			}
			if tc.status == payment.AttemptUnconfirmed {
				unconfirmed = a
			}
		}
		// ACH fees are 0.8%, capped at 5.00.
		_, big, _, err := env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID), payment.ChargeParams{
			CustomerID: bankCustomer, PaymentMethodID: bankPM, Amount: 100000, Currency: "USD", IdempotencyKey: "big-ach",
		})
		if err != nil || big == nil || big.Fee != 500 || big.Net != 99500 || big.SourceType != "bank_account" {
			t.Fatalf("big ACH charge: %+v, %v", big, err)
		}
		charges[big.ID] = "tok_us_bank_account"

		var page txnPage
		env.Get("/v1/transactions?take=50").Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 5 || len(page.Data) != 5 {
			t.Fatalf("transactions: %d, want 5", page.Meta.ItemsTotal)
		}
		if page.Data[0]["id"] != big.ID {
			t.Fatalf("newest first: %v", page.Data[0]["id"])
		}
		for _, tx := range page.Data {
			token := charges[tx["id"].(string)]
			amount, fee := num(tx["amount"]), num(tx["fee"])
			wantFee, settle, source := int64(59), int64(2*day), "card"
			if token == "tok_us_bank_account" {
				wantFee, settle, source = amount*8/1000, 4*day, "bank_account"
				if wantFee > 500 {
					wantFee = 500
				}
			}
			if token == "" || tx["object"] != "balance_transaction" || tx["type"] != "charge" || tx["status"] != "succeeded" ||
				tx["currency"] != "usd" || fee != wantFee || num(tx["net"]) != amount-fee || tx["balance_type"] != "default" ||
				tx["exchange_rate"] != nil || num(tx["surcharge_amount"]) != 0 || num(tx["amount_charged"]) != amount ||
				tx["source_type"] != source || tx["invoice"] != nil || tx["customer"] == nil || tx["source_transaction"] != nil ||
				len(tx["fee_details"].([]any)) != 1 || !strings.HasPrefix(tx["payment_method"].(string), "pm_") {
				t.Fatalf("transaction of %s: %v", token, tx)
			}
			if d := num(tx["available_on"]) - num(tx["created"]); d < settle-2 || d > settle {
				t.Fatalf("%s settles %d s after creation, want %d", token, d, settle)
			}
			one := env.Get("/v1/transactions/"+tx["id"].(string)).Want(t, 200).Map(t)
			if one["id"] != tx["id"] || one["net"] != tx["net"] {
				t.Fatalf("GET one: %v", one)
			}
		}
		env.Get("/v1/transactions?search="+urlQuery(`{"source_type":"x","amount[gte]":5000}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 1 || page.Data[0]["id"] != big.ID {
			t.Fatalf("amount filter: %+v", page)
		}

		// Declined and unconfirmed attempts are no money: all of it is pending.
		cardNet, bankNet := int64(3*941), int64(992+99500)
		if got := balanceOf(t, env)["usd"]; got != [6]int64{0, cardNet + bankNet, 0, 0, cardNet, bankNet} {
			t.Fatalf("balance right after: %v", got)
		}

		// The reconciler settles the processing error: declined, no money.
		env.RunDue(env.AccountID)
		a, err := env.App.Payments.GetAttempt(ctx, env.ScopeOf(env.AccountID), unconfirmed.ID)
		if err != nil || a.Status != payment.AttemptDeclined || a.DeclineCode != "processing_error" || a.TransactionID != "" {
			t.Fatalf("reconciled attempt %+v, %v", a, err)
		}
		if n := rowCount(t, env, "balance_transactions"); n != 5 {
			t.Fatalf("transactions after reconciliation: %d", n)
		}

		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 2 * day}).Want(t, 200)
		if got := balanceOf(t, env)["usd"]; got != [6]int64{cardNet, bankNet, cardNet, 0, 0, bankNet} {
			t.Fatalf("balance after 2 days: %v", got)
		}
		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 2 * day}).Want(t, 200)
		if got := balanceOf(t, env)["usd"]; got != [6]int64{cardNet + bankNet, 0, cardNet, bankNet, 0, 0} {
			t.Fatalf("balance after 4 days: %v", got)
		}
		if n := countEvents(t, env, env.AccountID, "payment_method.attached"); n != len(cases) {
			t.Fatalf("payment_method.attached events: %d", n)
		}
	})
}

func TestPendingAttemptIsReconciled(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		cus := newCustomer(t, env, "", "Crash Test")
		attach(t, env, "tok_visa", cus)
		var resolved []string
		env.App.Payments.OnResolved(func(ctx context.Context, tx *store.Tx, sc account.Scope, a *payment.Attempt, txn *payment.Transaction) error {
			if txn == nil || txn.ID != a.TransactionID {
				return fmt.Errorf("hook got attempt %+v with transaction %+v", a, txn)
			}
			resolved = append(resolved, a.ID)
			return nil
		})
		// Prepared, then the process "dies" before sending.
		var a *payment.Attempt
		err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
			var err error
			a, err = env.App.Payments.PrepareCharge(ctx, tx, env.ScopeOf(env.AccountID),
				payment.ChargeParams{CustomerID: cus, Amount: 2500, Currency: "USD", Description: "Order 7", IdempotencyKey: "order-7-try-1"})
			return err
		})
		if err != nil || a.Status != payment.AttemptPending {
			t.Fatalf("prepare: %+v, %v", a, err)
		}
		// Within the first minute it is left to its request.
		env.RunDue(env.AccountID)
		if got, _ := env.App.Payments.GetAttempt(ctx, env.ScopeOf(env.AccountID), a.ID); got.Status != payment.AttemptPending {
			t.Fatalf("reconciled too early: %+v", got)
		}
		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 61}).Want(t, 200)
		got, err := env.App.Payments.GetAttempt(ctx, env.ScopeOf(env.AccountID), a.ID)
		if err != nil || got.Status != payment.AttemptSucceeded || got.TransactionID == "" {
			t.Fatalf("attempt after the grace minute: %+v, %v", got, err)
		}
		if len(resolved) != 1 || resolved[0] != a.ID {
			t.Fatalf("hook calls %v", resolved)
		}
		tx := env.Get("/v1/transactions/"+got.TransactionID).Want(t, 200).Map(t)
		if tx["description"] != "Order 7" || num(tx["amount"]) != 2500 || num(tx["fee"]) != 103 {
			t.Fatalf("transaction %v", tx)
		}
		// The original request, sending late, gets the stored result and no second charge.
		_, txn, res, err := env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID),
			payment.ChargeParams{CustomerID: cus, Amount: 2500, Currency: "USD", Description: "Order 7", IdempotencyKey: "order-7-try-1"})
		if err != nil || res.Outcome != gateway.Approved || txn == nil || txn.ID != got.TransactionID {
			t.Fatalf("late charge: %+v %+v %v", txn, res, err)
		}
		if n := rowCount(t, env, "balance_transactions"); n != 1 || len(resolved) != 1 {
			t.Fatalf("transactions %d, hook calls %d", n, len(resolved))
		}
	})
}

func wantAppErr(t *testing.T, err error, kind apperr.Kind, code, msg string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != kind || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("error %v (%+v), want kind %d code %q containing %q", err, e, kind, code, msg)
	}
}

func TestPaymentMethodRules(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		alice := newCustomer(t, env, "", "Alice")
		bob := newCustomer(t, env, "", "Bob")
		otherAcct, keyB := env.NewAccount("B")
		carol := newCustomer(t, env, keyB, "Carol")

		// Refused attaches write nothing.
		for _, tc := range []struct {
			token  string
			body   any
			status int
			want   string
		}{
			{"tok_nope", map[string]any{"customerId": alice}, 400, "No such token: 'tok_nope'"},
			{"4000000000000002x", map[string]any{"customerId": alice}, 400, "No such token"},
			{"tok_visa", map[string]any{}, 400, "customerId should not be empty"},
			{"tok_visa", map[string]any{"customerId": 5}, 400, "customerId must be a string"},
			{"tok_visa", map[string]any{"customerId": "cust_123456789"}, 404, "cust_123456789"},
			{"tok_visa", map[string]any{"customerId": carol}, 404, carol},
			{"tok_visa", map[string]any{"customerId": alice, "cardNumber": "4242424242424242"}, 400, "cardNumber must be a masked card number"},
			{"tok_visa", map[string]any{"customerId": alice, "cardExp": "1399"}, 400, "cardExp must be a card expiry in MMYY form"},
			{"tok_visa", map[string]any{"customerId": alice, "walletType": "samsung_pay"}, 400, "walletType must be one of"},
			{"tok_visa", map[string]any{"customerId": alice, "colour": "red"}, 400, "property colour should not exist"},
		} {
			res := env.Post("/v1/payment-methods/"+tc.token+"/attach", tc.body).Want(t, tc.status)
			if msg := res.Message(t); !strings.Contains(msg, tc.want) || strings.Contains(msg, "4242424242424242") {
				t.Errorf("attach %s %v: %q, want %q", tc.token, tc.body, msg, tc.want)
			}
		}
		if tok := env.Post("/v1/payment-methods/tok_nope/attach", map[string]any{"customerId": alice}).Map(t); tok["error"] != "NO_SUCH_TOKEN" {
			t.Errorf("unknown token body %v", tok)
		}
		if n := rowCount(t, env, "payment_methods"); n != 0 {
			t.Fatalf("payment methods after refused attaches: %d", n)
		}
		if n := countEvents(t, env, env.AccountID, "payment_method.attached"); n != 0 {
			t.Fatalf("events after refused attaches: %d", n)
		}

		// NMI-style extras.
		pm1 := env.Post("/v1/payment-methods/tok_mastercard/attach", map[string]any{"customerId": alice,
			"cardNumber": "555555******4444", "cardType": "mastercard", "cardExp": "0830", "walletType": "apple_pay", "zipcode": "94107"}).Want(t, 200).Map(t)
		card := pm1["card"].(map[string]any)
		if card["walletType"] != "apple_pay" || num(card["exp_month"]) != 8 || num(card["exp_year"]) != 2030 ||
			pm1["billing_details"].(map[string]any)["address"].(map[string]any)["postal_code"] != "94107" {
			t.Fatalf("attached with extras %v", pm1)
		}
		id1 := pm1["id"].(string)
		id2 := attach(t, env, "tok_visa", alice)["id"].(string)
		bobPM := attach(t, env, "tok_amex", bob)["id"].(string)
		defaultOf := func(cus string) any {
			return env.Get("/v1/customers/"+cus).Want(t, 200).Map(t)["default_payment_method"]
		}
		if d := defaultOf(alice); d != id1 {
			t.Fatalf("default after second attach %v, want the first %s", d, id1)
		}
		if res := env.Post("/v1/payment-methods/"+id2+"/default", nil).Want(t, 200).Map(t); res["id"] != id2 {
			t.Fatalf("set default answered %v", res)
		}
		if d := defaultOf(alice); d != id2 {
			t.Fatalf("default %v, want %s", d, id2)
		}

		// Reads: global, per customer, another customer's.
		var page struct {
			Data []map[string]any         `json:"data"`
			Meta struct{ ItemsTotal int } `json:"meta"`
		}
		env.Get("/v1/payment-methods").Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 3 || page.Data[0]["id"] != bobPM {
			t.Fatalf("list %+v", page)
		}
		env.Get("/v1/payment-methods?search="+urlQuery(`{"customer":"`+alice+`","type":"card"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 2 {
			t.Fatalf("search by customer %+v", page)
		}
		env.Get("/v1/payment-methods?search="+urlQuery(`{"type":"us_bank_account"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 0 {
			t.Fatalf("search by type %+v", page)
		}
		env.Get("/v1/payment-methods?search=notjson").Want(t, 400)
		env.Get("/v1/customers/"+alice+"/payment-methods?take=1").Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 2 || len(page.Data) != 1 || page.Data[0]["id"] != id2 {
			t.Fatalf("alice's methods %+v", page)
		}
		env.Get("/v1/customers/"+alice+"/payment-methods/"+id1).Want(t, 200)
		env.Get("/customers/"+alice+"/payment-methods/"+bobPM).Want(t, 404)
		env.Get("/v1/customers/cus_nope/payment-methods").Want(t, 404)
		env.Get("/v1/payment-methods/pm_nope").Want(t, 404)

		// Another account sees and touches none of it.
		as := func(method, path string, body any) *apitest.Response {
			return env.Do(apitest.Request{Method: method, Path: path, Key: keyB, Body: body})
		}
		as("GET", "/v1/payment-methods/"+id1, nil).Want(t, 404)
		as("POST", "/v1/payment-methods/"+id1+"/detach", nil).Want(t, 404)
		as("POST", "/v1/payment-methods/"+id1+"/default", nil).Want(t, 404)
		as("GET", "/v1/customers/"+alice+"/payment-methods", nil).Want(t, 404)
		as("GET", "/v1/customers/"+alice+"/payment-methods/"+id1, nil).Want(t, 404)
		as("POST", "/v1/payment-methods/"+id1+"/attach", map[string]any{"customerId": carol}).Want(t, 400) // not B's: an unknown token
		as("GET", "/v1/payment-methods", nil).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 0 {
			t.Fatalf("B lists A's methods: %+v", page)
		}

		// Re-attaching our own ids.
		if res := env.Post("/v1/payment-methods/"+id1+"/attach", map[string]any{"customerId": alice}).Want(t, 200).Map(t); res["id"] != id1 {
			t.Fatalf("re-attach to its customer: %v", res)
		}
		if res := env.Post("/v1/payment-methods/"+id1+"/attach", map[string]any{"customerId": bob}).Want(t, 400).Map(t); res["error"] != "PAYMENT_METHOD_IN_USE" {
			t.Fatalf("attach to another customer: %v", res)
		}

		// Detaching the default clears it.
		det := env.Post("/v1/payment-methods/"+id2+"/detach", nil).Want(t, 200).Map(t)
		if det["id"] != id2 || det["customer"] != nil {
			t.Fatalf("detached %v", det)
		}
		if d := defaultOf(alice); d != nil {
			t.Fatalf("default after detaching it: %v", d)
		}
		if res := env.Post("/v1/payment-methods/"+id2+"/detach", nil).Want(t, 400).Map(t); res["error"] != "PAYMENT_METHOD_DETACHED" {
			t.Fatalf("detach twice: %v", res)
		}
		env.Post("/v1/payment-methods/"+id2+"/default", nil).Want(t, 400)
		for _, cus := range []string{alice, bob} {
			if res := env.Post("/v1/payment-methods/"+id2+"/attach", map[string]any{"customerId": cus}).Want(t, 400).Map(t); res["error"] != "PAYMENT_METHOD_DETACHED" {
				t.Fatalf("re-attach detached to %s: %v", cus, res)
			}
		}
		env.Get("/v1/customers/"+alice+"/payment-methods/"+id2).Want(t, 404)
		if got := env.Get("/v1/payment-methods/"+id2).Want(t, 200).Map(t); got["customer"] != nil {
			t.Fatalf("detached method %v", got)
		}
		if n := countEvents(t, env, env.AccountID, "payment_method.detached"); n != 1 {
			t.Fatalf("payment_method.detached events: %d", n)
		}

		// Refused charges write nothing.
		sc := env.ScopeOf(env.AccountID)
		charge := func(p payment.ChargeParams) error {
			if p.IdempotencyKey == "" {
				p.IdempotencyKey = "k"
			}
			if p.Currency == "" {
				p.Currency = "usd"
			}
			_, _, _, err := env.App.Payments.Charge(ctx, sc, p)
			return err
		}
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id2, Amount: 1000}), apperr.BadRequest, "PAYMENT_METHOD_DETACHED", "detached")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: bobPM, Amount: 1000}), apperr.BadRequest, "PAYMENT_METHOD_NOT_CUSTOMERS", "does not belong")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, Amount: 1000}), apperr.BadRequest, "NO_PAYMENT_METHOD", "no default payment method")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 0}), apperr.Invalid, "", "amount must be a positive")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: -5}), apperr.Invalid, "", "amount must be a positive")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 49}), apperr.BadRequest, "AMOUNT_TOO_SMALL", "at least $0.50")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 29, Currency: "gbp"}), apperr.BadRequest, "AMOUNT_TOO_SMALL", "at least £0.30")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 1000, Currency: "abc"}), apperr.Invalid, "", "currency must be")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 1000, IdempotencyKey: strings.Repeat("k", 256)}), apperr.Invalid, "", "idempotency key")
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: carol, PaymentMethodID: id1, Amount: 1000}), apperr.NotFound, "", carol)
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: alice, PaymentMethodID: "pm_nope", Amount: 1000}), apperr.NotFound, "", "pm_nope")
		_, _, _, err := env.App.Payments.Charge(ctx, env.ScopeOf(otherAcct), payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 1000, Currency: "usd", IdempotencyKey: "x"})
		wantAppErr(t, err, apperr.NotFound, "", alice)
		if n := rowCount(t, env, "payment_attempts"); n != 0 {
			t.Fatalf("attempts after refused charges: %d", n)
		}
		// At the minimum it goes through.
		if a, _, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: alice, PaymentMethodID: id1, Amount: 30, Currency: "GBP", IdempotencyKey: "gbp"}); err != nil || a.Status != payment.AttemptSucceeded {
			t.Fatalf("minimum GBP charge %+v, %v", a, err)
		}
		// ACH is USD only.
		bank := attach(t, env, "tok_us_bank_account", bob)["id"].(string)
		wantAppErr(t, charge(payment.ChargeParams{CustomerID: bob, PaymentMethodID: bank, Amount: 1000, Currency: "eur"}), apperr.BadRequest, "CURRENCY_NOT_SUPPORTED", "USD")
	})
}

func TestRefunds(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		cus := newCustomer(t, env, "", "Refund Me")
		attach(t, env, "tok_visa", cus)
		_, charge, _, err := env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID),
			payment.ChargeParams{CustomerID: cus, Amount: 1000, Currency: "usd", IdempotencyKey: "r1"})
		if err != nil || charge == nil {
			t.Fatalf("charge %+v %v", charge, err)
		}
		path := "/v1/transactions/" + charge.ID + "/refund"
		ref := env.Post(path, map[string]any{"amount": 300, "reason": "requested_by_customer"}).Want(t, 200).Map(t)
		if !strings.HasPrefix(ref["id"].(string), "txn_") || ref["type"] != "refund" || num(ref["amount"]) != -300 || num(ref["net"]) != -300 ||
			num(ref["fee"]) != 0 || ref["status"] != "succeeded" || ref["source_transaction"] != charge.ID || ref["refund_reason"] != "requested_by_customer" ||
			ref["customer"] != cus || ref["payment_method"] != charge.PaymentMethod || num(ref["amount_charged"]) != -300 || ref["currency"] != "usd" {
			t.Fatalf("refund %v", ref)
		}
		if got := env.Get("/v1/transactions/"+charge.ID).Want(t, 200).Map(t); got["status"] != "succeeded" || num(got["amount_refunded"]) != 300 {
			t.Fatalf("partly refunded charge %v", got)
		}

		// Refused refunds write nothing.
		for _, tc := range []struct {
			path   string
			body   any
			status int
			want   string
		}{
			{path, map[string]any{"amount": 701}, 400, "amount 701 is more than the 700 that remains refundable"},
			{path, map[string]any{"amount": 0}, 400, "amount must be a positive integer"},
			{path, map[string]any{"amount": -5}, 400, "amount must be a positive integer"},
			{path, map[string]any{"amount": 1.5}, 400, "amount must be an integer number"},
			{path, map[string]any{"reason": "because"}, 400, "reason must be one of the following values"},
			{path, map[string]any{"note": "x"}, 400, "property note should not exist"},
			{"/v1/transactions/" + ref["id"].(string) + "/refund", nil, 400, "only charges can be refunded"},
			{"/v1/transactions/txn_nope/refund", nil, 404, "Transaction txn_nope not found"},
		} {
			if msg := env.Post(tc.path, tc.body).Want(t, tc.status).Message(t); !strings.Contains(msg, tc.want) {
				t.Errorf("refund %s %v: %q, want %q", tc.path, tc.body, msg, tc.want)
			}
		}
		_, keyB := env.NewAccount("B")
		env.Do(apitest.Request{Method: "POST", Path: path, Key: keyB}).Want(t, 404)
		env.Do(apitest.Request{Method: "GET", Path: "/v1/transactions/" + charge.ID, Key: keyB}).Want(t, 404)
		if n := rowCount(t, env, "refunds"); n != 1 {
			t.Fatalf("refunds after refused requests: %d", n)
		}

		// No body: the rest.
		rest := env.Post(path, nil).Want(t, 200).Map(t)
		if num(rest["amount"]) != -700 || rest["refund_reason"] != nil {
			t.Fatalf("rest %v", rest)
		}
		if got := env.Get("/v1/transactions/"+charge.ID).Want(t, 200).Map(t); got["status"] != "refunded" || num(got["amount_refunded"]) != 1000 {
			t.Fatalf("refunded charge %v", got)
		}
		if res := env.Post(path, nil).Want(t, 400).Map(t); res["error"] != "CHARGE_ALREADY_REFUNDED" {
			t.Fatalf("refund again: %v", res)
		}
		var page txnPage
		env.Get("/v1/transactions?search="+urlQuery(`{"type":"refund"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 2 || page.Data[0]["id"] != rest["id"] {
			t.Fatalf("refunds listed %+v", page)
		}
		env.Get("/v1/transactions?search="+urlQuery(`{"status":"refunded,succeeded","customer":"`+cus+`"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 3 {
			t.Fatalf("by status and customer %+v", page)
		}
		// Refunds leave the available balance at once; the charge is still pending.
		if got := balanceOf(t, env)["usd"]; got != [6]int64{-1000, 941, -1000, 0, 941, 0} {
			t.Fatalf("balance %v", got)
		}
		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 2 * day}).Want(t, 200)
		if got := balanceOf(t, env)["usd"]; got != [6]int64{-59, 0, -59, 0, 0, 0} {
			t.Fatalf("balance after settlement %v", got)
		}
	})
}

func TestChargeOnceUnderConcurrency(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		cus := newCustomer(t, env, "", "Burst")
		attach(t, env, "tok_visa", cus)
		sc := env.ScopeOf(env.AccountID)
		const n = 20
		var wg sync.WaitGroup
		type result struct {
			a   *payment.Attempt
			txn *payment.Transaction
			err error
		}
		results := make(chan result, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, txn, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: 1500, Currency: "usd", IdempotencyKey: "burst"})
				results <- result{a, txn, err}
			}()
		}
		wg.Wait()
		close(results)
		var attemptID, txnID string
		for r := range results {
			if r.err != nil {
				t.Fatalf("charge: %v", r.err)
			}
			if r.a.Status != payment.AttemptSucceeded || r.txn == nil {
				t.Fatalf("attempt %+v txn %+v", r.a, r.txn)
			}
			if attemptID != "" && (r.a.ID != attemptID || r.txn.ID != txnID) {
				t.Fatalf("two attempts or transactions for one key: %s/%s and %s/%s", attemptID, txnID, r.a.ID, r.txn.ID)
			}
			attemptID, txnID = r.a.ID, r.txn.ID
		}
		if a, t2 := rowCount(t, env, "payment_attempts"), rowCount(t, env, "balance_transactions"); a != 1 || t2 != 1 {
			t.Fatalf("attempts %d, transactions %d; want 1 and 1", a, t2)
		}
		// The key is bound to its charge.
		_, _, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: 1600, Currency: "usd", IdempotencyKey: "burst"})
		wantAppErr(t, err, apperr.Unprocessable, "IDEMPOTENCY_KEY_REUSED", "different charge")
	})
}

func TestConcurrentRefunds(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		cus := newCustomer(t, env, "", "Racer")
		attach(t, env, "tok_visa", cus)
		chargeOf := func(key string) *payment.Transaction {
			_, txn, _, err := env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID),
				payment.ChargeParams{CustomerID: cus, Amount: 1000, Currency: "usd", IdempotencyKey: key})
			if err != nil || txn == nil {
				t.Fatalf("charge: %v", err)
			}
			return txn
		}
		burst := func(chargeID string, body any) (ok int, refunded int64) {
			const n = 20
			var wg sync.WaitGroup
			res := make(chan *apitest.Response, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res <- env.Post("/v1/transactions/"+chargeID+"/refund", body)
				}()
			}
			wg.Wait()
			close(res)
			for r := range res {
				switch r.Status {
				case 200:
					ok++
					refunded -= num(r.Map(t)["amount"])
				case 400:
				default:
					t.Fatalf("refund answered %d %s", r.Status, r.Body)
				}
			}
			return ok, refunded
		}

		full := chargeOf("full")
		if ok, refunded := burst(full.ID, nil); ok != 1 || refunded != 1000 {
			t.Fatalf("full refunds: %d succeeded, %d refunded", ok, refunded)
		}
		partial := chargeOf("partial")
		if ok, refunded := burst(partial.ID, map[string]any{"amount": 150}); ok != 6 || refunded != 900 {
			t.Fatalf("partial refunds: %d succeeded, %d refunded", ok, refunded)
		}
		for id, want := range map[string][2]any{full.ID: {"refunded", int64(1000)}, partial.ID: {"succeeded", int64(900)}} {
			got := env.Get("/v1/transactions/"+id).Want(t, 200).Map(t)
			if got["status"] != want[0] || num(got["amount_refunded"]) != want[1] {
				t.Fatalf("charge %s after burst: %v", id, got)
			}
		}
		if n := rowCount(t, env, "refunds"); n != 7 {
			t.Fatalf("refund rows %d, want 7", n)
		}
	})
}

func TestStripeGatewayAttach(t *testing.T) {
	url := stripemock.Require(t)
	t.Setenv("KASSA_STRIPE_API_BASE", url)
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		cus := newCustomer(t, env, "", "Stripe User")
		sandboxPM := attach(t, env, "tok_visa", cus)["id"].(string)
		for _, bad := range [][2]string{{"stripe", ""}, {"stripe", "pk_test_123"}, {"paypal", ""}, {"sandbox", "sk_test_123"}} {
			if err := env.App.Accounts.SetGateway(ctx, env.AccountID, bad[0], bad[1]); !apperr.IsKind(err, apperr.Invalid) {
				t.Fatalf("SetGateway%v: %v", bad, err)
			}
		}
		if err := env.App.Accounts.SetGateway(ctx, "acct_nope", "sandbox", ""); !apperr.IsKind(err, apperr.NotFound) {
			t.Fatalf("SetGateway of unknown account: %v", err)
		}
		if err := env.App.Accounts.SetGateway(ctx, env.AccountID, "stripe", "sk_test_123"); err != nil {
			t.Fatal(err)
		}
		pm := attach(t, env, "tok_visa", cus)
		card, _ := pm["card"].(map[string]any)
		if !strings.HasPrefix(pm["id"].(string), "pm_") || pm["type"] != "card" || pm["customer"] != cus || card == nil ||
			card["brand"] == nil || len(card["last4"].(string)) != 4 {
			t.Fatalf("attached through stripe-mock: %v", pm)
		}
		var ref string
		if err := env.App.DB.Read().QueryRowContext(ctx, `SELECT ref FROM gateway_customers WHERE customer_id = $1 AND gateway = 'stripe'`, cus).Scan(&ref); err != nil || !strings.HasPrefix(ref, "cus_") {
			t.Fatalf("stripe customer ref %q, %v", ref, err)
		}
		// stripe-mock's PaymentIntent fixture is not a success: declined, no money.
		a, txn, _, err := env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID),
			payment.ChargeParams{CustomerID: cus, PaymentMethodID: pm["id"].(string), Amount: 1000, Currency: "usd", IdempotencyKey: "stripe-1"})
		if err != nil || txn != nil || a.Status != payment.AttemptDeclined || !strings.HasPrefix(a.ChargeRef, "pi_") {
			t.Fatalf("stripe charge %+v %+v %v", a, txn, err)
		}
		// A sandbox method cannot be charged through Stripe.
		_, _, _, err = env.App.Payments.Charge(ctx, env.ScopeOf(env.AccountID),
			payment.ChargeParams{CustomerID: cus, PaymentMethodID: sandboxPM, Amount: 1000, Currency: "usd", IdempotencyKey: "stripe-2"})
		wantAppErr(t, err, apperr.BadRequest, "GATEWAY_MISMATCH", "sandbox")
		env.Post("/v1/payment-methods/"+pm["id"].(string)+"/detach", nil).Want(t, 200)
	})
}

// The contract's card and us_bank_account are optional and not nullable:
// each is present for its own type only, in answers and in webhook payloads.
func TestPaymentMethodCarriesOnlyItsTypesDetails(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		cus := newCustomer(t, env, "", "Two Kinds")
		card := attach(t, env, "tok_visa", cus)
		bank := attach(t, env, "tok_us_bank_account", cus)
		check := func(what string, pm map[string]any, has, hasNot string) {
			t.Helper()
			if v, ok := pm[has]; !ok || v == nil {
				t.Errorf("%s: %s missing: %v", what, has, pm)
			}
			if v, ok := pm[hasNot]; ok {
				t.Errorf("%s: %s present (%v), want it absent", what, hasNot, v)
			}
		}
		for _, pm := range []struct {
			id, has, hasNot string
		}{{card["id"].(string), "card", "us_bank_account"}, {bank["id"].(string), "us_bank_account", "card"}} {
			got := env.Get("/v1/payment-methods/"+pm.id).Want(t, 200).Map(t)
			check("get "+pm.id, got, pm.has, pm.hasNot)
			var page struct {
				Data []map[string]any `json:"data"`
			}
			env.Get("/v1/customers/"+cus+"/payment-methods?search="+urlQuery(`{"type":"`+got["type"].(string)+`"}`)).Want(t, 200).JSON(t, &page)
			if len(page.Data) != 1 {
				t.Fatalf("list by type: %+v", page)
			}
			check("list "+pm.id, page.Data[0], pm.has, pm.hasNot)
			check("detach "+pm.id, env.Post("/v1/payment-methods/"+pm.id+"/detach", nil).Want(t, 200).Map(t), pm.has, pm.hasNot)
		}
		if _, ok := card["us_bank_account"]; ok {
			t.Errorf("attach answered a card with us_bank_account: %v", card)
		}
		if _, ok := bank["card"]; ok {
			t.Errorf("attach answered a bank account with card: %v", bank)
		}
		evs, err := event.List(context.Background(), env.App.DB.Read(), env.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if !strings.HasPrefix(e.Type, "payment_method.") {
				continue
			}
			var env struct {
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(e.Payload, &env); err != nil {
				t.Fatal(err)
			}
			data := env.Data
			if data["type"] == "card" {
				check(e.Type, data, "card", "us_bank_account")
			} else {
				check(e.Type, data, "us_bank_account", "card")
			}
		}
	})
}

// A card number given where an id or token goes (the sandbox takes test
// card numbers in place of tokens) is never echoed back, not even in an
// error's path, and never stored.
func TestCardNumbersAreNeverEchoed(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		cus := newCustomer(t, env, "", "Card Holder")
		for _, tc := range []struct {
			method, path string
			body         any
			status       int
		}{
			{"POST", "/v1/payment-methods/4000000000000077/attach", map[string]any{"customerId": cus}, 400},
			{"POST", "/payment-methods/4242424242424242/attach", map[string]any{"customerId": "cus_nope"}, 404},
			{"POST", "/v1/payment-methods/4242424242424242/attach", map[string]any{"customerId": cus, "colour": "red"}, 400},
			{"POST", "/v1/payment-methods/4242%204242%204242%204242/attach", map[string]any{}, 400},
			{"GET", "/v1/payment-methods/4242424242424242", nil, 404},
			{"POST", "/v1/payment-methods/4242-4242-4242-4242/detach", nil, 404},
			{"POST", "/v1/payment-methods/4242424242424242/default", nil, 404},
			{"GET", "/v1/customers/" + cus + "/payment-methods/4242424242424242", nil, 404},
			{"GET", "/v1/customers/4242424242424242/payment-methods", nil, 404},
			{"GET", "/v1/customers/4242424242424242/payment-methods/pm_nope", nil, 404},
			{"GET", "/v1/transactions/4242424242424242", nil, 404},
			{"POST", "/v1/transactions/4242424242424242/refund", nil, 404},
		} {
			res := env.Do(apitest.Request{Method: tc.method, Path: tc.path, Body: tc.body}).Want(t, tc.status)
			body := strings.NewReplacer(" ", "", "-", "", "%20", "").Replace(string(res.Body))
			if strings.Contains(body, "4242424242424242") || strings.Contains(body, "4000000000000077") {
				t.Errorf("%s %s echoes the card number: %s", tc.method, tc.path, res.Body)
			}
			if !strings.Contains(string(res.Body), "****") {
				t.Errorf("%s %s: want the number redacted, got %s", tc.method, tc.path, res.Body)
			}
		}
		pm := env.Post("/v1/payment-methods/4242%204242%204242%204242/attach", map[string]any{"customerId": cus}).Want(t, 200).Map(t)
		if strings.Contains(fmt.Sprint(pm), "4242424242424242") || pm["card"].(map[string]any)["last4"] != "4242" {
			t.Fatalf("attached %v", pm)
		}
		var stored int
		if err := env.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM payment_methods
			WHERE gateway_ref LIKE '%4242424242%' OR billing_details LIKE '%4242424242%'`).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("payment methods holding the number: %d, %v", stored, err)
		}
	})
}

// Search values of type and status come from a known vocabulary (any case);
// others are a 400, as on the other lists. available_on ranges filter too.
func TestTransactionAndMethodSearchValues(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		cus := newCustomer(t, env, "", "Searcher")
		attach(t, env, "tok_visa", cus)
		bank := attach(t, env, "tok_us_bank_account", cus)["id"].(string)
		sc := env.ScopeOf(env.AccountID)
		_, card, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: 1000, Currency: "usd", IdempotencyKey: "s1"})
		if err != nil || card == nil {
			t.Fatalf("card charge %v", err)
		}
		_, ach, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, PaymentMethodID: bank, Amount: 1000, Currency: "usd", IdempotencyKey: "s2"})
		if err != nil || ach == nil {
			t.Fatalf("ACH charge %v", err)
		}
		env.Post("/v1/transactions/"+card.ID+"/refund", map[string]any{"amount": 100}).Want(t, 200)

		var page txnPage
		for _, tc := range []struct {
			search string
			want   int
		}{
			{`{"type":"CHARGE"}`, 2},
			{`{"type":"Refund"}`, 1},
			{`{"status":"SUCCEEDED"}`, 3},
			{`{"type":"payout"}`, 0},
			{`{"type":["charge","refund"]}`, 3},
			{fmt.Sprintf(`{"available_on[gt]":%d}`, card.AvailableOn), 1},
			{fmt.Sprintf(`{"available_on":{"lte":%d}}`, card.AvailableOn), 2},
		} {
			env.Get("/v1/transactions?search="+urlQuery(tc.search)).Want(t, 200).JSON(t, &page)
			if page.Meta.ItemsTotal != tc.want {
				t.Errorf("search %s: %d transactions, want %d", tc.search, page.Meta.ItemsTotal, tc.want)
			}
		}
		for _, search := range []string{`{"type":"bogus"}`, `{"status":"charge"}`, `{"status":"succeeded,nope"}`, `{"available_on[gte]":"soon"}`} {
			if msg := env.Get("/v1/transactions?search="+urlQuery(search)).Want(t, 400).Message(t); !strings.Contains(msg, "search.") {
				t.Errorf("search %s: %q", search, msg)
			}
		}
		env.Get("/v1/invoices/00000000-0000-4000-8000-000000000000/transactions?search="+urlQuery(`{"type":"bogus"}`)).Want(t, 404)

		var methods txnPage
		env.Get("/v1/payment-methods?search="+urlQuery(`{"type":"US_BANK_ACCOUNT"}`)).Want(t, 200).JSON(t, &methods)
		if methods.Meta.ItemsTotal != 1 || methods.Data[0]["id"] != bank {
			t.Errorf("methods by type: %+v", methods)
		}
		if msg := env.Get("/v1/payment-methods?search="+urlQuery(`{"type":"sepa_debit"}`)).Want(t, 400).Message(t); !strings.Contains(msg, "search.type") {
			t.Errorf("unknown method type: %q", msg)
		}
	})
}
