package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/mail"
)

// invFixture creates, through the API, what invoices are built from.
type invFixture struct {
	t   *testing.T
	env *apitest.Env
}

func (f invFixture) customer(name, email, token string) string {
	f.t.Helper()
	body := map[string]any{"name": name}
	if email != "" {
		body["email"] = email
	}
	id := f.env.Post("/v1/customers", body).Want(f.t, 201).Map(f.t)["id"].(string)
	if token != "" {
		f.env.Post("/v1/payment-methods/"+token+"/attach", map[string]any{"customerId": id}).Want(f.t, 200)
	}
	return id
}

func (f invFixture) price(currency string, amount int64, behavior string) string {
	f.t.Helper()
	name := fmt.Sprintf("Product %s %d %s %d", currency, amount, behavior, len(f.env.Get("/v1/products?take=50").Map(f.t)["data"].([]any)))
	p := f.env.Post("/v1/products", map[string]any{"name": name, "currency": currency, "unit_amount": amount,
		"type": "one_time", "tax_behavior": behavior}).Want(f.t, 201).Map(f.t)
	return p["default_price"].(string)
}

func (f invFixture) recurringPrice(amount int64) string {
	f.t.Helper()
	p := f.env.Post("/v1/products", map[string]any{"name": fmt.Sprintf("Plan %d", amount), "currency": "USD", "unit_amount": amount,
		"type": "recurring", "recurring": map[string]any{"interval": "month", "interval_count": 1}, "tax_behavior": "exclusive"}).Want(f.t, 201).Map(f.t)
	return p["default_price"].(string)
}

func (f invFixture) rate(name, pct string, inclusive bool) string {
	f.t.Helper()
	body := fmt.Sprintf(`{"tax_type":"Custom","display_name":%q,"country":"US","percentage":%s,"inclusive":%t}`, name, pct, inclusive)
	return f.env.Post("/v1/taxRates", body).Want(f.t, 201).Map(f.t)["id"].(string)
}

type invItem struct {
	price string
	qty   int64
	tax   []string
}

func (f invFixture) body(customer, method string, items ...invItem) map[string]any {
	var list []any
	for _, it := range items {
		m := map[string]any{"price": it.price, "quantity": it.qty}
		if it.tax != nil {
			m["tax"] = it.tax
		}
		list = append(list, m)
	}
	return map[string]any{"customer": customer, "collection_method": method, "items": list}
}

func (f invFixture) create(customer string, items ...invItem) map[string]any {
	f.t.Helper()
	return f.env.Post("/v1/invoices", f.body(customer, "charge_automatically", items...)).Want(f.t, 201).Map(f.t)
}

func wantAmounts(t *testing.T, inv map[string]any, want map[string]int64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got := num(inv[k]); got != want[k] {
			t.Errorf("%s = %d, want %d", k, got, want[k])
		}
	}
}

