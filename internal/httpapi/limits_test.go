package httpapi_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/payment"
	"github.com/kassahq/kassa/internal/store"
)

// wantRefused posts body and wants a 400 whose message contains want.
func wantRefused(t *testing.T, env *apitest.Env, path string, body any, want string) {
	t.Helper()
	res := env.Post(path, body)
	if res.Status != 400 || !strings.Contains(res.Message(t), want) {
		t.Errorf("POST %s %v: %d %s, want 400 containing %q", path, body, res.Status, res.Body, want)
	}
}

// Prices: unit_amount is capped in minor units, whatever the currency's
// decimals.
func TestPriceCeilingInMinorUnits(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		for _, cur := range []string{"USD", "JPY", "KWD"} {
			f.price(cur, billing.MaxUnitAmount, "exclusive")
		}
		prod := env.Get("/v1/products?take=1").Map(t)["data"].([]any)[0].(map[string]any)["id"].(string)
		prices := rowCount(t, env, "prices")
		for _, cur := range []string{"USD", "JPY", "KWD"} {
			wantRefused(t, env, "/v1/prices/"+prod, map[string]any{"currency": cur, "unit_amount": billing.MaxUnitAmount + 1, "type": "one_time"},
				"unit_amount must not be greater than 99999999")
		}
		if n := rowCount(t, env, "prices"); n != prices {
			t.Fatalf("refused prices wrote %d rows", n-prices)
		}
	})
}

// The report's invoice (100 lines × 1,000,000 × 99,999,999 at 100 % tax)
// and every ceiling on the way to it are refused with the field named.
func TestInvoiceCeilings(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Big spender", "", "tok_visa")
		top := f.price("USD", billing.MaxUnitAmount, "exclusive")
		hundred := f.price("USD", 100, "exclusive")
		half := f.price("USD", 50_000_000, "exclusive")
		all := f.rate("All of it", "100", false)
		ten := f.rate("Ten", "10", false)

		report := make([]invItem, 100)
		for i := range report {
			report[i] = invItem{top, 1_000_000, []string{all}}
		}
		for _, c := range []struct {
			items []invItem
			want  string
		}{
			{report, "items[0].quantity must not be greater than 1 with price " + top},
			{[]invItem{{hundred, billing.MaxQuantity + 1, nil}}, "items[0].quantity must not be greater than 1000000"},
			{[]invItem{{hundred, 1, nil}, {hundred, 1_000_000, nil}}, "items[1].quantity must not be greater than 999999 with price " + hundred},
			{[]invItem{{top, 1, []string{ten}}}, "items add up to an invoice total of 109999999"},
			{[]invItem{{half, 1, nil}, {half, 1, nil}}, "items add up to an invoice total of 100000000"},
		} {
			wantRefused(t, env, "/v1/invoices", f.body(cus, "charge_automatically", c.items...), c.want)
		}
		if n := rowCount(t, env, "invoices") + rowCount(t, env, "invoice_lines"); n != 0 {
			t.Fatalf("refused invoices wrote %d rows", n)
		}

		// At the ceilings exactly: accepted, and payable by one charge.
		inv := f.create(cus, invItem{hundred, 999_999, nil}, invItem{f.price("USD", 99, "exclusive"), 1, nil})
		wantAmounts(t, inv, map[string]int64{"total": billing.MaxInvoiceTotal})
		inv = env.Post("/v1/invoices/"+inv["id"].(string)+"/pay", nil).Want(t, 200).Map(t)
		if inv["status"] != "paid" || num(inv["amount_paid"]) != billing.MaxChargeAmount {
			t.Fatalf("paid %v %v", inv["status"], inv["amount_paid"])
		}
	})
}

