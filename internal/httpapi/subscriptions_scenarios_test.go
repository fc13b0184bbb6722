package httpapi_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassahq/kassa/internal/apitest"
)

// wantInvoice checks one subscription invoice: paid, of the reason, for
// the period, with the total, its totals the sum of its lines.
func wantInvoice(t *testing.T, inv map[string]any, reason, status string, start, end, total int64) {
	t.Helper()
	if inv["billing_reason"] != reason || inv["status"] != status || tsOf(inv, "period_start") != start ||
		tsOf(inv, "period_end") != end || num(inv["total"]) != total {
		t.Errorf("invoice %v: %v %v [%v, %v) total %v; want %s %s [%d, %d) total %d", inv["id"], inv["billing_reason"], inv["status"],
			inv["period_start"], inv["period_end"], inv["total"], reason, status, start, end, total)
	}
	lineSum(t, inv)
}

// A 14-day trial bills nothing and charges nothing before it ends; the first
// paid invoice covers the month from the trial's end, and the subscription
// is active from then on.
func TestSubscriptionTrial(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Trial", "trial@example.com", "tok_visa")
		price := f.price(1000, "month", 1)
		sub := f.create(f.body(cus, 14, subItem(price, 1)))
		id := sub["id"].(string)
		start := tsOf(sub, "trial_start")
		trialEnd := start + 14*day
		if sub["status"] != "trial" || start == 0 || tsOf(sub, "trial_end") != trialEnd || tsOf(sub, "start_date") != start ||
			tsOf(sub, "current_period_start") != start || tsOf(sub, "current_period_end") != trialEnd ||
			tsOf(sub, "billing_cycle_anchor") != trialEnd || sub["latest_invoice"] != nil {
			t.Fatalf("created %v", sub)
		}
		// The upcoming invoice is the first month, from the trial's end.
		up := f.upcoming(id)
		wantInvoice(t, up, "subscription", "draft", trialEnd, periodEnd(trialEnd, "month", 1), 1000)

		f.moveTo(time.Unix(start+13*day, 0))
		if got := f.get(id); got["status"] != "trial" || len(f.invoices(id)) != 0 || rowCount(t, env, "payment_attempts") != 0 {
			t.Fatalf("day 13: %v, %d invoices, %d charges", got["status"], len(f.invoices(id)), rowCount(t, env, "payment_attempts"))
		}
		f.moveTo(time.Unix(trialEnd-1, 0))
		if n := len(f.invoices(id)); n != 0 {
			t.Fatalf("a second before the trial ends: %d invoices", n)
		}
		f.moveTo(time.Unix(trialEnd+60, 0))
		invs := f.invoices(id)
		if len(invs) != 1 {
			t.Fatalf("after the trial: %d invoices", len(invs))
		}
		wantInvoice(t, invs[0], "subscription", "paid", trialEnd, periodEnd(trialEnd, "month", 1), 1000)
		got := f.get(id)
		if got["status"] != "active" || got["latest_invoice"] != invs[0]["id"] || tsOf(got, "trial_start") != start ||
			tsOf(got, "trial_end") != trialEnd || tsOf(got, "current_period_start") != trialEnd ||
			tsOf(got, "current_period_end") != periodEnd(trialEnd, "month", 1) {
			t.Fatalf("after the trial: %v", got)
		}
		if n := rowCount(t, env, "payment_attempts"); n != 1 {
			t.Fatalf("%d charge attempts, want 1", n)
		}
		want := []string{"subscription.created", "subscription.updated", "invoice.created", "invoice.finalized", "invoice.payment_succeeded"}
		if got := eventTypes(f.eventsOf(id)); !reflect.DeepEqual(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

// start_billing_date later than the trial's end holds the first invoice
// until then, and a change of the trial's length does not undo it.
func TestSubscriptionStartBillingDate(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Deferred", "deferred@example.com", "tok_visa")
		price := f.price(1000, "month", 1)
		body := f.body(cus, 14, subItem(price, 1))
		billing := f.now() + 30*day
		body["start_billing_date"] = billing
		sub := f.create(body)
		id := sub["id"].(string)
		start := tsOf(sub, "trial_start")
		if sub["status"] != "trial" || tsOf(sub, "billing_cycle_anchor") != billing || tsOf(sub, "trial_end") != start+14*day {
			t.Fatalf("created %v", sub)
		}
		f.moveTo(time.Unix(start+2*day, 0))
		got := f.patch(sub, 20, "", subItem(price, 1)).Want(t, 200).Map(t)
		if tsOf(got, "trial_end") != start+20*day || tsOf(got, "billing_cycle_anchor") != billing {
			t.Fatalf("a longer trial moved billing: trial_end %v anchor %v, want %d %d", got["trial_end"], got["billing_cycle_anchor"], start+20*day, billing)
		}
		f.moveTo(time.Unix(start+21*day, 0))
		if got := f.get(id); got["status"] != "active" || len(f.invoices(id)) != 0 {
			t.Fatalf("after the trial, before billing: %v, %d invoices", got["status"], len(f.invoices(id)))
		}
		wantInvoice(t, f.upcoming(id), "subscription", "draft", billing, periodEnd(billing, "month", 1), 1000)
		f.moveTo(time.Unix(billing+60, 0))
		invs := f.invoices(id)
		if len(invs) != 1 {
			t.Fatalf("%d invoices", len(invs))
		}
		wantInvoice(t, invs[0], "subscription", "paid", billing, periodEnd(billing, "month", 1), 1000)

		// Ending a trial early keeps start_billing_date too.
		body = f.body(cus, 10, subItem(price, 1))
		billing = f.now() + 20*day
		body["start_billing_date"] = billing
		sub = f.create(body)
		got = f.patch(sub, 0, "", subItem(price, 1)).Want(t, 200).Map(t)
		if got["status"] != "active" || got["trial_end"] != nil || tsOf(got, "billing_cycle_anchor") != billing || len(f.invoices(sub["id"].(string))) != 0 {
			t.Fatalf("trial removed: %v anchor %v, want active %d and no invoice", got["status"], got["billing_cycle_anchor"], billing)
		}
	})
}

// A subscription that starts in 10 days is scheduled, bills nothing until
// then, and then bills its first period from the start date.
func TestSubscriptionScheduledStart(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Later", "later@example.com", "tok_visa")
		price := f.price(1500, "month", 1)
		body := f.body(cus, 0, subItem(price, 2))
		start := f.now() + 10*day
		body["start_date"] = start
		sub := f.create(body)
		id := sub["id"].(string)
		if sub["status"] != "scheduled" || tsOf(sub, "start_date") != start || sub["current_period_start"] != nil ||
			sub["current_period_end"] != nil || sub["trial_start"] != nil || sub["latest_invoice"] != nil ||
			tsOf(sub, "billing_cycle_anchor") != start {
			t.Fatalf("created %v", sub)
		}
		// The upcoming invoice is the first period, from the start date.
		wantInvoice(t, f.upcoming(id), "subscription", "draft", start, periodEnd(start, "month", 1), 3000)
		f.moveTo(time.Unix(start-1, 0))
		if got := f.get(id); got["status"] != "scheduled" || len(f.invoices(id)) != 0 {
			t.Fatalf("before the start: %v, %d invoices", got["status"], len(f.invoices(id)))
		}
		f.moveTo(time.Unix(start+60, 0))
		invs := f.invoices(id)
		if len(invs) != 1 {
			t.Fatalf("after the start: %d invoices", len(invs))
		}
		wantInvoice(t, invs[0], "subscription", "paid", start, periodEnd(start, "month", 1), 3000)
		if got := f.get(id); got["status"] != "active" || tsOf(got, "current_period_start") != start || got["latest_invoice"] != invs[0]["id"] {
			t.Fatalf("after the start: %v", got)
		}
	})
}

