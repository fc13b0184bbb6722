package httpapi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// An invoice's chosen payment method may be detached after the invoice was
// made: paying it then charges the customer's default, and with no default
// the refusal says what to do; attaching a method makes it payable again.
func TestPayInvoiceWhoseMethodWasDetached(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		price := f.price("USD", 2500, "exclusive")
		withMethod := func(cus, pm string) string {
			t.Helper()
			body := f.body(cus, "charge_automatically", invItem{price, 1, nil})
			body["default_payment_method"] = pm
			return env.Post("/v1/invoices", body).Want(t, 201).Map(t)["id"].(string)
		}
		methods := func(inv string) []string {
			t.Helper()
			var page struct {
				Data []map[string]any `json:"data"`
			}
			env.Get("/v1/invoices/"+inv+"/payment-attempts").Want(t, 200).JSON(t, &page)
			var out []string
			for _, a := range page.Data {
				out = append(out, a["payment_method"].(string))
			}
			return out
		}

		cus := f.customer("Two Cards", "", "tok_visa")
		visa := env.Get("/v1/customers/"+cus).Want(t, 200).Map(t)["default_payment_method"].(string)
		mc := attach(t, env, "tok_mastercard", cus)["id"].(string)
		inv := withMethod(cus, mc)
		env.Post("/v1/payment-methods/"+mc+"/detach", nil).Want(t, 200)
		paid := env.Put("/v1/invoices/"+inv, nil).Want(t, 200).Map(t)
		if paid["status"] != "paid" || paid["default_payment_method"] != mc {
			t.Fatalf("paid after the detach: status %v default_payment_method %v", paid["status"], paid["default_payment_method"])
		}
		if got := methods(inv); len(got) != 1 || got[0] != visa {
			t.Fatalf("charged %v, want the default %s", got, visa)
		}

		// No default left either: a 400 that says how out, nothing charged.
		lone := f.customer("One Card", "", "tok_visa")
		only := env.Get("/v1/customers/"+lone).Want(t, 200).Map(t)["default_payment_method"].(string)
		inv = withMethod(lone, only)
		env.Post("/v1/payment-methods/"+only+"/detach", nil).Want(t, 200)
		res := env.Put("/v1/invoices/"+inv, nil).Want(t, 400)
		if res.Map(t)["error"] != "NO_PAYMENT_METHOD" || !strings.Contains(res.Message(t), "was detached") {
			t.Fatalf("pay with nothing to charge: %s", res.Body)
		}
		if got := env.Get("/v1/invoices/"+inv).Want(t, 200).Map(t); got["status"] != "draft" || len(methods(inv)) != 0 {
			t.Fatalf("refused pay changed the invoice: %v", got)
		}
		fresh := attach(t, env, "tok_visa", lone)["id"].(string)
		if got := env.Put("/v1/invoices/"+inv, nil).Want(t, 200).Map(t); got["status"] != "paid" {
			t.Fatalf("pay after attaching a new card: %v", got)
		}
		if got := methods(inv); len(got) != 1 || got[0] != fresh {
			t.Fatalf("charged %v, want the new default %s", got, fresh)
		}
	})
}

// pdfTextOf extracts a PDF's text layer with pdftotext -layout; it skips
// the test when pdftotext is missing, unless KASSA_REQUIRE_PDFTOTEXT=1.
func pdfTextOf(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("KASSA_REQUIRE_PDFTOTEXT") == "1" {
			t.Fatal("pdftotext is required (KASSA_REQUIRE_PDFTOTEXT=1) but missing")
		}
		t.Skip("pdftotext not installed")
	}
	path := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// The PDF of an invoice mixing tax-inclusive and tax-exclusive lines prints
// figures that add up: lines → Subtotal; Subtotal less the included tax →
// Total excluding tax; that plus each rate's row → Total.
func TestInvoicePDFMixedTaxAddsUp(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Mixed Tax", "mixed@example.com", "tok_visa")
		vat, sales := f.rate("VAT", "20", true), f.rate("Sales tax", "7.25", false)
		inv := f.create(cus, invItem{f.price("USD", 1999, "inclusive"), 2, []string{vat}},
			invItem{f.price("USD", 1999, "exclusive"), 2, []string{sales}})
		id := inv["id"].(string)
		// 3998 inclusive 20% → tax 666; 3998 exclusive 7.25% → tax 290.
		wantAmounts(t, inv, map[string]int64{"subtotal": 7996, "tax": 956, "total": 8286})
		text := pdfTextOf(t, env.Get("/v1/invoices/"+id+"/pdf").Want(t, 200).Body)

		row := regexp.MustCompile(`^\s+(\S.*?)\s{2,}\$([\d,]+\.\d\d)\s*$`)
		var labels []string
		got := map[string]int64{}
		for _, l := range strings.Split(text, "\n") {
			m := row.FindStringSubmatch(l)
			if m == nil || (len(labels) == 0 && m[1] != "Subtotal") {
				continue
			}
			v, err := strconv.ParseFloat(strings.ReplaceAll(m[2], ",", ""), 64)
			if err != nil {
				t.Fatal(err)
			}
			labels = append(labels, m[1])
			got[m[1]] = int64(v*100 + 0.5)
		}
		want := []string{"Subtotal", "Total excluding tax", "VAT 20% (included)", "Sales tax 7.25%", "Total", "Amount due"}
		if strings.Join(labels, "|") != strings.Join(want, "|") {
			t.Fatalf("totals rows %q, want %q:\n%s", labels, want, text)
		}
		if got["Subtotal"] != num(inv["subtotal"]) || got["Total"] != num(inv["total"]) ||
			got["Total excluding tax"] != num(inv["total_excluding_tax"]) {
			t.Errorf("printed totals %v, invoice %v", got, inv)
		}
		if got["Subtotal"]-got["VAT 20% (included)"] != got["Total excluding tax"] ||
			got["Total excluding tax"]+got["VAT 20% (included)"]+got["Sales tax 7.25%"] != got["Total"] {
			t.Errorf("printed totals do not add up: %v\n%s", got, text)
		}
	})
}
