package httpapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
	"github.com/kassahq/kassa/internal/billing"
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

// moveTo advances the test clock to t and runs the work due by then. A
// clock that already reads t or later (it ticks with the wall clock) only
// runs the work due.
func (f subFixture) moveTo(t time.Time) {
	f.t.Helper()
	if now := f.now(); t.Unix() > now {
		f.env.Post("/v1/test-clock/advance", map[string]any{"to": t.Unix()}).Want(f.t, 200)
		return
	}
	f.env.RunDue(f.env.AccountID)
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

// subItem is one item of a subscription request body.
func subItem(price string, qty int64, tax ...string) map[string]any {
	m := map[string]any{"price": price, "quantity": qty}
	if len(tax) > 0 {
		m["tax"] = tax
	}
	return m
}

// body is a POST /subscriptions body for cus starting now.
func (f subFixture) body(cus string, trialDays int64, items ...map[string]any) map[string]any {
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	return map[string]any{"customer": cus, "items": list, "trial_days": trialDays, "start_date": f.now()}
}

func (f subFixture) get(id string) map[string]any {
	f.t.Helper()
	return f.env.Get("/v1/subscriptions/"+id).Want(f.t, 200).Map(f.t)
}

// patch replaces sub's items (trial_days kept as given) with a proration
// behaviour ("" for the default).
func (f subFixture) patch(sub map[string]any, trialDays int64, behavior string, items ...map[string]any) *apitest.Response {
	f.t.Helper()
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	body := map[string]any{"customer": sub["customer"], "items": list, "trial_days": trialDays}
	if behavior != "" {
		body["proration_behavior"] = behavior
	}
	return f.env.Patch("/v1/subscriptions/"+sub["id"].(string), body)
}

// upcoming is the subscription's upcoming invoice.
func (f subFixture) upcoming(id string) map[string]any {
	f.t.Helper()
	return f.env.Get("/v1/subscriptions/"+id+"/upcoming-invoice").Want(f.t, 200).Map(f.t)
}

// tsOf reads a Unix time field (0 when null).
func tsOf(m map[string]any, key string) int64 { return num(m[key]) }

// periodEnd is the end of the period [start, …) of a subscription anchored
// at start.
func periodEnd(start int64, unit string, count int64) int64 {
	return billing.PeriodStart(time.Unix(start, 0).UTC(), billing.Interval{Unit: unit, Count: count}, 1).Unix()
}

// subWrites counts what a refused subscription request must not write.
func (f subFixture) subWrites() [6]int {
	f.t.Helper()
	return [6]int{rowCount(f.t, f.env, "subscriptions"), rowCount(f.t, f.env, "subscription_items"),
		rowCount(f.t, f.env, "subscription_prorations"), rowCount(f.t, f.env, "invoices"),
		countEvents(f.t, f.env, f.env.AccountID, ""), rowCount(f.t, f.env, "payment_attempts")}
}

// subEvent is an event about a subscription or one of its invoices.
type subEvent struct {
	Type string
	Data map[string]any
}

// eventsOf returns, oldest first, the account's events whose object is the
// subscription or one of its invoices.
func (f subFixture) eventsOf(subID string) []subEvent {
	f.t.Helper()
	var out []subEvent
	for _, e := range catEvents(f.t, f.env, f.env.AccountID) {
		var env struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(e.Payload, &env); err != nil {
			f.t.Fatal(err)
		}
		if env.Data["id"] == subID || env.Data["subscription"] == subID {
			out = append(out, subEvent{e.Type, env.Data})
		}
	}
	return out
}

func eventTypes(evs []subEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// lineSum checks that an invoice's totals are the sums of its lines and
// returns the total.
func lineSum(t *testing.T, inv map[string]any) int64 {
	t.Helper()
	var amount, tax, total int64
	for _, l := range inv["lines"].([]any) {
		line := l.(map[string]any)
		amount += num(line["amount"])
		tax += num(line["tax"])
		total += num(line["amount"])
		if line["tax_behavior"] == "exclusive" {
			total += num(line["tax"])
		}
	}
	if num(inv["subtotal"]) != amount || num(inv["tax"]) != tax || num(inv["total"]) != total || num(inv["amount_due"]) != total {
		t.Errorf("invoice %v: subtotal %v tax %v total %v amount_due %v; its lines add up to %d, tax %d, total %d",
			inv["id"], inv["subtotal"], inv["tax"], inv["total"], inv["amount_due"], amount, tax, total)
	}
	return total
}