// A subscription with an end date expires then (ended_at is the end date)
// and is never invoiced again.
func TestSubscriptionEndDateExpires(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Ending", "ending@example.com", "tok_visa")
		price := f.price(1000, "month", 1)
		body := f.body(cus, 0, subItem(price, 1))
		end := f.now() + 45*day
		body["end_date"] = end
		sub := f.create(body)
		id := sub["id"].(string)
		start := tsOf(sub, "current_period_start")
		if sub["status"] != "active" || tsOf(sub, "end_date") != end || sub["ended_at"] != nil {
			t.Fatalf("created %v", sub)
		}
		f.moveTo(time.Unix(end-1, 0))
		invs := f.invoices(id)
		if len(invs) != 2 {
			t.Fatalf("before the end: %d invoices, want 2", len(invs))
		}
		second := periodEnd(start, "month", 1)
		wantInvoice(t, invs[0], "subscription", "paid", start, second, 1000)
		wantInvoice(t, invs[1], "subscription", "paid", second, periodEnd(start, "month", 2), 1000)
		if got := f.get(id); got["status"] != "active" {
			t.Fatalf("before the end: %v", got["status"])
		}
		f.moveTo(time.Unix(end, 0))
		got := f.get(id)
		if got["status"] != "expired" || tsOf(got, "ended_at") != end {
			t.Fatalf("at the end: %v", got)
		}
		if res := env.Get("/v1/subscriptions/"+id+"/upcoming-invoice").Want(t, 400); !strings.Contains(res.Message(t), "no upcoming invoice") {
			t.Errorf("upcoming invoice of an expired subscription: %s", res.Body)
		}
		f.moveTo(time.Unix(end+120*day, 0))
		if n := len(f.invoices(id)); n != 2 {
			t.Fatalf("after the end: %d invoices, want 2", n)
		}
		if got := f.get(id); got["status"] != "expired" || tsOf(got, "ended_at") != end {
			t.Fatalf("after the end: %v", got)
		}
		evs := f.eventsOf(id)
		if last := evs[len(evs)-1]; last.Type != "subscription.updated" || last.Data["status"] != "expired" {
			t.Fatalf("last event %s %v", last.Type, last.Data["status"])
		}
	})
}

// Paused for two months, a subscription is not invoiced; resumed, it starts
// a new period on the resume day and bills it then, and renews from there.
func TestSubscriptionPauseResume(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Pausing", "pausing@example.com", "tok_visa")
		price := f.price(1000, "month", 1)
		sub := f.create(f.body(cus, 0, subItem(price, 1)))
		id := sub["id"].(string)
		start := tsOf(sub, "current_period_start")
		f.moveTo(time.Unix(start+10*day, 0))
		before := f.now()
		paused := env.Post("/v1/subscriptions/"+id+"/pause", nil).Want(t, 200).Map(t)
		pausedAt := tsOf(paused, "paused_at")
		if paused["status"] != "paused" || pausedAt < before || pausedAt > before+5 {
			t.Fatalf("paused %v", paused)
		}
		f.moveTo(time.Unix(pausedAt+61*day, 0))
		if n := len(f.invoices(id)); n != 1 {
			t.Fatalf("while paused: %d invoices, want 1", n)
		}
		if got := f.get(id); got["status"] != "paused" {
			t.Fatalf("after two months: %v", got["status"])
		}
		before = f.now()
		resumed := env.Post("/v1/subscriptions/"+id+"/resume", nil).Want(t, 200).Map(t)
		at := tsOf(resumed, "current_period_start")
		if resumed["status"] != "active" || resumed["paused_at"] != nil || at < before || at > before+5 ||
			tsOf(resumed, "billing_cycle_anchor") != at || tsOf(resumed, "current_period_end") != periodEnd(at, "month", 1) {
			t.Fatalf("resumed %v", resumed)
		}
		invs := f.invoices(id)
		if len(invs) != 2 {
			t.Fatalf("after resuming: %d invoices, want 2", len(invs))
		}
		wantInvoice(t, invs[0], "subscription", "paid", start, periodEnd(start, "month", 1), 1000)
		// The paid time the pause left unused (day 10 to the period's end)
		// is credited on the new period's invoice, half-up to the cent.
		pe := periodEnd(start, "month", 1)
		unused := (1000*(pe-pausedAt)*2 + (pe - start)) / (2 * (pe - start))
		wantInvoice(t, invs[1], "subscription", "paid", at, periodEnd(at, "month", 1), 1000-unused)
		f.moveTo(time.Unix(periodEnd(at, "month", 1)+60, 0))
		invs = f.invoices(id)
		if len(invs) != 3 {
			t.Fatalf("a month after resuming: %d invoices, want 3", len(invs))
		}
		wantInvoice(t, invs[2], "subscription", "paid", periodEnd(at, "month", 1), periodEnd(at, "month", 2), 1000)
		for _, e := range f.eventsOf(id) {
			if e.Type == "subscription.paused" || e.Type == "subscription.resumed" {
				if e.Data["reason"] != "requested" || e.Data["initiated_by"] != "merchant" {
					t.Errorf("%s: reason %v initiated_by %v", e.Type, e.Data["reason"], e.Data["initiated_by"])
				}
			}
		}
	})
}