// A charge, a refund and a recorded payment are capped at one charge's
// ceiling; refusals write nothing.
func TestChargeRefundAndPaymentCeilings(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		f := invFixture{t, env}
		cus := f.customer("Payer", "payer@example.com", "tok_visa")
		sc := env.ScopeOf(env.AccountID)

		_, _, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: billing.MaxChargeAmount + 1,
			Currency: "usd", IdempotencyKey: "too-big"})
		wantAppErr(t, err, apperr.BadRequest, "AMOUNT_TOO_LARGE", "amount must not be greater than $999,999.99 (99999999 USD minor units)")
		if n := rowCount(t, env, "payment_attempts"); n != 0 {
			t.Fatalf("refused charge wrote %d attempts", n)
		}

		// An invoice stored before the ceilings (its total raised behind
		// Kassa's back) is refused at pay time, not sent to the gateway.
		inv := f.create(cus, invItem{f.price("USD", 1000, "exclusive"), 1, nil})
		invID := inv["id"].(string)
		if err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE invoices SET subtotal = $1, subtotal_excluding_tax = $1, total = $1,
				total_excluding_tax = $1, amount_due = $1 WHERE id = $2`, int64(19_999_999_800_000_000), invID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		res := env.Post("/v1/invoices/"+invID+"/pay", nil).Want(t, 400)
		if m := res.Map(t); m["error"] != "AMOUNT_TOO_LARGE" {
			t.Fatalf("pay of a legacy invoice: %s", res.Body)
		}
		if n := rowCount(t, env, "payment_attempts"); n != 0 {
			t.Fatalf("refused pay wrote %d attempts", n)
		}
		if got := env.Get("/v1/invoices/" + invID).Map(t); got["status"] != "draft" || got["number"] != nil {
			t.Fatalf("refused pay finalized the invoice: %v %v", got["status"], got["number"])
		}

		_, charge, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: 5000, Currency: "usd", IdempotencyKey: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		for _, amount := range []int64{billing.MaxChargeAmount + 1, math.MaxInt64} {
			wantRefused(t, env, "/v1/transactions/"+charge.ID+"/refund", map[string]any{"amount": amount}, "amount must not be greater than 99999999")
		}
		if n := rowCount(t, env, "refunds"); n != 0 {
			t.Fatalf("refused refunds wrote %d rows", n)
		}

		open := env.Post("/v1/invoices", map[string]any{"customer": cus, "collection_method": "send_invoice",
			"items": []any{map[string]any{"price": f.price("USD", 2000, "exclusive"), "quantity": 1}}}).Want(t, 201).Map(t)
		for _, amount := range []int64{billing.MaxInvoiceTotal + 1, math.MaxInt64} {
			wantRefused(t, env, "/v1/invoices/"+open["id"].(string)+"/payments", map[string]any{"amount": amount}, "amount must not be greater than 99999999")
		}
		if n := rowCount(t, env, "invoice_external_payments"); n != 0 {
			t.Fatalf("refused payments wrote %d rows", n)
		}
	})
}

// Balance transactions written before the ceilings existed (the report's
// overflowed invoices) no longer break GET /balance: the sums cannot
// overflow on either engine, and figures beyond 2^53 are clamped there.
func TestBalanceSumsCannotOverflow(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		now := env.ScopeOf(env.AccountID).Now().Unix()
		insert := func(id string, net, availableOn int64, currency string) {
			t.Helper()
			if err := env.App.DB.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO balance_transactions (id, account_id, type, status, amount, fee,
					fee_details, net, currency, available_on, payment_method_id, source_type, created)
					VALUES ($1, $2, 'charge', 'succeeded', $3, 0, '[]', $3, $4, $5, 'pm_legacy', 'card', $6)`,
					id, env.AccountID, net, currency, availableOn, now)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 3; i++ {
			insert(fmt.Sprintf("txn_legacyavail%d", i), math.MaxInt64, now-day, "usd")
			insert(fmt.Sprintf("txn_legacypend%d", i), math.MaxInt64, now+day, "usd")
		}
		insert("txn_smalleur1", 1912, now-day, "eur")
		insert("txn_smalleur2", -100, now-day, "eur")
		insert("txn_smalleur3", 700, now+day, "eur")
		b := balanceOf(t, env)
		if got := b["usd"]; got[0] != billing.MaxSafeAmount || got[1] != billing.MaxSafeAmount || got[2] != billing.MaxSafeAmount {
			t.Errorf("usd balance %v, want clamped at %d", got, billing.MaxSafeAmount)
		}
		if got := b["eur"]; got[0] != 1812 || got[1] != 700 {
			t.Errorf("eur balance %v, want 1812 available, 700 pending", got)
		}
	})
}

// At most five tax rates per line; the sixth is refused naming the line's
// tax list, and nothing is written.
func TestTaxRatesPerLineLimit(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Taxed", "", "")
		price := f.price("USD", 1000, "exclusive")
		var rates []string
		for i := 0; i < 6; i++ {
			rates = append(rates, f.rate(fmt.Sprintf("Rate %d", i), "10", false))
		}
		for _, items := range [][]invItem{
			{{price, 1, rates}},
			{{price, 1, nil}, {price, 1, rates}},
		} {
			want := fmt.Sprintf("items[%d].tax must contain no more than 5 elements", len(items)-1)
			wantRefused(t, env, "/v1/invoices", f.body(cus, "charge_automatically", items...), want)
		}
		if n := rowCount(t, env, "invoices") + rowCount(t, env, "invoice_lines"); n != 0 {
			t.Fatalf("refused invoices wrote %d rows", n)
		}
		inv := f.create(cus, invItem{price, 1, rates[:5]})
		wantAmounts(t, inv, map[string]int64{"tax": 500, "total": 1500})
		if n := len(inv["total_tax_amounts"].([]any)); n != 5 {
			t.Fatalf("%d tax amounts, want 5", n)
		}
	})
}

// due_date lies between the invoice's creation and five years after it.
func TestDueDateRange(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Due", "due@example.com", "")
		price := f.price("USD", 1000, "exclusive")
		// The account's clock may tick during the test: an hour of margin.
		t0 := env.ScopeOf(env.AccountID).Now()
		in5y := t0.AddDate(5, 0, 0).Unix()
		body := func(due int64) map[string]any {
			b := f.body(cus, "send_invoice", invItem{price, 1, nil})
			b["due_date"] = due
			return b
		}
		for due, want := range map[int64]string{
			t0.Unix() - 1:    "due_date must not be before the invoice's creation",
			0:                "due_date must not be before the invoice's creation",
			-1:               "due_date must not be before the invoice's creation",
			in5y + 3600:      "due_date must not be more than 5 years after the invoice's creation",
			math.MaxInt64:    "due_date must not be more than 5 years after the invoice's creation", // the report
			253402300800:     "due_date must not be more than 5 years after the invoice's creation", // year 10000
			t0.Unix() + 1e10: "due_date must not be more than 5 years after the invoice's creation",
		} {
			wantRefused(t, env, "/v1/invoices", body(due), want)
		}
		if n := rowCount(t, env, "invoices"); n != 0 {
			t.Fatalf("refused invoices wrote %d rows", n)
		}
		for _, due := range []int64{t0.Unix() + 3600, in5y - 3600} {
			inv := env.Post("/v1/invoices", body(due)).Want(t, 201).Map(t)
			if num(inv["due_date"]) != due {
				t.Errorf("due_date %v, want %d", inv["due_date"], due)
			}
		}
	})
}
