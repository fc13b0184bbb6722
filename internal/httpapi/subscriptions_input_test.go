package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
)

// badSub is one refused subscription request: the status and a part of
// the message that names the problem.
type badSub struct {
	name   string
	body   any // a map is sent as JSON, a string as is
	status int
	want   string
}

// wantRefusals sends each case and wants its status and message, and
// nothing written.
func (f subFixture) wantRefusals(method, path, key string, cases []badSub) {
	f.t.Helper()
	for _, c := range cases {
		before := f.subWrites()
		res := f.env.Do(apitest.Request{Method: method, Path: path, Key: key, Body: c.body})
		if res.Status != c.status || !strings.Contains(res.Message(f.t), c.want) {
			f.t.Errorf("%s %s %s: %d %s; want %d containing %q", method, path, c.name, res.Status, res.Body, c.status, c.want)
		}
		if after := f.subWrites(); after != before {
			f.t.Errorf("%s %s %s wrote: %v → %v", method, path, c.name, before, after)
		}
	}
}

// with returns a copy of body with the changes (a nil value deletes the key).
func with(body map[string]any, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// raw replaces the value of one key of body by a raw JSON value.
func raw(t *testing.T, body map[string]any, key, value string) string {
	t.Helper()
	b, err := json.Marshal(with(body, map[string]any{key: nil}))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{%q:%s,%s`, key, value, b[1:])
}

func items(list ...map[string]any) []any {
	out := make([]any, len(list))
	for i, it := range list {
		out[i] = it
	}
	return out
}

// Every bad POST /subscriptions is refused with a message naming the
// problem (404 for what does not exist in the account), and writes nothing.
func TestSubscriptionCreateBadInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Careful", "careful@example.com", "tok_visa")
		monthly := f.price(1000, "month", 1)
		quarterly := f.price(1000, "month", 3)
		yearly := f.price(10000, "year", 1)
		oneTime := f.inv.price("USD", 500, "exclusive")
		eur := env.Post("/v1/products", map[string]any{"name": "Euro plan", "currency": "EUR", "unit_amount": 900, "tax_behavior": "exclusive",
			"type": "recurring", "recurring": map[string]any{"interval": "month", "interval_count": 1}}).Want(t, 201).Map(t)["default_price"].(string)
		product := env.Get("/v1/prices/"+monthly).Want(t, 200).Map(t)["product"].(string)
		inactive := env.Post("/v1/prices/"+product, map[string]any{"currency": "USD", "unit_amount": 700, "type": "recurring",
			"tax_behavior": "exclusive", "recurring": map[string]any{"interval": "month", "interval_count": 1}}).Want(t, 201).Map(t)["id"].(string)
		env.Post("/v1/prices/"+inactive+"/deactivate", nil).Want(t, 200)
		offProductPrice := f.price(800, "month", 1)
		offProduct := env.Get("/v1/prices/"+offProductPrice).Want(t, 200).Map(t)["product"].(string)
		env.Post("/v1/products/"+offProduct+"/deactivate", nil).Want(t, 200)
		rate := f.inv.rate("Sales", "7.25", false)
		inclusive := f.inv.rate("VAT", "19", true)
		offRate := f.inv.rate("Old", "3", false)
		env.Patch("/v1/taxRates/"+offRate, map[string]any{"tax_type": "Custom", "display_name": "Old", "active": false}).Want(t, 200)
		gone := f.inv.customer("Gone", "gone@example.com", "")
		env.Delete("/v1/customers/"+gone).Want(t, 200)
		_, keyB := env.NewAccount("Other")
		otherCus := newCustomer(t, env, keyB, "Other Customer")
		otherPrice := env.Do(apitest.Request{Method: "POST", Path: "/v1/products", Key: keyB, Body: map[string]any{"name": "Other plan",
			"currency": "USD", "unit_amount": 1000, "tax_behavior": "exclusive", "type": "recurring",
			"recurring": map[string]any{"interval": "month", "interval_count": 1}}}).Want(t, 201).Map(t)["default_price"].(string)
		otherRate := env.Do(apitest.Request{Method: "POST", Path: "/v1/taxRates", Key: keyB, Body: map[string]any{"tax_type": "Custom",
			"display_name": "Theirs", "country": "US", "percentage": 5, "inclusive": false}}).Want(t, 201).Map(t)["id"].(string)

		now := f.now()
		good := map[string]any{"customer": cus, "items": items(subItem(monthly, 1)), "trial_days": 0, "start_date": now}
		one := func(it map[string]any) map[string]any { return with(good, map[string]any{"items": items(it)}) }
		f.wantRefusals("POST", "/v1/subscriptions", "", []badSub{
			{"no customer", with(good, map[string]any{"customer": nil}), 400, "customer should not be empty"},
			{"unknown customer", with(good, map[string]any{"customer": "cus_doesnotexist1"}), 404, "Customer cus_doesnotexist1 not found"},
			{"deleted customer", with(good, map[string]any{"customer": gone}), 404, "Customer " + gone + " not found"},
			{"another account's customer", with(good, map[string]any{"customer": otherCus}), 404, "Customer " + otherCus + " not found"},
			{"no items", with(good, map[string]any{"items": nil}), 400, "items should not be empty"},
			{"empty items", with(good, map[string]any{"items": []any{}}), 400, "items must contain at least 1 element"},
			{"unknown price", one(subItem("price_doesnotexist1", 1)), 404, "Price price_doesnotexist1 not found"},
			{"malformed price", one(subItem("monthly", 1)), 400, "items[0].price must match"},
			{"inactive price", one(subItem(inactive, 1)), 400, "Price " + inactive + " is inactive"},
			{"inactive product", one(subItem(offProductPrice, 1)), 400, "Product " + offProduct + " of price " + offProductPrice + " is inactive"},
			{"one-time price", one(subItem(oneTime, 1)), 400, "items[0].price " + oneTime + " is a one-time price"},
			{"another account's price", one(subItem(otherPrice, 1)), 404, "Price " + otherPrice + " not found"},
			{"unknown tax rate", one(subItem(monthly, 1, "txr_doesnotexist1")), 404, "txr_doesnotexist1 not found"},
			{"another account's tax rate", one(subItem(monthly, 1, otherRate)), 404, otherRate + " not found"},
			{"inactive tax rate", one(subItem(monthly, 1, offRate)), 400, "items[0].tax[0]: Tax rate " + offRate + " is inactive"},
			{"inclusive rate on an exclusive price", one(subItem(monthly, 1, inclusive)), 400, "items[0]: price " + monthly + " is tax exclusive"},
			{"a tax rate twice", one(subItem(monthly, 1, rate, rate)), 400, "items[0].tax lists " + rate + " twice"},
			{"mixed currencies", with(good, map[string]any{"items": items(subItem(monthly, 1), subItem(eur, 1))}), 400,
				"items[1].price is in EUR but items[0].price is in USD: all items must share one currency"},
			{"mixed intervals", with(good, map[string]any{"items": items(subItem(monthly, 1), subItem(yearly, 1))}), 400,
				"items[1].price bills every 1 year but items[0].price every 1 month: all items must share one billing interval"},
			{"mixed interval counts", with(good, map[string]any{"items": items(subItem(monthly, 1), subItem(quarterly, 1))}), 400,
				"items[1].price bills every 3 month but items[0].price every 1 month"},
			{"quantity 0", one(subItem(monthly, 0)), 400, "items[0].quantity must not be less than 1"},
			{"negative quantity", one(subItem(monthly, -2)), 400, "items[0].quantity must not be less than 1"},
			{"second item's quantity 0", with(good, map[string]any{"items": items(subItem(monthly, 1), subItem(quarterly, 0))}), 400,
				"items[1].quantity must not be less than 1"},
			{"no quantity", one(map[string]any{"price": monthly}), 400, "items[0].quantity should not be empty"},
			{"fractional quantity", raw(t, good, "items", `[{"price":"`+monthly+`","quantity":1.5}]`), 400, "items[0].quantity"},
			{"quantity as text", raw(t, good, "items", `[{"price":"`+monthly+`","quantity":"2"}]`), 400, "items[0].quantity"},
			{"negative trial_days", with(good, map[string]any{"trial_days": -1}), 400, "trial_days must not be less than 0"},
			{"no trial_days", with(good, map[string]any{"trial_days": nil}), 400, "trial_days should not be empty"},
			{"fractional trial_days", raw(t, good, "trial_days", `1.5`), 400, "trial_days"},
			{"trial_days as text", raw(t, good, "trial_days", `"14"`), 400, "trial_days"},
			{"null trial_days", raw(t, good, "trial_days", `null`), 400, "trial_days should not be empty"},
			{"trial_days too long", with(good, map[string]any{"trial_days": 731}), 400, "trial_days must not be greater than 730"},
			{"no start_date", with(good, map[string]any{"start_date": nil}), 400, "start_date should not be empty"},
			{"start_date 0", with(good, map[string]any{"start_date": 0}), 400, "start_date must be a positive Unix time"},
			{"start_date as text", raw(t, good, "start_date", `"tomorrow"`), 400, "start_date"},
			{"end_date = start_date", with(good, map[string]any{"start_date": now + day, "end_date": now + day}), 400, "end_date must be later than start_date"},
			{"end_date before start_date", with(good, map[string]any{"start_date": now + day, "end_date": now}), 400, "end_date must be later than start_date"},
			{"end_date before now", with(good, map[string]any{"start_date": now - 10*day, "end_date": now - 5*day}), 400, "end_date must be later than the start"},
			{"start_billing_date before start_date", with(good, map[string]any{"start_date": now + day, "start_billing_date": now}), 400,
				"start_billing_date must not be earlier than start_date"},
			{"unknown field", with(good, map[string]any{"collection_method": "send_invoice"}), 400, "property collection_method should not exist"},
		})
		// Nothing above made a subscription; the good body does.
		if n := rowCount(t, env, "subscriptions"); n != 0 {
			t.Fatalf("%d subscriptions", n)
		}
		f.create(good)
	})
}

// Every bad change is refused and writes nothing: PATCH with another
// customer or items that break the subscription's terms, pausing what is
// not active or in trial, resuming what is not paused, any change to a
// cancelled or expired subscription (which still reads), and every call on
// another account's or an unknown subscription.
func TestSubscriptionChangeBadInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Steady", "steady@example.com", "tok_visa")
		cus2 := f.inv.customer("Someone Else", "else@example.com", "tok_visa")
		monthly := f.price(1000, "month", 1)
		yearly := f.price(10000, "year", 1)
		oneTime := f.inv.price("USD", 500, "exclusive")
		eur := env.Post("/v1/products", map[string]any{"name": "Euro plan", "currency": "EUR", "unit_amount": 900, "tax_behavior": "exclusive",
			"type": "recurring", "recurring": map[string]any{"interval": "month", "interval_count": 1}}).Want(t, 201).Map(t)["default_price"].(string)
		_, keyB := env.NewAccount("Other")
		otherPrice := env.Do(apitest.Request{Method: "POST", Path: "/v1/products", Key: keyB, Body: map[string]any{"name": "Other plan",
			"currency": "USD", "unit_amount": 1000, "tax_behavior": "exclusive", "type": "recurring",
			"recurring": map[string]any{"interval": "month", "interval_count": 1}}}).Want(t, 201).Map(t)["default_price"].(string)

		active := f.create(f.body(cus, 0, subItem(monthly, 1)))
		id := active["id"].(string)
		path := "/v1/subscriptions/" + id
		good := map[string]any{"customer": cus, "items": items(subItem(monthly, 2)), "trial_days": 0}
		one := func(it map[string]any) map[string]any { return with(good, map[string]any{"items": items(it)}) }
		f.wantRefusals("PATCH", path, "", []badSub{
			{"another customer", with(good, map[string]any{"customer": cus2}), 400, "customer must stay " + cus},
			{"no customer", with(good, map[string]any{"customer": nil}), 400, "customer should not be empty"},
			{"no items", with(good, map[string]any{"items": nil}), 400, "items should not be empty"},
			{"no trial_days", with(good, map[string]any{"trial_days": nil}), 400, "trial_days should not be empty"},
			{"fractional trial_days", raw(t, good, "trial_days", `0.5`), 400, "trial_days"},
			{"a trial once active", with(good, map[string]any{"trial_days": 5}), 400, "trial_days can change only before the trial ends"},
			{"unknown price", one(subItem("price_doesnotexist1", 1)), 404, "Price price_doesnotexist1 not found"},
			{"another account's price", one(subItem(otherPrice, 1)), 404, "Price " + otherPrice + " not found"},
			{"one-time price", one(subItem(oneTime, 1)), 400, "one-time price"},
			{"another currency", one(subItem(eur, 1)), 400, "items must keep the subscription's currency (USD)"},
			{"another interval", one(subItem(yearly, 1)), 400, "and billing interval (every 1 month)"},
			{"quantity 0", one(subItem(monthly, 0)), 400, "items[0].quantity must not be less than 1"},
			{"fractional quantity", raw(t, good, "items", `[{"price":"`+monthly+`","quantity":2.5}]`), 400, "items[0].quantity"},
			{"bad proration_behavior", with(good, map[string]any{"proration_behavior": "sometimes"}), 400,
				"proration_behavior must be one of the following values: none, create_prorations, always_invoice"},
			{"end_date in the past", with(good, map[string]any{"end_date": f.now() - day}), 400, "end_date must be later than now"},
		})
		f.wantRefusals("POST", path+"/resume", "", []badSub{{"resume an active subscription", nil, 400, "Subscription is not paused"}})
		env.Post(path+"/pause", nil).Want(t, 200)
		f.wantRefusals("POST", path+"/pause", "", []badSub{{"pause a paused subscription", nil, 400, "Subscription cannot be paused: it is paused"}})
		env.Post(path+"/resume", nil).Want(t, 200)

		// A scheduled subscription cannot be paused or resumed.
		body := f.body(cus, 0, subItem(monthly, 1))
		body["start_date"] = f.now() + 10*day
		scheduled := f.create(body)["id"].(string)
		f.wantRefusals("POST", "/v1/subscriptions/"+scheduled+"/pause", "", []badSub{{"pause a scheduled subscription", nil, 400, "Subscription cannot be paused: it is scheduled"}})
		f.wantRefusals("POST", "/v1/subscriptions/"+scheduled+"/resume", "", []badSub{{"resume a scheduled subscription", nil, 400, "Subscription is not paused"}})

		// Another account, or no such subscription: 404 for every call.
		for _, c := range []struct{ key, id string }{{keyB, id}, {"", "sub_doesnotexist1"}} {
			p := "/v1/subscriptions/" + c.id
			want := "Subscription " + c.id + " not found"
			f.wantRefusals("GET", p, c.key, []badSub{{"get", nil, 404, want}})
			f.wantRefusals("GET", p+"/upcoming-invoice", c.key, []badSub{{"upcoming", nil, 404, want}})
			f.wantRefusals("PATCH", p, c.key, []badSub{{"patch", good, 404, want}})
			f.wantRefusals("DELETE", p, c.key, []badSub{{"cancel", nil, 404, want}})
			f.wantRefusals("POST", p+"/pause", c.key, []badSub{{"pause", nil, 404, want}})
			f.wantRefusals("POST", p+"/resume", c.key, []badSub{{"resume", nil, 404, want}})
		}

		// Cancelled (not yet ended, then ended) and expired subscriptions
		// refuse every change and still read.
		refuseAll := func(what, sub, state string) {
			t.Helper()
			p := "/v1/subscriptions/" + sub
			want := "Subscription " + sub + " is " + state + " and cannot be changed"
			f.wantRefusals("PATCH", p, "", []badSub{{what + ": patch", good, 400, want},
				{what + ": patch with prorations", with(good, map[string]any{"proration_behavior": "always_invoice"}), 400, want}})
			f.wantRefusals("POST", p+"/pause", "", []badSub{{what + ": pause", nil, 400, want}})
			f.wantRefusals("POST", p+"/resume", "", []badSub{{what + ": resume", nil, 400, want}})
			f.wantRefusals("DELETE", p, "", []badSub{{what + ": cancel again", nil, 400, want}})
			if got := f.get(sub); got["status"] != state {
				t.Errorf("%s reads %v", what, got["status"])
			}
		}
		env.Delete(path).Want(t, 200)
		refuseAll("cancelled at period end", id, "cancelled")
		env.Delete("/v1/subscriptions/"+scheduled).Want(t, 200)
		refuseAll("cancelled before its start", scheduled, "cancelled")
		body = f.body(cus, 0, subItem(monthly, 1))
		body["end_date"] = f.now() + 5*day
		expiring := f.create(body)["id"].(string)
		paused := f.create(f.body(cus, 0, subItem(monthly, 1)))["id"].(string)
		env.Post("/v1/subscriptions/"+paused+"/pause", nil).Want(t, 200)
		env.Delete("/v1/subscriptions/"+paused).Want(t, 200)
		refuseAll("cancelled while paused", paused, "cancelled")
		f.moveTo(time.Unix(tsOf(active, "current_period_end")+60, 0))
		if got := f.get(id); got["ended_at"] == nil {
			t.Fatalf("not ended: %v", got)
		}
		refuseAll("cancelled and ended", id, "cancelled")
		refuseAll("expired", expiring, "expired")
	})
}