// Cancelled mid-period, a subscription reads cancelled at once and ends at
// the end of the period it paid for, never invoiced again; cancelled before
// anything was billed it ends at once; cancelled before it starts it ends on
// its start date, never invoiced.
func TestSubscriptionCancel(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Leaving", "leaving@example.com", "tok_visa")
		price := f.price(1000, "month", 1)

		t.Run("mid-period", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(price, 1)))
			id := sub["id"].(string)
			end := tsOf(sub, "current_period_end")
			f.moveTo(time.Unix(tsOf(sub, "current_period_start")+10*day, 0))
			before := f.now()
			got := env.Delete("/v1/subscriptions/"+id).Want(t, 200).Map(t)
			if got["status"] != "cancelled" || tsOf(got, "cancel_at") != end || got["cancel_at_period_end"] != true ||
				tsOf(got, "canceled_at") < before || tsOf(got, "canceled_at") > before+5 || got["ended_at"] != nil {
				t.Fatalf("cancelled %v", got)
			}
			if res := env.Get("/v1/subscriptions/"+id+"/upcoming-invoice").Want(t, 400); !strings.Contains(res.Message(t), "no upcoming invoice") {
				t.Errorf("upcoming invoice of a cancelled subscription: %s", res.Body)
			}
			f.moveTo(time.Unix(end-1, 0))
			if got := f.get(id); got["status"] != "cancelled" || got["ended_at"] != nil {
				t.Fatalf("before the period end: %v", got)
			}
			f.moveTo(time.Unix(end+1, 0))
			if got := f.get(id); got["status"] != "cancelled" || tsOf(got, "ended_at") != end {
				t.Fatalf("after the period end: %v", got)
			}
			f.moveTo(time.Unix(end+90*day, 0))
			if n := len(f.invoices(id)); n != 1 {
				t.Fatalf("%d invoices, want 1", n)
			}
			for _, e := range f.eventsOf(id) {
				if e.Type == "subscription.canceled" && (e.Data["reason"] != "requested" || e.Data["initiated_by"] != "merchant" || e.Data["status"] != "cancelled") {
					t.Errorf("subscription.canceled: %v %v %v", e.Data["status"], e.Data["reason"], e.Data["initiated_by"])
				}
			}
		})

		t.Run("in trial", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 14, subItem(price, 1)))
			id := sub["id"].(string)
			trialEnd := tsOf(sub, "trial_end")
			f.moveTo(time.Unix(tsOf(sub, "trial_start")+3*day, 0))
			got := env.Delete("/v1/subscriptions/"+id).Want(t, 200).Map(t)
			now := tsOf(got, "canceled_at")
			if got["status"] != "cancelled" || now == 0 || tsOf(got, "ended_at") != now || tsOf(got, "cancel_at") != now || got["cancel_at_period_end"] != false {
				t.Fatalf("cancelled in trial %v", got)
			}
			f.moveTo(time.Unix(trialEnd+40*day, 0))
			if got := f.get(id); got["status"] != "cancelled" || tsOf(got, "ended_at") != now || len(f.invoices(id)) != 0 {
				t.Fatalf("after the trial: %v, %d invoices", got, len(f.invoices(id)))
			}
		})

		t.Run("scheduled", func(t *testing.T) {
			f := f
			f.t = t
			body := f.body(cus, 0, subItem(price, 1))
			start := f.now() + 10*day
			body["start_date"] = start
			sub := f.create(body)
			id := sub["id"].(string)
			got := env.Delete("/v1/subscriptions/"+id).Want(t, 200).Map(t)
			if got["status"] != "cancelled" || tsOf(got, "cancel_at") != start || got["ended_at"] != nil {
				t.Fatalf("cancelled before the start %v", got)
			}
			f.moveTo(time.Unix(start+1, 0))
			if got := f.get(id); got["status"] != "cancelled" || tsOf(got, "ended_at") != start {
				t.Fatalf("at the start: %v", got)
			}
			f.moveTo(time.Unix(start+70*day, 0))
			if n := len(f.invoices(id)); n != 0 {
				t.Fatalf("%d invoices, want none", n)
			}
		})
	})
}

// prorate is amount × remaining / total rounded half up, by hand.
func prorate(amount, remaining, total int64) int64 {
	return (2*amount*remaining + total) / (2 * total)
}

// invLines returns an invoice's lines.
func invLines(inv map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range inv["lines"].([]any) {
		out = append(out, l.(map[string]any))
	}
	return out
}

// wantLine checks one invoice line: price, amount and period.
func wantLine(t *testing.T, what string, l map[string]any, price string, amount, start, end int64) {
	t.Helper()
	period, _ := l["period"].(map[string]any)
	if l["price"] != price || num(l["amount"]) != amount || num(period["start"]) != start || num(period["end"]) != end {
		t.Errorf("%s: price %v amount %v period %v; want %s %d [%d, %d)", what, l["price"], l["amount"], period, price, amount, start, end)
	}
}

// changedAt is when a change was prorated from: its credit line's period
// start, which must be within a few seconds of the time the test moved to
// (the test clock ticks).
func changedAt(t *testing.T, credit map[string]any, movedTo int64) int64 {
	t.Helper()
	at := num(credit["period"].(map[string]any)["start"])
	if at < movedTo || at > movedTo+5 {
		t.Fatalf("proration from %d, want about %d", at, movedTo)
	}
	return at
}