func TestInvoiceTotals(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Totals", "", "")

		// 1000 exclusive 7.25% → 72.5 rounds half up to 73.
		r725 := f.rate("Sales tax", "7.25", false)
		inv := f.create(cus, invItem{f.price("USD", 1000, "exclusive"), 1, []string{r725}})
		wantAmounts(t, inv, map[string]int64{"subtotal": 1000, "subtotal_excluding_tax": 1000, "tax": 73, "total": 1073,
			"total_excluding_tax": 1000, "amount_due": 1073, "amount_paid": 0, "amount_remaining": 1073})
		tt := inv["total_taxes"].(map[string]any)
		if tt["tax_rate"] != r725 || num(tt["amount"]) != 73 || num(tt["taxable_amount"]) != 1000 || tt["tax_behavior"] != "exclusive" {
			t.Errorf("total_taxes %v", tt)
		}
		if inv["status"] != "draft" || inv["number"] != nil || inv["billing_reason"] != "manual" {
			t.Errorf("new invoice: status %v number %v reason %v", inv["status"], inv["number"], inv["billing_reason"])
		}

		// 1000 inclusive 10% → net 909, tax 91; the customer pays 1000.
		r10i := f.rate("VAT", "10", true)
		inv = f.create(cus, invItem{f.price("USD", 1000, "inclusive"), 1, []string{r10i}})
		wantAmounts(t, inv, map[string]int64{"subtotal": 1000, "subtotal_excluding_tax": 909, "tax": 91, "total": 1000, "amount_due": 1000})
		if tt := inv["total_taxes"].(map[string]any); num(tt["taxable_amount"]) != 909 || tt["tax_behavior"] != "inclusive" {
			t.Errorf("inclusive total_taxes %v", tt)
		}

		// 3 × 333 exclusive 8.875%: rounded per line (29.55… → 30 each), so
		// three lines tax 90 while one line of quantity 3 (999 → 88.66…) taxes 89.
		r8875 := f.rate("NYC", "8.875", false)
		p333 := f.price("USD", 333, "exclusive")
		one := invItem{p333, 1, []string{r8875}}
		inv = f.create(cus, one, one, one)
		wantAmounts(t, inv, map[string]int64{"subtotal": 999, "tax": 90, "total": 1089})
		for _, l := range inv["lines"].([]any) {
			if num(l.(map[string]any)["tax"]) != 30 {
				t.Errorf("line %v", l)
			}
		}
		inv = f.create(cus, invItem{p333, 3, []string{r8875}})
		wantAmounts(t, inv, map[string]int64{"subtotal": 999, "tax": 89, "total": 1088})

		// A zero-decimal currency: JPY 1000 at 10% inclusive → 91.
		inv = f.create(cus, invItem{f.price("JPY", 1000, "inclusive"), 1, []string{r10i}})
		wantAmounts(t, inv, map[string]int64{"subtotal": 1000, "subtotal_excluding_tax": 909, "tax": 91, "total": 1000})
		if inv["currency"] != "JPY" {
			t.Errorf("currency %v", inv["currency"])
		}

		// Several lines, quantity > 1, two rates on each line (state + county).
		state, county := f.rate("State", "6.25", false), f.rate("County", "1.5", false)
		both := []string{state, county}
		inv = f.create(cus, invItem{f.price("USD", 2500, "exclusive"), 3, both}, invItem{f.price("USD", 999, "exclusive"), 1, both})
		// Line 1: 7500 → 468.75 → 469 and 112.5 → 113. Line 2: 999 → 62.44 → 62 and 14.99 → 15.
		wantAmounts(t, inv, map[string]int64{"subtotal": 8499, "subtotal_excluding_tax": 8499, "tax": 659, "total": 9158, "amount_due": 9158})
		if inv["total_taxes"] != nil {
			t.Errorf("total_taxes with two rates: %v", inv["total_taxes"])
		}
		amounts := inv["total_tax_amounts"].([]any)
		if len(amounts) != 2 || num(amounts[0].(map[string]any)["amount"]) != 531 || num(amounts[1].(map[string]any)["amount"]) != 128 ||
			num(amounts[0].(map[string]any)["taxable_amount"]) != 8499 {
			t.Errorf("total_tax_amounts %v", amounts)
		}
		lines := inv["lines"].([]any)
		l0 := lines[0].(map[string]any)
		if num(l0["quantity"]) != 3 || num(l0["unit_amount"]) != 2500 || num(l0["amount"]) != 7500 || num(l0["tax"]) != 582 {
			t.Errorf("line 0 %v", l0)
		}
		// Every total is the exact sum of its lines.
		var sumAmount, sumTax int64
		for _, l := range lines {
			sumAmount += num(l.(map[string]any)["amount"])
			sumTax += num(l.(map[string]any)["tax"])
		}
		if sumAmount != num(inv["subtotal"]) || sumTax != num(inv["tax"]) {
			t.Errorf("lines sum to %d + %d, invoice says %v + %v", sumAmount, sumTax, inv["subtotal"], inv["tax"])
		}
		// Read back as stored.
		got := env.Get("/v1/invoices/"+inv["id"].(string)).Want(t, 200).Map(t)
		wantAmounts(t, got, map[string]int64{"subtotal": 8499, "tax": 659, "total": 9158})
	})
}

func TestInvoiceBadInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Bad", "", "tok_visa")
		other := f.customer("Other", "", "tok_visa")
		otherPM := env.Get("/v1/customers/" + other).Map(t)["default_payment_method"].(string)
		usd := f.price("USD", 1000, "exclusive")
		eur := f.price("EUR", 1000, "exclusive")
		incl := f.rate("VAT", "20", true)
		excl := f.rate("Sales", "5", false)
		inactive := f.price("USD", 500, "exclusive")
		env.Post("/v1/prices/"+inactive+"/deactivate", nil).Want(t, 200)
		item := func(p string) []any { return []any{map[string]any{"price": p, "quantity": 1}} }
		cases := []struct {
			body   any
			status int
			want   string
		}{
			{map[string]any{"customer": cus, "items": item(usd)}, 400, "collection_method should not be empty"},
			{map[string]any{"customer": cus, "collection_method": "cash", "items": item(usd)}, 400, "collection_method must be one of"},
			{map[string]any{"collection_method": "send_invoice", "items": item(usd)}, 400, "customer should not be empty"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice"}, 400, "items should not be empty"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{}}, 400, "items must contain at least 1 element"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{map[string]any{"price": usd}}}, 400, "items[0].quantity should not be empty"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{map[string]any{"price": usd, "quantity": 0}}}, 400, "items[0].quantity must not be less than 1"},
			{`{"customer":"` + cus + `","collection_method":"send_invoice","items":[{"price":"` + usd + `","quantity":1.5}]}`, 400, "items[0].quantity must be an integer number"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": item(usd), "extra": 1}, 400, "property extra should not exist"},
			{map[string]any{"customer": "cus_nope", "collection_method": "send_invoice", "items": item(usd)}, 404, "Customer cus_nope not found"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": item("price_nope")}, 404, "price_nope"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": item("Price 1")}, 400, "items[0].price must match /^[a-z]+_[a-zA-Z0-9]+$/ regular expression"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": item(inactive)}, 400, "inactive"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{map[string]any{"price": usd, "quantity": 1}, map[string]any{"price": eur, "quantity": 1}}}, 400, "share one currency"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{map[string]any{"price": usd, "quantity": 1, "tax": []string{incl}}}}, 400, "must agree on inclusive or exclusive"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{map[string]any{"price": usd, "quantity": 1, "tax": []string{"txr_nope"}}}}, 404, "txr_nope"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": []any{map[string]any{"price": usd, "quantity": 1, "tax": []string{excl, excl}}}}, 400, "twice"},
			{map[string]any{"customer": cus, "collection_method": "charge_automatically", "items": item(usd), "due_date": 4102444800}, 400, "due_date can only be set"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": item(usd), "due_date": 1000}, 400, "due_date must not be before the invoice's creation"},
			{map[string]any{"customer": cus, "collection_method": "send_invoice", "items": item(usd), "default_payment_method": otherPM}, 400, "default_payment_method can only be set"},
			{map[string]any{"customer": cus, "collection_method": "charge_automatically", "items": item(usd), "default_payment_method": otherPM}, 404, "not found"},
		}
		for i, c := range cases {
			res := env.Post("/v1/invoices", c.body)
			if res.Status != c.status || !strings.Contains(res.Message(t), c.want) {
				t.Errorf("case %d: %d %s, want %d containing %q", i, res.Status, res.Body, c.status, c.want)
			}
		}
		if n := rowCount(t, env, "invoices"); n != 0 {
			t.Fatalf("refused requests wrote %d invoices", n)
		}
		if n := countEvents(t, env, env.AccountID, "invoice.created"); n != 0 {
			t.Fatalf("refused requests wrote %d events", n)
		}
		env.Get("/v1/invoices/00000000-0000-4000-8000-000000000000").Want(t, 404)
		env.Get("/v1/invoices/not-a-uuid").Want(t, 404)
		for _, q := range []string{"take=0", "take=51", "search=%7Bbad", "search=" + urlQuery(`{"status":"late"}`)} {
			env.Get("/v1/invoices?"+q).Want(t, 400)
		}
	})
}

