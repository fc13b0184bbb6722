package httpapi_test

import (
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
)

// refusedNull sends each body and wants a 400 with its message, and no
// event recorded (nothing written).
func refusedNull(t *testing.T, env *apitest.Env, method, path string, cases map[string]string) {
	t.Helper()
	before := countEvents(t, env, env.AccountID, "")
	for body, want := range cases {
		res := env.Do(apitest.Request{Method: method, Path: path, Body: body})
		if res.Status != 400 || res.Message(t) != want {
			t.Errorf("%s %s %s: %d %s, want 400 %q", method, path, body, res.Status, res.Body, want)
		}
	}
	if n := countEvents(t, env, env.AccountID, ""); n != before {
		t.Errorf("%s %s: refused bodies recorded %d events", method, path, n-before)
	}
}

// The null rule on customers: in a PATCH, null clears an optional field
// (email was ignored), absent leaves it; the name and the two camelCase
// blocks are never null.
func TestCustomerNullRule(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		c := env.Post("/v1/customers", map[string]any{
			"name": "Nully", "email": "n@example.com", "description": "d", "phone": "+1 1", "currency": "EUR",
			"address":  []any{map[string]any{"line1": "1 Main St", "city": "Springfield"}},
			"shipping": map[string]any{"name": "N", "phone": "+1 2", "address": map[string]any{"line1": "2 Dock Rd", "city": "Shelbyville"}},
		}).Want(t, 201).Map(t)
		path := "/v1/customers/" + c["id"].(string)
		get := func() map[string]any { return env.Get(path).Want(t, 200).Map(t) }

		env.Patch(path, `{"billingAddress":{"email":"b@example.com"}}`).Want(t, 200)
		refusedNull(t, env, "PATCH", path, map[string]string{
			`{"name":null}`:                              "name must not be null",
			`{"billingAddress":null}`:                    "billingAddress must not be null",
			`{"shippingAddress":null}`:                   "shippingAddress must not be null",
			`{"shippingAddress":{"shippingPhone":null}}`: "shippingAddress.shippingPhone must not be null",
			`{"email":null,"name":null}`:                 "name must not be null",
		})
		if got := get(); got["email"] != "n@example.com" || got["name"] != "Nully" {
			t.Fatalf("refused PATCH changed the customer: %v", got)
		}

		// Absent leaves every field alone.
		env.Patch(path, `{"name":"Nully 2"}`).Want(t, 200)
		if got := get(); got["email"] != "n@example.com" || got["description"] != "d" || got["currency"] != "EUR" || got["shipping"] == nil {
			t.Fatalf("absent fields changed: %v", got)
		}

		env.Patch(path, `{"email":null}`).Want(t, 200)
		got := get()
		if got["email"] != nil || got["description"] != "d" {
			t.Fatalf("email null did not clear (only) it: %v", got)
		}
		if d := catEventData(t, env, "customer.updated"); d["email"] != nil {
			t.Fatalf("customer.updated still has the email: %v", d)
		}
		env.Patch(path, `{"description":null,"phone":null,"currency":null}`).Want(t, 200)
		if got := get(); got["description"] != nil || got["phone"] != nil || got["currency"] != "USD" {
			t.Fatalf("description, phone, currency: %v", got)
		}
		env.Patch(path, `{"billingAddress":{"address1":null,"email":null},"shippingAddress":{"shippingCity":null}}`).Want(t, 200)
		got = get()
		addr := got["address"].([]any)[0].(map[string]any)
		ship := got["shipping"].(map[string]any)["address"].(map[string]any)
		if addr["line1"] != nil || addr["city"] != "Springfield" || got["billing_email"] != nil || ship["city"] != nil || ship["line1"] != "2 Dock Rd" {
			t.Fatalf("block fields: %v", got)
		}
		env.Patch(path, `{"address":null,"shipping":null}`).Want(t, 200)
		if got := get(); len(got["address"].([]any)) != 0 || got["shipping"] != nil {
			t.Fatalf("address and shipping: %v", got)
		}
		// In a create, null is the same as absent.
		c2 := env.Post("/v1/customers", `{"name":"Fresh","email":null,"currency":null,"address":null,"shipping":null}`).Want(t, 201).Map(t)
		if c2["email"] != nil || c2["currency"] != "USD" || len(c2["address"].([]any)) != 0 || c2["shipping"] != nil {
			t.Fatalf("create with nulls: %v", c2)
		}
		refusedNull(t, env, "POST", "/v1/customers", map[string]string{
			`{"name":null}`:                 "name should not be empty",
			`{"name":"A","address":[null]}`: "address[0] must not be null",
		})
	})
}