// Prorations, Stripe-style to the second: an upgrade halfway through the
// month with create_prorations puts a credit for the unused half of the old
// price and a charge for the remaining half of the new one on the next
// invoice; always_invoice invoices and charges them at once; a downgrade's
// credit larger than the next invoice is carried, never charged negative.
func TestSubscriptionProrations(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Changing", "changing@example.com", "tok_visa")
		p1, p10, p20 := f.price(100, "month", 1), f.price(1000, "month", 1), f.price(2000, "month", 1)
		p999 := f.price(999, "month", 1)

		t.Run("upgrade halfway with create_prorations", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(p10, 1)))
			id := sub["id"].(string)
			ps, pe := tsOf(sub, "current_period_start"), tsOf(sub, "current_period_end")
			mid := (ps + pe) / 2
			f.moveTo(time.Unix(mid, 0))
			got := f.patch(sub, 0, "create_prorations", subItem(p20, 1)).Want(t, 200).Map(t)
			items := got["items"].(map[string]any)["data"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["price"].(map[string]any)["id"] != p20 || num(got["credit_balance"]) != 0 {
				t.Fatalf("updated %v", got)
			}
			if n := len(f.invoices(id)); n != 1 {
				t.Fatalf("create_prorations invoiced at once: %d invoices", n)
			}
			next := periodEnd(pe, "month", 1)
			check := func(what string, inv map[string]any) {
				t.Helper()
				lines := invLines(inv)
				if len(lines) != 3 {
					t.Fatalf("%s: %d lines, want 3: %v", what, len(lines), lines)
				}
				at := changedAt(t, lines[1], mid)
				remaining, total := pe-at, pe-ps
				credit, charge := -prorate(1000, remaining, total), prorate(2000, remaining, total)
				// Exactly halfway (give or take the clock's seconds) the
				// lines are half of each price.
				if credit != -500 || charge != 1000 {
					t.Fatalf("hand computation %d %d, want -500 1000", credit, charge)
				}
				wantLine(t, what+" item", lines[0], p20, 2000, pe, next)
				wantLine(t, what+" credit", lines[1], p10, credit, at, pe)
				wantLine(t, what+" charge", lines[2], p20, charge, at, pe)
				if !strings.HasPrefix(lines[1]["description"].(string), "Unused time on ") ||
					!strings.HasPrefix(lines[2]["description"].(string), "Remaining time on ") {
					t.Errorf("%s: descriptions %q, %q", what, lines[1]["description"], lines[2]["description"])
				}
				if sum := lineSum(t, inv); sum != 2000+credit+charge || num(inv["total"]) != 2500 {
					t.Errorf("%s: total %v, lines add up to %d", what, inv["total"], sum)
				}
			}
			check("upcoming", f.upcoming(id))
			f.moveTo(time.Unix(pe+60, 0))
			invs := f.invoices(id)
			if len(invs) != 2 {
				t.Fatalf("after the period: %d invoices", len(invs))
			}
			check("renewal", invs[1])
			wantInvoice(t, invs[1], "subscription", "paid", pe, next, 2500)
			// The prorations were billed once: the next renewal is the new price alone.
			f.moveTo(time.Unix(next+60, 0))
			invs = f.invoices(id)
			if len(invs) != 3 || len(invLines(invs[2])) != 1 {
				t.Fatalf("second renewal: %d invoices, %v", len(invs), invs[len(invs)-1]["lines"])
			}
			wantInvoice(t, invs[2], "subscription", "paid", next, periodEnd(pe, "month", 2), 2000)
		})

		t.Run("quantity change with rounding", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(p999, 1)))
			id := sub["id"].(string)
			ps, pe := tsOf(sub, "current_period_start"), tsOf(sub, "current_period_end")
			when := ps + 7*day + 12345
			f.moveTo(time.Unix(when, 0))
			f.patch(sub, 0, "create_prorations", subItem(p999, 3)).Want(t, 200)
			f.moveTo(time.Unix(pe+60, 0))
			invs := f.invoices(id)
			if len(invs) != 2 {
				t.Fatalf("%d invoices", len(invs))
			}
			lines := invLines(invs[1])
			if len(lines) != 3 {
				t.Fatalf("%d lines: %v", len(lines), lines)
			}
			at := changedAt(t, lines[1], when)
			remaining, total := pe-at, pe-ps
			credit, charge := -prorate(999, remaining, total), prorate(2997, remaining, total)
			wantLine(t, "item", lines[0], p999, 2997, pe, periodEnd(pe, "month", 1))
			wantLine(t, "credit", lines[1], p999, credit, at, pe)
			wantLine(t, "charge", lines[2], p999, charge, at, pe)
			wantInvoice(t, invs[1], "subscription", "paid", pe, periodEnd(pe, "month", 1), 2997+credit+charge)
		})

		t.Run("always_invoice", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(p10, 1)))
			id := sub["id"].(string)
			ps, pe := tsOf(sub, "current_period_start"), tsOf(sub, "current_period_end")
			when := ps + 10*day + 777
			f.moveTo(time.Unix(when, 0))
			got := f.patch(sub, 0, "always_invoice", subItem(p20, 1)).Want(t, 200).Map(t)
			invs := f.invoices(id)
			if len(invs) != 2 {
				t.Fatalf("always_invoice: %d invoices, want 2", len(invs))
			}
			upd := invs[1]
			lines := invLines(upd)
			if len(lines) != 2 {
				t.Fatalf("%d lines: %v", len(lines), lines)
			}
			at := changedAt(t, lines[0], when)
			remaining, total := pe-at, pe-ps
			credit, charge := -prorate(1000, remaining, total), prorate(2000, remaining, total)
			wantLine(t, "credit", lines[0], p10, credit, at, pe)
			wantLine(t, "charge", lines[1], p20, charge, at, pe)
			wantInvoice(t, upd, "subscription_update", "paid", ps, pe, credit+charge)
			if got["latest_invoice"] != upd["id"] || num(upd["amount_paid"]) != credit+charge {
				t.Fatalf("latest_invoice %v amount_paid %v, want %v %d", got["latest_invoice"], upd["amount_paid"], upd["id"], credit+charge)
			}
			var types []string
			for _, e := range f.eventsOf(id) {
				if e.Data["id"] == upd["id"] {
					types = append(types, e.Type)
				}
			}
			if want := []string{"invoice.created", "invoice.finalized", "invoice.payment_succeeded"}; !reflect.DeepEqual(types, want) {
				t.Fatalf("events of the update invoice %v, want %v", types, want)
			}
			// Nothing is left for the renewal: it bills the new price alone.
			f.moveTo(time.Unix(pe+60, 0))
			invs = f.invoices(id)
			if len(invs) != 3 || len(invLines(invs[2])) != 1 {
				t.Fatalf("renewal: %d invoices, %v", len(invs), invs[len(invs)-1]["lines"])
			}
			wantInvoice(t, invs[2], "subscription", "paid", pe, periodEnd(pe, "month", 1), 2000)
		})

		t.Run("downgrade credit carried", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(p20, 1)))
			id := sub["id"].(string)
			ps, pe := tsOf(sub, "current_period_start"), tsOf(sub, "current_period_end")
			mid := (ps + pe) / 2
			f.moveTo(time.Unix(mid, 0))
			f.patch(sub, 0, "create_prorations", subItem(p1, 1)).Want(t, 200)
			up := f.upcoming(id)
			f.moveTo(time.Unix(pe+60, 0))
			invs := f.invoices(id)
			if len(invs) != 2 {
				t.Fatalf("%d invoices", len(invs))
			}
			for what, inv := range map[string]map[string]any{"upcoming": up, "renewal": invs[1]} {
				lines := invLines(inv)
				if len(lines) != 4 {
					t.Fatalf("%s: %d lines: %v", what, len(lines), lines)
				}
				at := changedAt(t, lines[1], mid)
				credit, charge := -prorate(2000, pe-at, pe-ps), prorate(100, pe-at, pe-ps)
				if credit != -1000 || charge != 50 {
					t.Fatalf("hand computation %d %d", credit, charge)
				}
				wantLine(t, what+" item", lines[0], p1, 100, pe, periodEnd(pe, "month", 1))
				wantLine(t, what+" credit", lines[1], p20, -1000, at, pe)
				wantLine(t, what+" charge", lines[2], p1, 50, at, pe)
				// The 850 the lines fall short by is carried, bringing the invoice to 0.
				if lines[3]["price"] != nil || num(lines[3]["amount"]) != 850 || lines[3]["description"] != "Credit carried to the next invoice" {
					t.Errorf("%s: carried line %v", what, lines[3])
				}
				if sum := lineSum(t, inv); sum != 0 || num(inv["amount_due"]) != 0 {
					t.Errorf("%s: total %d amount_due %v, want 0", what, sum, inv["amount_due"])
				}
			}
			wantInvoice(t, invs[1], "subscription", "paid", pe, periodEnd(pe, "month", 1), 0)
			if got := f.get(id); num(got["credit_balance"]) != 850 {
				t.Fatalf("credit_balance %v, want 850", got["credit_balance"])
			}
			if invs[1]["attempted"] != false || num(invs[1]["amount_paid"]) != 0 {
				t.Fatalf("an invoice of 0 was charged: attempted %v amount_paid %v", invs[1]["attempted"], invs[1]["amount_paid"])
			}
			// The next invoice uses 100 of the credit.
			next := periodEnd(pe, "month", 1)
			f.moveTo(time.Unix(next+60, 0))
			invs = f.invoices(id)
			if len(invs) != 3 {
				t.Fatalf("%d invoices", len(invs))
			}
			lines := invLines(invs[2])
			if len(lines) != 2 || num(lines[1]["amount"]) != -100 || lines[1]["description"] != "Credit from earlier changes" {
				t.Fatalf("credit used: %v", lines)
			}
			wantInvoice(t, invs[2], "subscription", "paid", next, periodEnd(pe, "month", 2), 0)
			if got := f.get(id); num(got["credit_balance"]) != 750 {
				t.Fatalf("credit_balance %v, want 750", got["credit_balance"])
			}
		})

		t.Run("downgrade with always_invoice", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(p20, 1)))
			id := sub["id"].(string)
			ps, pe := tsOf(sub, "current_period_start"), tsOf(sub, "current_period_end")
			mid := (ps + pe) / 2
			f.moveTo(time.Unix(mid, 0))
			got := f.patch(sub, 0, "always_invoice", subItem(p1, 1)).Want(t, 200).Map(t)
			invs := f.invoices(id)
			if len(invs) != 2 {
				t.Fatalf("%d invoices", len(invs))
			}
			lines := invLines(invs[1])
			if len(lines) != 3 {
				t.Fatalf("%d lines: %v", len(lines), lines)
			}
			at := changedAt(t, lines[0], mid)
			credit, charge := -prorate(2000, pe-at, pe-ps), prorate(100, pe-at, pe-ps)
			wantLine(t, "credit", lines[0], p20, credit, at, pe)
			wantLine(t, "charge", lines[1], p1, charge, at, pe)
			if num(lines[2]["amount"]) != -(credit+charge) || lines[2]["description"] != "Credit carried to the next invoice" {
				t.Errorf("carried line %v", lines[2])
			}
			// Nothing to charge: the invoice is paid as it is finalized, and
			// the credit is the subscription's.
			wantInvoice(t, invs[1], "subscription_update", "paid", ps, pe, 0)
			if invs[1]["attempted"] != false || num(got["credit_balance"]) != -(credit+charge) || got["latest_invoice"] != invs[1]["id"] {
				t.Fatalf("attempted %v, credit_balance %v, latest_invoice %v", invs[1]["attempted"], got["credit_balance"], got["latest_invoice"])
			}
			// The renewal of 100 is paid from the credit.
			left := -(credit + charge)
			f.moveTo(time.Unix(pe+60, 0))
			invs = f.invoices(id)
			if len(invs) != 3 {
				t.Fatalf("%d invoices", len(invs))
			}
			lines = invLines(invs[2])
			if len(lines) != 2 || num(lines[1]["amount"]) != -100 {
				t.Fatalf("renewal lines %v", lines)
			}
			wantInvoice(t, invs[2], "subscription", "paid", pe, periodEnd(pe, "month", 1), 0)
			if got := f.get(id); num(got["credit_balance"]) != left-100 {
				t.Fatalf("credit_balance %v, want %d", got["credit_balance"], left-100)
			}
		})

		t.Run("change in trial", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 14, subItem(p10, 1)))
			id := sub["id"].(string)
			trialEnd := tsOf(sub, "trial_end")
			f.moveTo(time.Unix(tsOf(sub, "trial_start")+5*day, 0))
			// Nothing was billed: nothing to prorate, the trial goes on.
			got := f.patch(sub, 14, "always_invoice", subItem(p20, 2)).Want(t, 200).Map(t)
			if got["status"] != "trial" || len(f.invoices(id)) != 0 || rowCount(t, env, "subscription_prorations") != 0 {
				t.Fatalf("changed in trial: %v, %d invoices", got["status"], len(f.invoices(id)))
			}
			f.moveTo(time.Unix(trialEnd+60, 0))
			invs := f.invoices(id)
			if len(invs) != 1 || len(invLines(invs[0])) != 1 {
				t.Fatalf("%d invoices: %v", len(invs), invs)
			}
			wantInvoice(t, invs[0], "subscription", "paid", trialEnd, periodEnd(trialEnd, "month", 1), 4000)
		})
	})
}