func TestInvoicePayDeclineVoid(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		visa := f.customer("Visa", "visa@example.com", "tok_visa")
		price := f.price("USD", 2000, "exclusive")
		inv := f.create(visa, invItem{price, 1, nil})
		id := inv["id"].(string)
		before := balanceOf(t, env)

		paid := env.Put("/v1/invoices/"+id, nil).Want(t, 200).Map(t)
		if paid["status"] != "paid" || paid["paid"] != true || num(paid["amount_paid"]) != 2000 || num(paid["amount_remaining"]) != 0 ||
			num(paid["attempt_count"]) != 1 || paid["attempted"] != true || paid["number"] != "INV-0001" {
			t.Fatalf("paid invoice %v", paid)
		}
		st := paid["status_transitions"].(map[string]any)
		if st["finalized_at"] == nil || st["paid_at"] == nil || st["voided_at"] != nil {
			t.Fatalf("status_transitions %v", st)
		}
		after := balanceOf(t, env)
		// 2000 card charge: fee 2.9% + 30 = 88, net 1912, pending for 2 days.
		if after["usd"][1]-before["usd"][1] != 1912 {
			t.Fatalf("pending balance moved by %d, want 1912 (%v → %v)", after["usd"][1]-before["usd"][1], before, after)
		}
		var txns struct {
			Data []map[string]any `json:"data"`
		}
		env.Get("/v1/invoices/"+id+"/transactions").Want(t, 200).JSON(t, &txns)
		if len(txns.Data) != 1 || num(txns.Data[0]["amount"]) != 2000 || num(txns.Data[0]["fee"]) != 88 || txns.Data[0]["invoice"] != id {
			t.Fatalf("invoice transactions %v", txns.Data)
		}
		env.Get("/v1/invoices/"+id+"/transactions/"+txns.Data[0]["id"].(string)).Want(t, 200)
		env.Get("/v1/invoices/"+id+"/transactions/txn_nope").Want(t, 404)

		// A paid invoice can be neither paid nor voided again.
		if res := env.Put("/v1/invoices/"+id, nil).Want(t, 400); res.Map(t)["error"] != "INVOICE_ALREADY_PAID" {
			t.Fatalf("pay twice: %s", res.Body)
		}
		env.Delete("/v1/invoices/"+id).Want(t, 400)
		env.Post("/v1/invoices/"+id+"/pay", nil).Want(t, 400)

		// Declined: 402 with the code, the invoice stays open.
		declined := f.customer("Declined", "", "tok_chargeDeclined")
		inv = f.create(declined, invItem{price, 1, nil})
		id2 := inv["id"].(string)
		res := env.Put("/v1/invoices/"+id2, nil).Want(t, 402).Map(t)
		if res["error"] != "PAYMENT_DECLINED" || res["decline_code"] != "card_declined" || res["message"] != "Your card was declined." {
			t.Fatalf("402 body %v", res)
		}
		got := env.Get("/v1/invoices/"+id2).Want(t, 200).Map(t)
		if got["status"] != "open" || num(got["attempt_count"]) != 1 || got["number"] != "INV-0002" || num(got["amount_paid"]) != 0 {
			t.Fatalf("declined invoice %v", got)
		}
		res = env.Post("/v1/invoices/"+id2+"/pay", nil).Want(t, 402).Map(t)
		var attempts struct {
			Data []map[string]any `json:"data"`
			Meta struct{ ItemsTotal int }
		}
		env.Get("/v1/invoices/"+id2+"/payment-attempts").Want(t, 200).JSON(t, &attempts)
		if attempts.Meta.ItemsTotal != 2 || attempts.Data[0]["status"] != "declined" || attempts.Data[0]["decline_code"] != "card_declined" ||
			num(attempts.Data[1]["amount"]) != 2000 {
			t.Fatalf("payment attempts %+v", attempts)
		}
		if got := env.Get("/v1/invoices/" + id2).Map(t); num(got["attempt_count"]) != 2 {
			t.Fatalf("second attempt: attempt_count %v", got["attempt_count"])
		}

		// Voiding an open invoice: it can no longer be paid.
		voided := env.Delete("/v1/invoices/"+id2).Want(t, 200).Map(t)
		if voided["status"] != "void" || voided["status_transitions"].(map[string]any)["voided_at"] == nil {
			t.Fatalf("voided %v", voided)
		}
		if res := env.Put("/v1/invoices/"+id2, nil).Want(t, 400); res.Map(t)["error"] != "INVOICE_VOID" {
			t.Fatalf("pay void: %s", res.Body)
		}
		env.Delete("/v1/invoices/"+id2).Want(t, 400)

		// No payment method: refused before any charge, the draft stays a draft.
		none := f.customer("No card", "", "")
		inv = f.create(none, invItem{price, 1, nil})
		env.Put("/v1/invoices/"+inv["id"].(string), nil).Want(t, 400)
		if got := env.Get("/v1/invoices/" + inv["id"].(string)).Map(t); got["status"] != "draft" || got["number"] != nil {
			t.Fatalf("refused pay changed the draft: %v", got)
		}

		for typ, want := range map[string]int{"invoice.created": 3, "invoice.finalized": 2, "invoice.payment_succeeded": 1, "invoice.payment_failed": 2} {
			if n := countEvents(t, env, env.AccountID, typ); n != want {
				t.Errorf("%s events: %d, want %d", typ, n, want)
			}
		}
	})
}

