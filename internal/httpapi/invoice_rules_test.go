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