// Three items under two exclusive tax rates: each line is taxed per rate,
// rounded half up, and the invoice's totals are the sums of its lines, per
// rate too, on the first invoice and on the renewal.
func TestSubscriptionItemsWithTwoTaxRates(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Taxed", "taxed@example.com", "tok_visa")
		ny := f.inv.rate("NY", "8.875", false)
		local := f.inv.rate("Local", "5", false)
		a, b, c := f.price(1999, "month", 1), f.price(550, "month", 1), f.price(1234, "month", 1)
		sub := f.create(f.body(cus, 0, subItem(a, 1, ny), subItem(b, 3, ny, local), subItem(c, 2, local)))
		id := sub["id"].(string)
		pe := tsOf(sub, "current_period_end")
		f.moveTo(time.Unix(pe+60, 0))
		invs := f.invoices(id)
		if len(invs) != 2 {
			t.Fatalf("%d invoices", len(invs))
		}
		// By hand: 1999 × 8.875 % = 177.41 → 177; 1650 × 8.875 % = 146.4375
		// → 146 and × 5 % = 82.5 → 83; 2468 × 5 % = 123.4 → 123.
		wantTax := map[string][]int64{a: {177}, b: {146, 83}, c: {123}}
		wantAmount := map[string]int64{a: 1999, b: 1650, c: 2468}
		for k, inv := range invs {
			lines := invLines(inv)
			if len(lines) != 3 {
				t.Fatalf("invoice %d: %d lines", k, len(lines))
			}
			for _, l := range lines {
				p := l["price"].(string)
				var taxes []int64
				for _, tx := range l["taxes"].([]any) {
					taxes = append(taxes, num(tx.(map[string]any)["amount"]))
				}
				if num(l["amount"]) != wantAmount[p] || !reflect.DeepEqual(taxes, wantTax[p]) {
					t.Errorf("invoice %d line %s: amount %v taxes %v, want %d %v", k, p, l["amount"], taxes, wantAmount[p], wantTax[p])
				}
			}
			perRate := map[string]int64{}
			for _, ta := range inv["total_tax_amounts"].([]any) {
				m := ta.(map[string]any)
				perRate[m["tax_rate"].(string)] += num(m["amount"])
			}
			if want := map[string]int64{ny: 177 + 146, local: 83 + 123}; !reflect.DeepEqual(perRate, want) {
				t.Errorf("invoice %d: taxes per rate %v, want %v", k, perRate, want)
			}
			wantAmounts(t, inv, map[string]int64{"subtotal": 6117, "tax": 529, "total": 6646, "amount_due": 6646, "amount_paid": 6646})
			lineSum(t, inv)
		}
	})
}