func TestSendInvoiceFinalizesAndEmails(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Mailed", "mailed@example.com", "")
		body := f.body(cus, "send_invoice", invItem{f.price("USD", 1500, "exclusive"), 2, nil})
		body["memo"] = "Thanks for your order"
		inv := env.Post("/v1/invoices", body).Want(t, 201).Map(t)
		if inv["status"] != "open" || inv["number"] != "INV-0001" || inv["due_date"] == nil || inv["collection_method"] != "send_invoice" {
			t.Fatalf("send_invoice %v", inv)
		}
		msgs, err := mail.List(context.Background(), env.App.DB.Read(), env.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].To != "mailed@example.com" || !strings.Contains(msgs[0].Subject, "INV-0001") ||
			!strings.Contains(msgs[0].Body, "$30.00") || !strings.Contains(msgs[0].Body, "/checkout/"+inv["id"].(string)) {
			t.Fatalf("emails %+v", msgs)
		}
		for _, typ := range []string{"invoice.created", "invoice.finalized", "invoice.sent"} {
			if countEvents(t, env, env.AccountID, typ) != 1 {
				t.Errorf("no %s event", typ)
			}
		}
		// The delivery worker runs on the clock advance; without a mail server it skips.
		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 60}).Want(t, 200)
		msgs, _ = mail.List(context.Background(), env.App.DB.Read(), env.AccountID)
		if msgs[0].Status != "skipped" {
			t.Fatalf("email status %s", msgs[0].Status)
		}
		// Partial external payments, then the rest.
		id := inv["id"].(string)
		part := env.Post("/v1/invoices/"+id+"/payments", map[string]any{"amount": 1000, "reference": "wire 42"}).Want(t, 200).Map(t)
		if part["status"] != "open" || num(part["amount_paid"]) != 1000 || num(part["amount_remaining"]) != 2000 {
			t.Fatalf("partial %v", part)
		}
		env.Post("/v1/invoices/"+id+"/payments", map[string]any{"amount": 2001}).Want(t, 400)
		env.Post("/v1/invoices/"+id+"/payments", map[string]any{"amount": 0}).Want(t, 400)
		full := env.Post("/v1/invoices/"+id+"/payments", map[string]any{"amount": 2000}).Want(t, 200).Map(t)
		if full["status"] != "paid" || num(full["amount_remaining"]) != 0 {
			t.Fatalf("full %v", full)
		}
	})
}