// The null rule on the catalog: a product's or price's name and amounts are
// never null; optional fields are cleared by null in an update.
func TestCatalogNullRule(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		prod := env.Post("/v1/products", map[string]any{"name": "Nullable", "currency": "USD", "unit_amount": 500,
			"type": "one_time", "description": "Old"}).Want(t, 201).Map(t)
		pid := prod["id"].(string)
		refusedNull(t, env, "PATCH", "/v1/products/"+pid, map[string]string{
			`{"name":null}`:                     "name must not be null",
			`{"name":null,"description":"New"}`: "name must not be null",
		})
		refusedNull(t, env, "POST", "/v1/products", map[string]string{
			`{"name":"N","currency":"USD","unit_amount":null,"type":"one_time"}`: "unit_amount should not be empty",
			`{"name":"N","currency":null,"unit_amount":1,"type":"one_time"}`:     "currency should not be empty",
		})
		if got := env.Get("/v1/products/"+pid).Want(t, 200).Map(t); got["name"] != "Nullable" || got["description"] != "Old" {
			t.Fatalf("refused PATCH changed the product: %v", got)
		}

		// PATCH /prices/{id}/inactive replaces the terms; its description
		// follows the rule: absent stays, null clears.
		price := env.Post("/v1/prices/"+pid, map[string]any{"currency": "USD", "unit_amount": 700, "type": "one_time",
			"description": "Spare"}).Want(t, 201).Map(t)["id"].(string)
		env.Post("/v1/prices/"+price+"/deactivate", nil).Want(t, 200)
		path := "/v1/prices/" + price + "/inactive"
		terms := `"currency":"USD","unit_amount":800,"type":"one_time"`
		if got := env.Patch(path, `{`+terms+`}`).Want(t, 200).Map(t); got["description"] != "Spare" || got["unit_amount"] != float64(800) {
			t.Fatalf("absent description: %v", got)
		}
		refusedNull(t, env, "PATCH", path, map[string]string{
			`{"currency":"USD","unit_amount":null,"type":"one_time","description":null}`: "unit_amount should not be empty",
			`{"currency":"USD","unit_amount":900,"type":null}`:                           "type should not be empty",
		})
		if got := env.Patch(path, `{`+terms+`,"description":null,"tax_behavior":null}`).Want(t, 200).Map(t); got["description"] != nil || got["tax_behavior"] != "exclusive" {
			t.Fatalf("null description: %v", got)
		}
		// On an active price, only the description may change, and null clears it.
		def := prod["default_price"].(string)
		if got := env.Patch("/v1/prices/"+def+"/active", `{"description":null}`).Want(t, 200).Map(t); got["description"] != nil {
			t.Fatalf("active price description: %v", got)
		}
		if res := env.Patch("/v1/prices/"+def+"/active", `{"unit_amount":null}`).Want(t, 400).Map(t); res["error"] != "PRICE_ACTIVE" {
			t.Fatalf("active price amount null: %v", res)
		}
	})
}