// Every renewal announces invoice.created → invoice.finalized →
// invoice.payment_succeeded in that order; a declined card gives
// invoice.payment_failed and leaves the subscription's status alone; the
// subscription's own events carry reason and initiated_by exactly on
// canceled, paused and resumed.
func TestSubscriptionEvents(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		price := f.price(1000, "month", 1)

		t.Run("paid", func(t *testing.T) {
			f := f
			f.t = t
			cus := f.inv.customer("Events", "events@example.com", "tok_visa")
			sub := f.create(f.body(cus, 0, subItem(price, 1)))
			id := sub["id"].(string)
			pe := tsOf(sub, "current_period_end")
			f.moveTo(time.Unix(pe+60, 0))
			f.patch(sub, 0, "", subItem(price, 2)).Want(t, 200)
			env.Post("/v1/subscriptions/"+id+"/pause", nil).Want(t, 200)
			env.Post("/v1/subscriptions/"+id+"/resume", nil).Want(t, 200)
			env.Delete("/v1/subscriptions/"+id).Want(t, 200)
			renewal := []string{"invoice.created", "invoice.finalized", "invoice.payment_succeeded"}
			want := append(append(append([]string{"subscription.created"}, renewal...), renewal...),
				"subscription.updated", "subscription.paused", "subscription.resumed")
			want = append(append(want, renewal...), "subscription.canceled")
			evs := f.eventsOf(id)
			if got := eventTypes(evs); !reflect.DeepEqual(got, want) {
				t.Fatalf("events\n%v, want\n%v", got, want)
			}
			for _, e := range evs {
				if !strings.HasPrefix(e.Type, "subscription.") {
					continue
				}
				reason, hasReason := e.Data["reason"]
				by, hasBy := e.Data["initiated_by"]
				switch e.Type {
				case "subscription.canceled", "subscription.paused", "subscription.resumed":
					if reason != "requested" || by != "merchant" {
						t.Errorf("%s: reason %v initiated_by %v", e.Type, reason, by)
					}
				default:
					if hasReason || hasBy {
						t.Errorf("%s carries reason %v initiated_by %v", e.Type, reason, by)
					}
				}
			}
			if want := map[string]string{"subscription.paused": "paused", "subscription.resumed": "active", "subscription.canceled": "cancelled"}; true {
				for _, e := range evs {
					if st, ok := want[e.Type]; ok && e.Data["status"] != st {
						t.Errorf("%s: status %v, want %s", e.Type, e.Data["status"], st)
					}
				}
			}
		})

		t.Run("through the API", func(t *testing.T) {
			// GET /v1/events shows the same: the canceled event, with its
			// reason, newest first.
			var page struct {
				Data []map[string]any `json:"data"`
			}
			env.Get("/v1/events?search="+urlQuery(`{"type":"subscription.canceled,subscription.paused,subscription.resumed"}`)).Want(t, 200).JSON(t, &page)
			var types []string
			for _, e := range page.Data {
				types = append(types, e["type"].(string))
				data, _ := e["data"].(map[string]any)
				if data["reason"] != "requested" || data["initiated_by"] != "merchant" || data["object"] != "subscription" {
					t.Errorf("%v: %v", e["type"], data)
				}
			}
			if want := []string{"subscription.canceled", "subscription.resumed", "subscription.paused"}; !reflect.DeepEqual(types, want) {
				t.Fatalf("events %v, want %v", types, want)
			}
		})

		t.Run("declined", func(t *testing.T) {
			f := f
			f.t = t
			cus := f.inv.customer("Declined", "declined@example.com", "tok_chargeDeclined")
			sub := f.create(f.body(cus, 0, subItem(price, 1)))
			id := sub["id"].(string)
			if sub["status"] != "active" {
				t.Fatalf("created %v", sub["status"])
			}
			pe := tsOf(sub, "current_period_end")
			f.moveTo(time.Unix(pe+60, 0))
			invs := f.invoices(id)
			if len(invs) != 2 {
				t.Fatalf("%d invoices", len(invs))
			}
			for _, inv := range invs {
				if inv["status"] != "open" || inv["attempted"] != true || num(inv["amount_remaining"]) != 1000 {
					t.Errorf("declined invoice %v %v %v", inv["status"], inv["attempted"], inv["amount_remaining"])
				}
			}
			failed := []string{"invoice.created", "invoice.finalized", "invoice.payment_failed"}
			want := append(append([]string{"subscription.created"}, failed...), failed...)
			if got := eventTypes(f.eventsOf(id)); !reflect.DeepEqual(got, want) {
				t.Fatalf("events\n%v, want\n%v", got, want)
			}
			if got := f.get(id); got["status"] != "active" || got["latest_invoice"] != invs[1]["id"] {
				t.Fatalf("after declines: %v %v", got["status"], got["latest_invoice"])
			}
			if n := rowCount(t, env, "payment_attempts"); n < 2 {
				t.Fatalf("%d attempts", n)
			}
		})
	})
}

// A customer with a subscription that has not ended cannot be deleted, nor
// can a price (or its product) a live subscription bills; a cancellation
// still running its paid period keeps them; once it has ended, both can go,
// and the ended subscription still reads.
func TestSubscriptionDeletionGuards(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Guarded", "guarded@example.com", "tok_visa")
		price := f.price(1000, "month", 1)
		product := env.Get("/v1/prices/"+price).Want(t, 200).Map(t)["product"].(string)
		// A second price of the product, so that the product's default price
		// is not what the price guard is tested on.
		extra := env.Post("/v1/prices/"+product, map[string]any{"currency": "USD", "unit_amount": 500, "type": "recurring",
			"tax_behavior": "exclusive", "recurring": map[string]any{"interval": "month", "interval_count": 1}}).Want(t, 201).Map(t)["id"].(string)
		sub := f.create(f.body(cus, 0, subItem(extra, 1)))
		id := sub["id"].(string)
		refused := func(when string) {
			t.Helper()
			before := f.subWrites()
			if res := env.Delete("/v1/customers/"+cus).Want(t, 400); !strings.Contains(res.Message(t), "subscription") {
				t.Errorf("%s: delete customer: %s", when, res.Body)
			}
			if res := env.Delete("/v1/prices/"+extra).Want(t, 400); !strings.Contains(res.Message(t), "subscription "+id) {
				t.Errorf("%s: delete price: %s", when, res.Body)
			}
			if res := env.Delete("/v1/products/"+product).Want(t, 400); !strings.Contains(res.Message(t), "subscription "+id) {
				t.Errorf("%s: delete product: %s", when, res.Body)
			}
			if after := f.subWrites(); after != before {
				t.Errorf("%s: refused deletions wrote %v → %v", when, before, after)
			}
		}
		refused("active")
		env.Delete("/v1/subscriptions/"+id).Want(t, 200)
		refused("cancelled, not ended")
		f.moveTo(time.Unix(tsOf(sub, "current_period_end")+60, 0))
		if got := f.get(id); got["ended_at"] == nil {
			t.Fatalf("not ended: %v", got)
		}
		env.Delete("/v1/prices/"+extra).Want(t, 200)
		env.Delete("/v1/customers/"+cus).Want(t, 200)
		got := f.get(id)
		if item := got["items"].(map[string]any)["data"].([]any)[0].(map[string]any); got["status"] != "cancelled" || item["price"] != nil || num(item["quantity"]) != 1 {
			t.Fatalf("the ended subscription reads %v, item %v", got["status"], item)
		}
		env.Get("/v1/subscriptions").Want(t, 200)

		// An expired subscription does not hold them either.
		cus2 := f.inv.customer("Expiring", "expiring@example.com", "tok_visa")
		body := f.body(cus2, 0, subItem(price, 1))
		body["end_date"] = f.now() + 3*day
		sub2 := f.create(body)
		f.moveTo(time.Unix(f.now()+4*day, 0))
		if got := f.get(sub2["id"].(string)); got["status"] != "expired" {
			t.Fatalf("not expired: %v", got["status"])
		}
		env.Delete("/v1/customers/"+cus2).Want(t, 200)
		env.Delete("/v1/products/"+product).Want(t, 200)
	})
}

type subPage struct {
	Data []map[string]any `json:"data"`
	Meta struct {
		Page       int `json:"page"`
		Take       int `json:"take"`
		ItemsTotal int `json:"itemsTotal"`
		PagesTotal int `json:"pagesTotal"`
	} `json:"meta"`
}

func subIDs(p subPage) []string {
	out := []string{}
	for _, s := range p.Data {
		out = append(out, s["id"].(string))
	}
	return out
}