func TestInvoiceFinalizeWriteOffAndLists(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Lists", "", "tok_chargeDeclined")
		price := f.price("USD", 700, "exclusive")
		a := f.create(cus, invItem{price, 1, nil})["id"].(string)
		b := f.create(cus, invItem{price, 2, nil})["id"].(string)
		env.Post("/v1/invoices/"+a+"/write-off", nil).Want(t, 400) // drafts cannot be written off
		fin := env.Post("/v1/invoices/"+a+"/finalize", nil).Want(t, 200).Map(t)
		if fin["status"] != "open" || fin["number"] != "INV-0001" {
			t.Fatalf("finalized %v", fin)
		}
		env.Post("/v1/invoices/"+a+"/finalize", nil).Want(t, 400)
		wo := env.Post("/v1/invoices/"+a+"/write-off", nil).Want(t, 200).Map(t)
		if wo["written_off_at"] == nil || wo["status"] != "open" {
			t.Fatalf("written off %v", wo)
		}
		un := env.Post("/v1/invoices/"+a+"/mark-uncollectible", nil).Want(t, 200).Map(t)
		if un["marked_uncollectible_at"] == nil {
			t.Fatalf("uncollectible %v", un)
		}
		// A new attempt clears the written-off label.
		env.Put("/v1/invoices/"+a, nil).Want(t, 402)
		if got := env.Get("/v1/invoices/" + a).Map(t); got["written_off_at"] != nil {
			t.Fatalf("write-off survived a new attempt: %v", got["written_off_at"])
		}
		var page struct {
			Data []map[string]any `json:"data"`
			Meta struct{ ItemsTotal int }
		}
		env.Get("/v1/invoices?search="+urlQuery(`{"status":"draft"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 1 || page.Data[0]["id"] != b {
			t.Fatalf("draft filter %+v", page)
		}
		env.Get("/v1/invoices?search="+urlQuery(`{"status":"open,draft","customer":"`+cus+`"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 2 || page.Data[0]["id"] != b { // newest first
			t.Fatalf("list %+v", page)
		}
		env.Get("/v1/invoices?search="+urlQuery(`{"total[gte]":1000}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 1 || page.Data[0]["id"] != b {
			t.Fatalf("total filter %+v", page)
		}
		// A price on an open invoice cannot be deleted.
		env.Delete("/v1/prices/"+price).Want(t, 400)

		// Another account sees none of it.
		_, keyB := env.NewAccount("B")
		env.Do(apitest.Request{Method: "GET", Path: "/v1/invoices/" + a, Key: keyB}).Want(t, 404)
		env.Do(apitest.Request{Method: "PUT", Path: "/v1/invoices/" + a, Key: keyB}).Want(t, 404)
		env.Do(apitest.Request{Method: "DELETE", Path: "/v1/invoices/" + a, Key: keyB}).Want(t, 404)
		env.Do(apitest.Request{Method: "GET", Path: "/v1/invoices/" + a + "/pdf", Key: keyB}).Want(t, 404)
		res := env.Do(apitest.Request{Method: "GET", Path: "/v1/invoices", Key: keyB}).Want(t, 200)
		if strings.Contains(string(res.Body), a) {
			t.Fatal("B lists A's invoice")
		}
		res = env.Do(apitest.Request{Method: "POST", Path: "/v1/invoices", Key: keyB, Body: f.body(cus, "charge_automatically", invItem{price, 1, nil})})
		if res.Status != 404 {
			t.Fatalf("B invoicing A's customer: %d %s", res.Status, res.Body)
		}
	})
}

func TestConcurrentFinalizationNumbers(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Numbers", "", "")
		price := f.price("USD", 100, "exclusive")
		const n = 100
		ids := make([]string, n)
		for i := range ids {
			ids[i] = f.create(cus, invItem{price, 1, nil})["id"].(string)
		}
		numbers := make(chan string, n)
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				res := env.Post("/v1/invoices/"+id+"/finalize", nil)
				if res.Status != 200 {
					t.Errorf("finalize %s: %d %s", id, res.Status, res.Body)
					return
				}
				numbers <- res.Map(t)["number"].(string)
			}(id)
		}
		wg.Wait()
		close(numbers)
		seen := map[string]bool{}
		for num := range numbers {
			seen[num] = true
		}
		for i := 1; i <= n; i++ {
			if want := fmt.Sprintf("INV-%04d", i); !seen[want] {
				t.Errorf("number %s missing", want)
			}
		}
		if len(seen) != n {
			t.Fatalf("%d distinct numbers, want %d", len(seen), n)
		}
	})
}

func TestConcurrentPayChargesOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Once", "", "tok_visa")
		id := f.create(cus, invItem{f.price("USD", 5000, "exclusive"), 1, nil})["id"].(string)
		const n = 12
		var wg sync.WaitGroup
		codes := make(chan int, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- env.Put("/v1/invoices/"+id, nil).Status
			}()
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			switch c {
			case 200:
				ok++
			case 400, 409: // already paid, or a payment in progress
			default:
				t.Errorf("concurrent pay answered %d", c)
			}
		}
		if ok != 1 {
			t.Fatalf("%d payments succeeded, want 1", ok)
		}
		if n := rowCount(t, env, "payment_attempts"); n != 1 {
			t.Fatalf("%d charge attempts, want 1", n)
		}
		if n := rowCount(t, env, "balance_transactions"); n != 1 {
			t.Fatalf("%d transactions, want 1", n)
		}
		if got := env.Get("/v1/invoices/" + id).Map(t); got["status"] != "paid" || num(got["amount_paid"]) != 5000 {
			t.Fatalf("invoice %v", got)
		}
	})
}

func TestUnconfirmedPaymentIsReconciled(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Flaky", "", "tok_processingError")
		id := f.create(cus, invItem{f.price("USD", 1200, "exclusive"), 1, nil})["id"].(string)
		res := env.Put("/v1/invoices/"+id, nil).Want(t, 502).Map(t)
		if res["error"] != "PAYMENT_UNCONFIRMED" {
			t.Fatalf("502 body %v", res)
		}
		// While the outcome is unknown, no second charge and no void.
		env.Put("/v1/invoices/"+id, nil).Want(t, 409)
		env.Delete("/v1/invoices/"+id).Want(t, 409)
		// The reconciler asks the gateway: the processor never took the money.
		env.Post("/v1/test-clock/advance", map[string]any{"seconds": 3600}).Want(t, 200)
		got := env.Get("/v1/invoices/"+id).Want(t, 200).Map(t)
		if got["status"] != "open" || num(got["amount_paid"]) != 0 {
			t.Fatalf("after reconciliation %v", got)
		}
		if countEvents(t, env, env.AccountID, "invoice.payment_failed") != 1 {
			t.Fatal("no invoice.payment_failed after reconciliation")
		}
		env.Delete("/v1/invoices/"+id).Want(t, 200)
	})
}

func TestInvoicePDF(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Ada Lovelace", "ada@example.com", "tok_visa")
		state, county := f.rate("State tax", "6.25", false), f.rate("County tax", "1.5", false)
		inv := f.create(cus, invItem{f.price("USD", 2500, "exclusive"), 3, []string{state, county}},
			invItem{f.price("USD", 999, "exclusive"), 1, []string{state}})
		id := inv["id"].(string)
		env.Put("/v1/invoices/"+id, nil).Want(t, 200)
		res := env.Get("/v1/invoices/"+id+"/pdf").Want(t, 200)
		if res.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(res.Body), "%PDF-") {
			t.Fatalf("not a PDF: %s %.20q", res.Header.Get("Content-Type"), res.Body)
		}
		if _, err := exec.LookPath("pdftotext"); err != nil {
			if os.Getenv("KASSA_REQUIRE_PDFTOTEXT") == "1" {
				t.Fatal("pdftotext is required (KASSA_REQUIRE_PDFTOTEXT=1) but missing")
			}
			t.Skip("pdftotext not installed")
		}
		path := filepath.Join(t.TempDir(), "invoice.pdf")
		if err := os.WriteFile(path, res.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext: %v", err)
		}
		text := string(out)
		// 7500 + 999 = 8499; state 469 + 62, county 113; total 9143.
		for _, want := range []string{"INV-0001", "Ada Lovelace", "Default account", "$25.00", "$75.00", "$9.99",
			"State tax 6.25%", "County tax 1.5%", "$5.31", "$1.13", "$84.99", "$91.43", "PAID"} {
			if !strings.Contains(text, want) {
				t.Errorf("PDF text lacks %q:\n%s", want, text)
			}
		}
	})
}

// Operations that take no body refuse one with properties (like any
// unknown property) and change nothing; an empty body or {} is fine.
func TestInvoiceActionsRefuseUnknownBodies(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Bodies", "", "tok_visa")
		price := f.price("USD", 1200, "exclusive")
		id := f.create(cus, invItem{price, 1, nil})["id"].(string)
		for _, c := range []struct{ method, path, body, want string }{
			{"PUT", "/v1/invoices/" + id, `{"amount":1200}`, "property amount should not exist"},
			{"POST", "/v1/invoices/" + id + "/pay", `{"payment_method":"pm_x"}`, "property payment_method should not exist"},
			{"POST", "/v1/invoices/" + id + "/finalize", `{"auto_advance":true}`, "property auto_advance should not exist"},
			{"DELETE", "/v1/invoices/" + id, `{"reason":"x"}`, "property reason should not exist"},
			{"PUT", "/v1/invoices/" + id, `[1]`, "request body must be a JSON object"},
		} {
			res := env.Do(apitest.Request{Method: c.method, Path: c.path, Body: c.body}).Want(t, 400)
			if msg := res.Message(t); msg != c.want {
				t.Errorf("%s %s %s: %q, want %q", c.method, c.path, c.body, msg, c.want)
			}
		}
		res := env.Post("/v1/invoices", `{"customer":"`+cus+`","collection_method":"charge_automatically","items":[{"price":"`+price+`","Quantity":1}]}`)
		if res.Want(t, 400).Message(t) != "items[0].property Quantity should not exist" {
			t.Errorf("mis-cased item field: %s", res.Body)
		}
		if got := env.Get("/v1/invoices/" + id).Map(t); got["status"] != "draft" || got["number"] != nil || num(got["attempt_count"]) != 0 {
			t.Fatalf("refused requests changed the invoice: %v", got)
		}
		if n := rowCount(t, env, "payment_attempts"); n != 0 {
			t.Fatalf("refused requests made %d charge attempts", n)
		}
		env.Put("/v1/invoices/"+id, "{}").Want(t, 200)
		var page struct {
			Meta struct{ ItemsTotal int } `json:"meta"`
		}
		// Status values are matched whatever their case.
		env.Get("/v1/invoices?search="+urlQuery(`{"status":"PAID"}`)).Want(t, 200).JSON(t, &page)
		if page.Meta.ItemsTotal != 1 {
			t.Fatalf("status PAID: %d invoices", page.Meta.ItemsTotal)
		}
	})
}

// The invoices of a deleted customer stay readable, but there is nobody to
// charge: paying one is a 400, not a 404 for an invoice that exists.
func TestPayInvoiceOfDeletedCustomer(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Gone", "gone@example.com", "tok_visa")
		id := f.create(cus, invItem{f.price("USD", 900, "exclusive"), 1, nil})["id"].(string)
		env.Delete("/v1/customers/"+cus).Want(t, 200)
		res := env.Put("/v1/invoices/"+id, nil).Want(t, 400).Map(t)
		if res["error"] != "CUSTOMER_DELETED" {
			t.Fatalf("pay: %v", res)
		}
		got := env.Get("/v1/invoices/"+id).Want(t, 200).Map(t)
		if got["status"] != "draft" || got["number"] != nil || got["customer"] != cus {
			t.Fatalf("invoice after the refused payment: %v", got)
		}
		if n := rowCount(t, env, "payment_attempts"); n != 0 {
			t.Fatalf("%d charge attempts", n)
		}
		env.Delete("/v1/invoices/"+id).Want(t, 200)
	})
}

// Nothing due: finalizing pays the invoice, so paid, status paid and a zero
// amount_remaining always go together, and nobody is emailed for $0.00.
func TestZeroInvoiceIsPaidWhenFinalized(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Freebie", "free@example.com", "")
		free := f.price("USD", 0, "exclusive")
		sent := env.Post("/v1/invoices", f.body(cus, "send_invoice", invItem{free, 2, nil})).Want(t, 201).Map(t)
		draft := f.create(cus, invItem{free, 1, nil})
		fin := env.Post("/v1/invoices/"+draft["id"].(string)+"/finalize", nil).Want(t, 200).Map(t)
		for _, inv := range []map[string]any{sent, fin} {
			st := inv["status_transitions"].(map[string]any)
			if inv["status"] != "paid" || inv["paid"] != true || num(inv["amount_remaining"]) != 0 || inv["number"] == nil ||
				st["finalized_at"] == nil || st["paid_at"] == nil {
				t.Fatalf("zero invoice %v", inv)
			}
		}
		msgs, err := mail.List(context.Background(), env.App.DB.Read(), env.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 0 {
			t.Fatalf("emails for a zero invoice: %+v", msgs)
		}
		for typ, want := range map[string]int{"invoice.created": 2, "invoice.finalized": 2, "invoice.payment_succeeded": 2, "invoice.sent": 0} {
			if n := countEvents(t, env, env.AccountID, typ); n != want {
				t.Errorf("%s events: %d, want %d", typ, n, want)
			}
		}
		// Paying it again is refused like any paid invoice.
		env.Put("/v1/invoices/"+sent["id"].(string), nil).Want(t, 400)
	})
}

// A line's tax rates are named by their index; an empty or null one is a
// 400, not a lookup of rate "" (404); a line mixing rates, or a price and its
// rates, is told exactly what disagrees.
func TestInvoiceTaxElements(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := invFixture{t, env}
		cus := f.customer("Taxed", "", "")
		excl, incl := f.price("USD", 1000, "exclusive"), f.price("USD", 1000, "inclusive")
		rExcl, rIncl := f.rate("Sales", "5", false), f.rate("VAT", "20", true)
		line := func(price string, tax ...any) map[string]any {
			return map[string]any{"price": price, "quantity": 1, "tax": tax}
		}
		before := rowCount(t, env, "invoices")
		for _, c := range []struct {
			items []any
			want  string
		}{
			{[]any{line(excl, nil)}, "items[0].tax[0] must not be null"},
			{[]any{line(excl, "")}, "items[0].tax[0] should not be empty"},
			{[]any{line(excl, rExcl), line(excl, rExcl, " ")}, "items[1].tax[1] should not be empty"},
			{[]any{line(excl, rExcl, 7)}, "items[0].tax[1] must be a string"},
			{[]any{line(excl), line(excl, rExcl, rIncl)},
				"items[1].tax mixes an exclusive tax rate (" + rExcl + ") with an inclusive one (" + rIncl + "): a line's tax rates must be all inclusive or all exclusive"},
			{[]any{line(incl, rIncl, rExcl)},
				"items[0].tax mixes an inclusive tax rate (" + rIncl + ") with an exclusive one (" + rExcl + "): a line's tax rates must be all inclusive or all exclusive"},
			{[]any{line(incl, rExcl)},
				"items[0]: price " + incl + " is tax inclusive but its tax rates are exclusive: a line's price and tax rates must agree on inclusive or exclusive tax"},
			{[]any{line(excl, rIncl)},
				"items[0]: price " + excl + " is tax exclusive but its tax rates are inclusive: a line's price and tax rates must agree on inclusive or exclusive tax"},
		} {
			body := map[string]any{"customer": cus, "collection_method": "charge_automatically", "items": c.items}
			if msg := env.Post("/v1/invoices", body).Want(t, 400).Message(t); msg != c.want {
				t.Errorf("%v: %q, want %q", c.items, msg, c.want)
			}
		}
		if n := rowCount(t, env, "invoices"); n != before {
			t.Fatalf("refused invoices were stored: %d → %d", before, n)
		}
		// No tax (absent, null or empty) is fine.
		for _, tax := range []any{nil, []any{}} {
			env.Post("/v1/invoices", map[string]any{"customer": cus, "collection_method": "charge_automatically",
				"items": []any{map[string]any{"price": excl, "quantity": 1, "tax": tax}}}).Want(t, 201)
		}
	})
}