// The null rule on tax rates: active is never null; a null display_name
// puts back the type's label, a null description clears it.
func TestTaxRateNullRule(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		refusedNull(t, env, "POST", "/v1/taxRates", map[string]string{
			`{"tax_type":"VAT","country":"DE","percentage":19,"inclusive":false,"active":null}`: "active must not be null",
			`{"tax_type":"VAT","country":"DE","percentage":19,"inclusive":null}`:                "inclusive should not be empty",
			`{"tax_type":"VAT","country":"DE","percentage":null,"inclusive":false}`:             "percentage should not be empty",
		})
		id := env.Post("/v1/taxRates", `{"tax_type":"VAT","display_name":"Mehrwertsteuer","description":"d","country":"DE","percentage":19,"inclusive":false}`).
			Want(t, 201).Map(t)["id"].(string)
		path := "/v1/taxRates/" + id
		refusedNull(t, env, "PATCH", path, map[string]string{
			`{"tax_type":"VAT","active":null}`:               "active must not be null",
			`{"tax_type":null}`:                              "tax_type should not be empty",
			`{"tax_type":"Custom","display_name":null}`:      "display_name should not be empty when tax_type is Custom",
			`{"tax_type":"VAT","percentage":null}`:           "percentage cannot change on a tax rate (invoices that used it must keep their meaning); create a new tax rate and archive this one with active: false",
			`{"tax_type":"VAT","description":null,"x":null}`: "property x should not exist",
		})
		if got := env.Patch(path, `{"tax_type":"VAT"}`).Want(t, 200).Map(t); got["display_name"] != "Mehrwertsteuer" || got["description"] != "d" || got["active"] != true {
			t.Fatalf("absent fields changed: %v", got)
		}
		if got := env.Patch(path, `{"tax_type":"VAT","display_name":null,"description":null}`).Want(t, 200).Map(t); got["display_name"] != "VAT" || got["description"] != nil {
			t.Fatalf("nulls: %v", got)
		}
		if got := env.Patch(path, `{"tax_type":"GST"}`).Want(t, 200).Map(t); got["display_name"] != "GST" {
			t.Fatalf("default label does not follow the type: %v", got)
		}
	})
}

// An amount is never null: a null refund amount is refused rather than read
// as "refund everything"; an absent one still is everything.
func TestAmountsAreNeverNull(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newInputFixture(t, env)
		path := "/v1/transactions/" + f.charge + "/refund"
		for body, want := range map[string]string{
			`{"amount":null}`:                      "amount must not be null",
			`{"amount":null,"reason":"duplicate"}`: "amount must not be null",
		} {
			if msg := env.Post(path, body).Want(t, 400).Message(t); msg != want {
				t.Errorf("%s: %q, want %q", body, msg, want)
			}
		}
		if n := rowCount(t, env, "refunds"); n != 0 {
			t.Fatalf("a refused refund was stored: %d", n)
		}
		if got := env.Get("/v1/transactions/"+f.charge).Want(t, 200).Map(t); num(got["amount_refunded"]) != 0 {
			t.Fatalf("charge refunded: %v", got)
		}
		if ref := env.Post(path, `{"amount":300,"reason":null}`).Want(t, 200).Map(t); num(ref["amount"]) != -300 || ref["refund_reason"] != nil {
			t.Fatalf("partial refund: %v", ref)
		}
		if ref := env.Post(path, `{}`).Want(t, 200).Map(t); num(ref["amount"]) != -700 {
			t.Fatalf("absent amount refunds the rest: %v", ref)
		}

		// Invoice quantities and recorded payments.
		inv := env.Post("/v1/invoices", map[string]any{"customer": f.customer, "collection_method": "send_invoice",
			"items": []any{map[string]any{"price": f.price, "quantity": 1}}}).Want(t, 201).Map(t)
		invoices := rowCount(t, env, "invoices")
		for body, want := range map[string]string{
			`{"customer":"` + f.customer + `","collection_method":"send_invoice","items":[{"price":"` + f.price + `","quantity":null}]}`: "items[0].quantity should not be empty",
			`{"customer":"` + f.customer + `","collection_method":"send_invoice","items":[{"price":null,"quantity":1}]}`:                 "items[0].price should not be empty",
			`{"customer":null,"collection_method":"send_invoice","items":[{"price":"` + f.price + `","quantity":1}]}`:                    "customer should not be empty",
		} {
			if msg := env.Post("/v1/invoices", body).Want(t, 400).Message(t); msg != want {
				t.Errorf("%s: %q, want %q", body, msg, want)
			}
		}
		if n := rowCount(t, env, "invoices"); n != invoices {
			t.Fatalf("refused invoices stored: %d → %d", invoices, n)
		}
		payPath := "/v1/invoices/" + inv["id"].(string) + "/payments"
		if msg := env.Post(payPath, `{"amount":null,"reference":"cash"}`).Want(t, 400).Message(t); msg != "amount should not be empty" {
			t.Errorf("external payment: %q", msg)
		}
		if got := env.Get("/v1/invoices/"+inv["id"].(string)).Want(t, 200).Map(t); num(got["amount_paid"]) != 0 {
			t.Fatalf("payment recorded: %v", got)
		}
		if got := env.Post(payPath, `{"amount":100,"reference":null}`).Want(t, 200).Map(t); num(got["amount_paid"]) != 100 {
			t.Fatalf("payment with null reference: %v", got)
		}
	})
}