// GET /subscriptions searches by status (with the contract's stale names as
// aliases), customer and created, newest first, page by page; an unknown
// status is refused. The upcoming invoice shows the next period as the
// renewal will bill it, and writes nothing.
func TestSubscriptionSearchAndUpcoming(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		c1 := f.inv.customer("One", "one@example.com", "tok_visa")
		c2 := f.inv.customer("Two", "two@example.com", "tok_visa")
		rate := f.inv.rate("Sales", "7.25", false)
		p1, p2 := f.price(1000, "month", 1), f.price(333, "month", 1)
		active := f.create(f.body(c1, 0, subItem(p1, 1, rate), subItem(p2, 3)))
		t1 := f.now() + day
		f.moveTo(time.Unix(t1, 0))
		trial := f.create(f.body(c2, 14, subItem(p1, 1)))
		f.moveTo(time.Unix(t1+day, 0))
		body := f.body(c1, 0, subItem(p2, 1))
		body["start_date"] = f.now() + 30*day
		scheduled := f.create(body)
		f.moveTo(time.Unix(t1+2*day, 0))
		cancelled := f.create(f.body(c2, 7, subItem(p2, 1)))
		env.Delete("/v1/subscriptions/"+cancelled["id"].(string)).Want(t, 200)
		A, B, C, D := active["id"].(string), trial["id"].(string), scheduled["id"].(string), cancelled["id"].(string)

		list := func(query string) subPage {
			t.Helper()
			var p subPage
			env.Get("/v1/subscriptions?"+query).Want(t, 200).JSON(t, &p)
			return p
		}
		search := func(s string) []string { t.Helper(); return subIDs(list("search=" + urlQuery(s))) }
		for s, want := range map[string][]string{
			`{"status":"active"}`:                                               {A},
			`{"status":"trial"}`:                                                {B},
			`{"status":"trialing"}`:                                             {B},
			`{"status":"scheduled"}`:                                            {C},
			`{"status":"cancelled"}`:                                            {D},
			`{"status":"canceled"}`:                                             {D},
			`{"status":"expired"}`:                                              {},
			`{"status":"active,trialing"}`:                                      {B, A},
			`{"status":["canceled","active"]}`:                                  {D, A},
			`{"customer":"` + c1 + `"}`:                                         {C, A},
			`{"customer":"` + c2 + `","status":"trial"}`:                        {B},
			fmt.Sprintf(`{"created[gte]":%d}`, t1):                              {D, C, B},
			fmt.Sprintf(`{"created[lt]":%d}`, t1+day):                           {B, A},
			fmt.Sprintf(`{"created":{"gte":%d,"lte":%d}}`, t1, t1+day+5):        {C, B},
			fmt.Sprintf(`{"created[gt]":%d,"customer":"%s"}`, t1+3*day+100, c1): {},
		} {
			if got := search(s); !reflect.DeepEqual(got, want) {
				t.Errorf("search %s: %v, want %v", s, got, want)
			}
		}
		for _, s := range []string{`{"status":"past_due"}`, `{"status":"trialing,bogus"}`} {
			res := env.Get("/v1/subscriptions?search="+urlQuery(s)).Want(t, 400)
			if !strings.Contains(res.Message(t), "search.status must be one of") {
				t.Errorf("search %s: %s", s, res.Body)
			}
		}
		p := list("take=3&page=1")
		if !reflect.DeepEqual(subIDs(p), []string{D, C, B}) || p.Meta.ItemsTotal != 4 || p.Meta.PagesTotal != 2 || p.Meta.Take != 3 {
			t.Errorf("page 1: %v %+v", subIDs(p), p.Meta)
		}
		if p := list("take=3&page=2"); !reflect.DeepEqual(subIDs(p), []string{A}) || p.Meta.Page != 2 {
			t.Errorf("page 2: %v %+v", subIDs(p), p.Meta)
		}
		if p := list("take=3&page=3"); len(p.Data) != 0 || p.Meta.ItemsTotal != 4 {
			t.Errorf("page 3: %v %+v", subIDs(p), p.Meta)
		}

		// The upcoming invoice of the active subscription: the next period,
		// both items, the tax, and nothing written.
		pe := tsOf(active, "current_period_end")
		next := periodEnd(pe, "month", 1)
		before := [...]int{f.subWrites()[3], rowCount(t, env, "invoice_lines"), countEvents(t, env, env.AccountID, ""),
			rowCount(t, env, "due_work"), rowCount(t, env, "subscription_periods"), rowCount(t, env, "invoice_counters")}
		up := f.upcoming(A)
		after := [...]int{f.subWrites()[3], rowCount(t, env, "invoice_lines"), countEvents(t, env, env.AccountID, ""),
			rowCount(t, env, "due_work"), rowCount(t, env, "subscription_periods"), rowCount(t, env, "invoice_counters")}
		if before != after {
			t.Fatalf("the upcoming invoice wrote: %v → %v", before, after)
		}
		lines := invLines(up)
		if len(lines) != 2 || up["status"] != "draft" || up["number"] != nil || up["subscription"] != A {
			t.Fatalf("upcoming %v", up)
		}
		wantLine(t, "upcoming", lines[0], p1, 1000, pe, next)
		wantLine(t, "upcoming", lines[1], p2, 999, pe, next)
		// 1000 × 7.25 % = 72.5 → 73.
		wantAmounts(t, up, map[string]int64{"subtotal": 1999, "tax": 73, "total": 2072, "amount_due": 2072, "period_start": pe, "period_end": next})
		lineSum(t, up)
		if res := env.Get("/v1/invoices/" + up["id"].(string)); res.Status != 404 {
			t.Fatalf("the upcoming invoice was kept: %d", res.Status)
		}
		// The renewal bills what the upcoming invoice showed.
		f.moveTo(time.Unix(pe+60, 0))
		invs := f.invoices(A)
		if len(invs) != 2 {
			t.Fatalf("%d invoices", len(invs))
		}
		wantInvoice(t, invs[1], "subscription", "paid", pe, next, 2072)
		for i, l := range invLines(invs[1]) {
			if l["price"] != lines[i]["price"] || num(l["amount"]) != num(lines[i]["amount"]) || num(l["tax"]) != num(lines[i]["tax"]) {
				t.Errorf("renewal line %d %v, upcoming showed %v", i, l, lines[i])
			}
		}
		if res := env.Get("/v1/subscriptions/sub_doesnotexist1/upcoming-invoice").Want(t, 404); !strings.Contains(res.Message(t), "not found") {
			t.Errorf("unknown: %s", res.Body)
		}
	})
}

// quantityOf reads the quantity of a subscription's single item.
func quantityOf(t *testing.T, sub map[string]any) int64 {
	t.Helper()
	data := sub["items"].(map[string]any)["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("%d items", len(data))
	}
	return num(data[0].(map[string]any)["quantity"])
}

// prorationQuantity reads the quantity out of a proration line's
// description ("Unused time on 3 × Plan … after …"; no "N × " for 1).
func prorationQuantity(t *testing.T, description string) int64 {
	t.Helper()
	var rest string
	switch {
	case strings.HasPrefix(description, "Unused time on "):
		rest = strings.TrimPrefix(description, "Unused time on ")
	case strings.HasPrefix(description, "Remaining time on "):
		rest = strings.TrimPrefix(description, "Remaining time on ")
	default:
		t.Fatalf("not a proration: %q", description)
	}
	var q int64
	if n, _ := fmt.Sscanf(rest, "%d × ", &q); n == 1 && strings.Contains(rest, " × ") {
		return q
	}
	return 1
}

