package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
)

type subFixture struct {
	t   *testing.T
	env *apitest.Env
	inv invFixture
}

func newSubFixture(t *testing.T, env *apitest.Env) subFixture {
	return subFixture{t: t, env: env, inv: invFixture{t, env}}
}

// price makes a product with a recurring price: amount per interval.
func (f subFixture) price(amount int64, interval string, count int) string {
	f.t.Helper()
	p := f.env.Post("/v1/products", map[string]any{"name": fmt.Sprintf("Plan %d/%d %s", amount, count, interval), "currency": "USD",
		"unit_amount": amount, "tax_behavior": "exclusive", "type": "recurring",
		"recurring": map[string]any{"interval": interval, "interval_count": count}}).Want(f.t, 201).Map(f.t)
	return p["default_price"].(string)
}

func (f subFixture) now() int64 { return f.env.ScopeOf(f.env.AccountID).Now().Unix() }

func (f subFixture) moveTo(t time.Time) {
	f.t.Helper()
	if now := f.now(); t.Unix() > now {
		f.env.Post("/v1/test-clock/advance", map[string]any{"to": t.Unix()}).Want(f.t, 200)
	}
}

func (f subFixture) create(body map[string]any) map[string]any {
	f.t.Helper()
	return f.env.Post("/v1/subscriptions", body).Want(f.t, 201).Map(f.t)
}

type invoicePage struct {
	Data []map[string]any `json:"data"`
	Meta struct {
		ItemsTotal int `json:"itemsTotal"`
	} `json:"meta"`
}

func (f subFixture) invoices(sub string) []map[string]any {
	f.t.Helper()
	var all []map[string]any
	for page := 1; ; page++ {
		var p invoicePage
		f.env.Get(fmt.Sprintf("/v1/invoices?take=50&page=%d&search=%s", page, urlQuery(`{"subscription":"`+sub+`"}`))).Want(f.t, 200).JSON(f.t, &p)
		all = append(all, p.Data...)
		if len(all) >= p.Meta.ItemsTotal || len(p.Data) == 0 {
			break
		}
	}
	// Oldest first.
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// A monthly subscription anchored on Jan 31 renews 12 times over a year:
// one paid invoice a period, each with the period the anchor gives (Feb 28,
// Mar 31, Apr 30 …), never drifting.
func TestMonthlySubscriptionRenewsForAYear(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Monthly", "m@example.com", "tok_visa")
		price := f.price(1000, "month", 1)
		now := time.Unix(f.now(), 0).UTC()
		jan31 := time.Date(now.Year()+1, 1, 31, 10, 0, 0, 0, time.UTC)
		f.moveTo(jan31)
		sub := f.create(map[string]any{"customer": cus, "items": []any{map[string]any{"price": price, "quantity": 1}},
			"trial_days": 0, "start_date": f.now()})
		if sub["status"] != "active" || sub["latest_invoice"] == nil || sub["items"].(map[string]any)["total_count"].(float64) != 1 {
			t.Fatalf("created %v", sub)
		}
		id := sub["id"].(string)
		anchor := int64(sub["billing_cycle_anchor"].(float64))
		for m := 1; m <= 11; m++ {
			f.moveTo(time.Unix(anchor, 0).UTC().AddDate(0, 0, 31*m-15))
		}
		f.moveTo(time.Unix(anchor, 0).UTC().AddDate(1, 0, -1))
		invs := f.invoices(id)
		if len(invs) != 12 {
			t.Fatalf("%d invoices over a year, want 12", len(invs))
		}
		a := time.Unix(anchor, 0).UTC()
		for k, inv := range invs {
			y, mo, d := a.Date()
			first := time.Date(y, mo+time.Month(k), 1, a.Hour(), a.Minute(), a.Second(), 0, time.UTC)
			want := first.AddDate(0, 0, min(d, first.AddDate(0, 1, -1).Day())-1)
			if int64(inv["period_start"].(float64)) != want.Unix() {
				t.Errorf("invoice %d covers from %s, want %s", k, time.Unix(int64(inv["period_start"].(float64)), 0).UTC(), want)
			}
			if inv["status"] != "paid" || inv["billing_reason"] != "subscription" || num(inv["total"]) != 1000 {
				t.Errorf("invoice %d: %v %v %v", k, inv["status"], inv["billing_reason"], inv["total"])
			}
		}
		got := env.Get("/v1/subscriptions/"+id).Want(t, 200).Map(t)
		if got["status"] != "active" || got["latest_invoice"] != invs[11]["id"] {
			t.Fatalf("after a year: %v", got)
		}
	})
}
