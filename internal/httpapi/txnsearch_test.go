package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/payment"
)

// The status filter takes exactly what a transaction's status reports
// (succeeded, refunded). pending and available, which no transaction
// reports, are refused with 400 instead of silently matching nothing;
// funds' availability is filtered through available_on, as the balance
// splits it.
func TestTransactionStatusFilter(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		f := invFixture{t, env}
		cus := f.customer("Status", "status@example.com", "tok_visa")
		sc := env.ScopeOf(env.AccountID)
		if _, _, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: 1000, Currency: "usd", IdempotencyKey: "kept"}); err != nil {
			t.Fatal(err)
		}
		_, back, _, err := env.App.Payments.Charge(ctx, sc, payment.ChargeParams{CustomerID: cus, Amount: 2000, Currency: "usd", IdempotencyKey: "back"})
		if err != nil {
			t.Fatal(err)
		}
		env.Post("/v1/transactions/"+back.ID+"/refund", nil).Want(t, 200)
		inv := f.create(cus, invItem{f.price("USD", 3000, "exclusive"), 1, nil})
		env.Post("/v1/invoices/"+inv["id"].(string)+"/pay", nil).Want(t, 200)

		list := func(path, search string) txnPage {
			t.Helper()
			var page txnPage
			env.Get(path+"?take=50&search="+urlQuery(search)).Want(t, 200).JSON(t, &page)
			return page
		}
		for search, want := range map[string]int{
			`{"status":"succeeded"}`:                3, // kept, the refund, the invoice's charge
			`{"status":"refunded"}`:                 1,
			`{"status":"Succeeded,REFUNDED"}`:       4,
			`{"status":["refunded"]}`:               1,
			`{"status":"refunded","type":"refund"}`: 0,
		} {
			page := list("/v1/transactions", search)
			if page.Meta.ItemsTotal != want {
				t.Errorf("search %s: %d transactions, want %d", search, page.Meta.ItemsTotal, want)
			}
			for _, txn := range page.Data {
				if !strings.Contains(strings.ToLower(search), txn["status"].(string)) {
					t.Errorf("search %s returned a %v transaction", search, txn["status"])
				}
			}
		}
		if page := list("/v1/invoices/"+inv["id"].(string)+"/transactions", `{"status":"succeeded"}`); page.Meta.ItemsTotal != 1 {
			t.Errorf("invoice transactions by status: %d, want 1", page.Meta.ItemsTotal)
		}
		for _, path := range []string{"/v1/transactions", "/v1/invoices/" + inv["id"].(string) + "/transactions"} {
			for _, search := range []string{`{"status":"available"}`, `{"status":"pending"}`, `{"status":"PENDING"}`,
				`{"status":"failed"}`, `{"status":["succeeded","available"]}`, `{"status":"succeeded,pending"}`} {
				msg := env.Get(path+"?search="+urlQuery(search)).Want(t, 400).Message(t)
				if !strings.Contains(msg, "search.status must be a comma-separated list of succeeded, refunded") || !strings.Contains(msg, "available_on") {
					t.Errorf("%s search %s: %q", path, search, msg)
				}
			}
		}

		// What the refused values meant: pending funds are those whose
		// available_on is still ahead of the account's clock, as in the balance.
		now := env.ScopeOf(env.AccountID).Now().Unix()
		pending := list("/v1/transactions", fmt.Sprintf(`{"available_on[gt]":%d}`, now))
		available := list("/v1/transactions", fmt.Sprintf(`{"available_on[lte]":%d}`, now))
		var pendingNet, availableNet int64
		for _, txn := range pending.Data {
			pendingNet += num(txn["net"])
		}
		for _, txn := range available.Data {
			availableNet += num(txn["net"])
		}
		b := balanceOf(t, env)["usd"]
		if pending.Meta.ItemsTotal != 3 || available.Meta.ItemsTotal != 1 || b[0] != availableNet || b[1] != pendingNet {
			t.Errorf("pending %d (net %d), available %d (net %d); balance %v", pending.Meta.ItemsTotal, pendingNet,
				available.Meta.ItemsTotal, availableNet, b)
		}
	})
}