// Concurrent changes of one subscription serialise. Ten PATCHes with
// create_prorations all succeed, and each was prorated from the items the
// one before it left (the credit of each is for the quantity the previous
// one set): none read a stale subscription. Mixed PATCH, pause and cancel
// requests: exactly one cancel succeeds, nothing changes after it, and the
// events match the requests that succeeded.
func TestSubscriptionConcurrentChanges(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Busy", "busy@example.com", "tok_visa")
		price := f.price(1000, "month", 1)

		t.Run("patches", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(price, 1)))
			id := sub["id"].(string)
			f.moveTo(time.Unix(tsOf(sub, "current_period_start")+10*day, 0))
			var wg sync.WaitGroup
			res := make([]*apitest.Response, 10)
			for i := range res {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res[i] = env.Do(apitest.Request{Method: "PATCH", Path: "/v1/subscriptions/" + id, Body: map[string]any{
						"customer": cus, "trial_days": 0, "proration_behavior": "create_prorations",
						"items": []any{subItem(price, int64(i+2))}}})
				}()
			}
			wg.Wait()
			for i, r := range res {
				r.Want(t, 200)
				if q := quantityOf(t, r.Map(t)); q != int64(i+2) {
					t.Errorf("PATCH %d answered quantity %d", i, q)
				}
			}
			// Events in commit order: each PATCH's quantity once.
			var order []int64
			for _, e := range f.eventsOf(id) {
				if e.Type == "subscription.updated" {
					order = append(order, quantityOf(t, e.Data))
				}
			}
			if len(order) != 10 {
				t.Fatalf("%d subscription.updated events, want 10", len(order))
			}
			seen := map[int64]bool{}
			for _, q := range order {
				seen[q] = true
			}
			if len(seen) != 10 {
				t.Fatalf("updated events %v repeat a quantity", order)
			}
			final := quantityOf(t, f.get(id))
			if final != order[9] {
				t.Fatalf("final quantity %d, the last update set %d", final, order[9])
			}
			// The pending prorations chain: credit for the quantity before,
			// charge for the quantity after, in commit order.
			lines := invLines(f.upcoming(id))
			if len(lines) != 1+2*10 {
				t.Fatalf("%d upcoming lines, want 21", len(lines))
			}
			prev := int64(1)
			for k := 0; k < 10; k++ {
				credit, charge := lines[1+2*k], lines[2+2*k]
				cq, nq := prorationQuantity(t, credit["description"].(string)), prorationQuantity(t, charge["description"].(string))
				if num(credit["amount"]) >= 0 || num(charge["amount"]) <= 0 || cq != prev || nq != order[k] {
					t.Fatalf("proration %d: credit %v for %d, charge %v for %d; want a credit for %d and a charge for %d",
						k, credit["amount"], cq, charge["amount"], nq, prev, order[k])
				}
				prev = nq
			}
			if num(lines[0]["quantity"]) != final {
				t.Fatalf("upcoming item quantity %v, want %d", lines[0]["quantity"], final)
			}
		})

		t.Run("mixed", func(t *testing.T) {
			f := f
			f.t = t
			sub := f.create(f.body(cus, 0, subItem(price, 1)))
			id := sub["id"].(string)
			type call struct {
				kind string
				res  *apitest.Response
			}
			calls := make([]call, 10)
			var wg sync.WaitGroup
			for i := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := apitest.Request{Method: "PATCH", Path: "/v1/subscriptions/" + id, Body: map[string]any{
						"customer": cus, "trial_days": 0, "items": []any{subItem(price, int64(i+2))}}}
					kind := "patch"
					switch i % 3 {
					case 1:
						kind, req = "pause", apitest.Request{Method: "POST", Path: "/v1/subscriptions/" + id + "/pause"}
					case 2:
						kind, req = "cancel", apitest.Request{Method: "DELETE", Path: "/v1/subscriptions/" + id}
					}
					calls[i] = call{kind, env.Do(req)}
				}()
			}
			wg.Wait()
			ok := map[string]int{}
			for i, c := range calls {
				switch c.res.Status {
				case 200:
					ok[c.kind]++
				case 400:
					msg := c.res.Message(t)
					if !strings.Contains(msg, "cannot be changed") && !strings.Contains(msg, "cannot be paused") {
						t.Errorf("%s %d refused: %s", c.kind, i, msg)
					}
				default:
					t.Errorf("%s %d: %d %s", c.kind, i, c.res.Status, c.res.Body)
				}
			}
			if ok["cancel"] != 1 || ok["pause"] > 1 {
				t.Fatalf("successes %v: want exactly one cancel and at most one pause", ok)
			}
			evs := f.eventsOf(id)
			count := map[string]int{}
			var lastQty int64 = 1
			cancelled := false
			for _, e := range evs {
				count[e.Type]++
				if cancelled && strings.HasPrefix(e.Type, "subscription.") {
					t.Errorf("%s after subscription.canceled", e.Type)
				}
				switch e.Type {
				case "subscription.updated":
					lastQty = quantityOf(t, e.Data)
				case "subscription.canceled":
					cancelled = true
				}
			}
			if count["subscription.updated"] != ok["patch"] || count["subscription.paused"] != ok["pause"] || count["subscription.canceled"] != 1 {
				t.Fatalf("events %v for successes %v", count, ok)
			}
			got := f.get(id)
			if got["status"] != "cancelled" || quantityOf(t, got) != lastQty {
				t.Fatalf("final %v quantity %d, the last update set %d", got["status"], quantityOf(t, got), lastQty)
			}
		})
	})
}

// Prorations still waiting for a next invoice when a subscription ends are
// invoiced and charged on a final invoice: an upgrade is never lost.
func TestSubscriptionEndingInvoicesPendingProrations(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Upgrader", "up@example.com", "tok_visa")
		small, big := f.price(1000, "month", 1), f.price(2000, "month", 1)
		sub := f.create(f.body(cus, 0, subItem(small, 1)))
		id := sub["id"].(string)
		ps, pe := tsOf(sub, "current_period_start"), tsOf(sub, "current_period_end")
		mid := ps + (pe-ps)/2
		f.moveTo(time.Unix(mid, 0))
		at := f.now()
		env.Patch("/v1/subscriptions/"+id, map[string]any{"customer": cus, "trial_days": 0, "proration_behavior": "create_prorations",
			"items": []any{subItem(big, 1)}}).Want(t, 200)
		env.Delete("/v1/subscriptions/"+id).Want(t, 200)
		f.moveTo(time.Unix(pe+60, 0))
		invs := f.invoices(id)
		if len(invs) != 2 {
			t.Fatalf("%d invoices, want the first and a final one", len(invs))
		}
		final := invs[1]
		half := func(amount int64) int64 { return (amount*(pe-at)*2 + (pe - ps)) / (2 * (pe - ps)) }
		want := half(2000) - half(1000)
		if final["billing_reason"] != "subscription_update" || final["status"] != "paid" || num(final["total"]) != want {
			t.Fatalf("final invoice %v %v total %v, want %d", final["billing_reason"], final["status"], final["total"], want)
		}
		if got := f.get(id); got["ended_at"] == nil || got["status"] != "cancelled" {
			t.Fatalf("after the period: %v", got)
		}
	})
}

// Advancing the clock exactly to a renewal bills and charges it in the same
// advance: the renewal's charge is due with it.
func TestSubscriptionRenewalChargedInTheSameAdvance(t *testing.T) {
	apitest.Each(t, func(t *testing.T, env *apitest.Env) {
		f := newSubFixture(t, env)
		cus := f.inv.customer("Exact", "exact@example.com", "tok_visa")
		sub := f.create(f.body(cus, 0, subItem(f.price(1500, "month", 1), 1)))
		end := tsOf(sub, "current_period_end")
		env.Post("/v1/test-clock/advance", map[string]any{"to": end}).Want(t, 200)
		invs := f.invoices(sub["id"].(string))
		if len(invs) != 2 || invs[1]["status"] != "paid" || tsOf(invs[1], "period_start") != end {
			t.Fatalf("after advancing to the renewal: %d invoices, last %v from %v", len(invs), invs[len(invs)-1]["status"], invs[len(invs)-1]["period_start"])
		}
	})
}
