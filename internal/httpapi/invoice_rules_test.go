package httpapi_test

import (
	"strings"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
)

// An invoice with a recorded payment cannot be voided: the money would
// belong to nothing. Collecting the rest still works.
func TestInvoiceWithPaymentsCannotBeVoided(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Partial Payer", "", "")
		id := f.create(cus, invItem{f.price("USD", 2000, "exclusive"), 1, nil})["id"].(string)
		env.Post("/v1/invoices/"+id+"/finalize", nil).Want(t, 200)
		if got := env.Post("/v1/invoices/"+id+"/payments", map[string]any{"amount": 700}).Want(t, 200).Map(t); num(got["amount_paid"]) != 700 {
			t.Fatalf("partial payment: %v", got)
		}
		res := env.Delete("/v1/invoices/"+id).Want(t, 400)
		if res.Map(t)["error"] != "INVOICE_HAS_PAYMENTS" || !strings.Contains(res.Message(t), "$7.00 paid") {
			t.Fatalf("void with a payment: %s", res.Body)
		}
		got := env.Get("/v1/invoices/"+id).Want(t, 200).Map(t)
		if got["status"] != "open" || num(got["amount_paid"]) != 700 || got["status_transitions"].(map[string]any)["voided_at"] != nil {
			t.Fatalf("refused void changed the invoice: %v", got)
		}
		got = env.Post("/v1/invoices/"+id+"/payments", map[string]any{"amount": 1300}).Want(t, 200).Map(t)
		if got["status"] != "paid" || num(got["amount_remaining"]) != 0 {
			t.Fatalf("paying the rest: %v", got)
		}
		// Without payments an open invoice is still voided.
		other := f.create(cus, invItem{f.price("USD", 2000, "exclusive"), 1, nil})["id"].(string)
		env.Post("/v1/invoices/"+other+"/finalize", nil).Want(t, 200)
		if got := env.Delete("/v1/invoices/"+other).Want(t, 200).Map(t); got["status"] != "void" {
			t.Fatalf("void without payments: %v", got)
		}
	})
}

// An invoice copies its customer's details when it is finalized (or paid,
// which finalizes) and keeps them from then on; a draft shows them as they
// are now.
func TestInvoiceCustomerDetailsFrozenAtFinalization(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		price := f.price("USD", 1500, "exclusive")
		cus := f.customer("Old Name", "old@example.com", "tok_visa")
		draft := f.create(cus, invItem{price, 1, nil})["id"].(string)
		toPay := f.create(cus, invItem{price, 1, nil})["id"].(string)

		env.Patch("/v1/customers/"+cus, map[string]any{"name": "New Name", "email": "new@example.com", "phone": "+1 555 0100",
			"billingAddress": map[string]any{"address1": "1 Market St", "city": "San Francisco", "postalCode": "94103", "country": "US"}}).Want(t, 200)
		wantDetails := func(what string, inv map[string]any, name, email string) {
			t.Helper()
			addr, _ := inv["customer_address"].(map[string]any)
			if inv["customer_name"] != name || inv["customer_email"] != email || inv["customer_phone"] != "+1 555 0100" ||
				addr == nil || addr["line1"] != "1 Market St" || addr["city"] != "San Francisco" {
				t.Errorf("%s: name %v email %v phone %v address %v, want %s %s", what, inv["customer_name"], inv["customer_email"],
					inv["customer_phone"], inv["customer_address"], name, email)
			}
		}
		wantDetails("draft after the update", env.Get("/v1/invoices/"+draft).Want(t, 200).Map(t), "New Name", "new@example.com")
		var page struct {
			Data []map[string]any `json:"data"`
		}
		env.Get("/v1/invoices").Want(t, 200).JSON(t, &page)
		for _, inv := range page.Data {
			wantDetails("listed draft", inv, "New Name", "new@example.com")
		}

		wantDetails("finalized", env.Post("/v1/invoices/"+draft+"/finalize", nil).Want(t, 200).Map(t), "New Name", "new@example.com")
		wantDetails("paid", env.Put("/v1/invoices/"+toPay, nil).Want(t, 200).Map(t), "New Name", "new@example.com")

		// From finalization on the details stay as they were copied.
		env.Patch("/v1/customers/"+cus, map[string]any{"name": "Later Name", "email": "later@example.com"}).Want(t, 200)
		for _, id := range []string{draft, toPay} {
			wantDetails("after a later update", env.Get("/v1/invoices/"+id).Want(t, 200).Map(t), "New Name", "new@example.com")
		}
		env.Get("/v1/invoices").Want(t, 200).JSON(t, &page)
		for _, inv := range page.Data {
			wantDetails("listed after a later update", inv, "New Name", "new@example.com")
		}
		// A new draft follows the customer again.
		next := f.create(cus, invItem{price, 1, nil})
		if next["customer_name"] != "Later Name" || next["customer_email"] != "later@example.com" {
			t.Errorf("new draft: %v %v", next["customer_name"], next["customer_email"])
		}
	})
}
