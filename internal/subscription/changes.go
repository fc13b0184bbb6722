package subscription

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/store"
)

// Proration behaviours of a change (extension; none is the digest's default).
const (
	ProrateNone   = "none"
	ProrateCreate = "create_prorations"
	ProrateAlways = "always_invoice"
)

// UpdateParams is the body of PATCH /subscriptions/{id}: a replacement of
// the items, the trial and the end date. The customer must stay the same.
type UpdateParams struct {
	Customer          *string      `json:"customer"`
	Items             []ItemParams `json:"items"`
	TrialDays         *int64       `json:"trial_days"`
	EndDate           *int64       `json:"end_date"`
	ProrationBehavior *string      `json:"proration_behavior"`
}

func (p *UpdateParams) validate() error {
	if err := checkCommon(p.Customer, p.TrialDays); err != nil {
		return err
	}
	switch {
	case p.ProrationBehavior != nil && *p.ProrationBehavior != ProrateNone && *p.ProrationBehavior != ProrateCreate && *p.ProrationBehavior != ProrateAlways:
		return apperr.Invalidf("proration_behavior must be one of the following values: none, create_prorations, always_invoice")
	}
	if err := checkTime("end_date", p.EndDate); err != nil {
		return err
	}
	return checkItems(p.Items)
}

// change locks a subscription that can still change and runs fn on it.
func (s *Service) change(ctx context.Context, sc account.Scope, subID string, fn func(tx *store.Tx, sub *Subscription) (*string, error)) (*Subscription, error) {
	var charge *string
	var out *Subscription
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		sub, err := getTx(ctx, tx, sc, subID)
		if err != nil {
			return err
		}
		if sub.state == StatusCancelled || sub.state == StatusExpired {
			return apperr.BadRequestf("SUBSCRIPTION_ENDED", "Subscription %s is %s and cannot be changed", sub.ID, sub.state)
		}
		if charge, err = fn(tx, sub); err != nil {
			return err
		}
		out, err = s.read(ctx, tx, sc, subID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.chargeNow(ctx, sc, charge)
	return out, nil
}

// Update replaces a subscription's items, trial and end date. New items
// apply from the next period unless proration_behavior asks for
// prorations: create_prorations adds them to the next invoice,
// always_invoice invoices and charges them at once.
func (s *Service) Update(ctx context.Context, sc account.Scope, subID string, p UpdateParams) (*Subscription, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	behavior := ProrateNone
	if p.ProrationBehavior != nil {
		behavior = *p.ProrationBehavior
	}
	return s.change(ctx, sc, subID, func(tx *store.Tx, sub *Subscription) (*string, error) {
		if *p.Customer != sub.Customer {
			return nil, apperr.Invalidf("customer must stay %s: a subscription cannot move to another customer", sub.Customer)
		}
		items, iv, currency, err := resolveItems(ctx, tx, sc, p.Items)
		if err != nil {
			return nil, err
		}
		if currency != sub.Currency || iv != sub.interval {
			return nil, apperr.Invalidf("items must keep the subscription's currency (%s) and billing interval (every %d %s)",
				sub.Currency, sub.interval.Count, sub.interval.Unit)
		}
		now := sc.Now()
		if err := s.changeTrial(sub, *p.TrialDays, now); err != nil {
			return nil, err
		}
		if p.EndDate != nil {
			if *p.EndDate <= now.Unix() || *p.EndDate <= sub.StartDate {
				return nil, apperr.Invalidf("end_date must be later than now and than start_date")
			}
			sub.EndDate = p.EndDate
		}
		old, err := loadItems(ctx, tx, sub.ID)
		if err != nil {
			return nil, err
		}
		var charge *string
		if behavior != ProrateNone && sub.periodIndex != nil && !sub.paused && sub.state == StatusActive {
			lines, err := s.prorations(ctx, tx, sc, sub, old, items, now)
			if err != nil {
				return nil, err
			}
			switch {
			case len(lines) == 0:
			case behavior == ProrateCreate:
				if err := saveProrations(ctx, tx, sub.ID, lines, now); err != nil {
					return nil, err
				}
			default:
				period := invoice.Period{Start: *sub.CurrentPeriodStart, End: *sub.CurrentPeriodEnd}
				inv, credit, err := s.invoices.CreateForSubscriptionTx(ctx, tx, sc, invoice.Bill{Customer: sub.Customer,
					Subscription: sub.ID, Reason: invoice.ReasonSubscriptionUpdate, Lines: lines, Period: period, Credit: sub.Credit})
				if err != nil {
					return nil, err
				}
				sub.Credit, sub.LatestInvoice = credit, &inv.ID
				if inv.Status == invoice.StatusOpen {
					if err := duework.Schedule(ctx, tx, sc.AccountID, KindCharge, inv.ID, now); err != nil {
						return nil, err
					}
					charge = &inv.ID
				}
			}
		}
		if err := replaceItems(ctx, tx, sc, sub.ID, items, now.Unix()); err != nil {
			return nil, err
		}
		sub.amount = itemsAmount(items)
		if err := s.announce(ctx, tx, sc, sub, "subscription.updated"); err != nil {
			return nil, err
		}
		if _, err := s.cycleTx(ctx, tx, sc, sub); err != nil {
			return nil, err
		}
		return charge, nil
	})
}

// changeTrial sets a new trial length: only before the trial has ended,
// and never moving the billing start before now.
func (s *Service) changeTrial(sub *Subscription, days int64, now time.Time) error {
	current := int64(0)
	if sub.TrialStart != nil && sub.TrialEnd != nil {
		current = (*sub.TrialEnd - *sub.TrialStart) / 86400
	}
	if days == current {
		return nil
	}
	if sub.state != StatusScheduled && sub.state != StatusTrial {
		return apperr.Invalidf("trial_days can change only before the trial ends (the subscription is %s; its trial_days is %d)", sub.state, current)
	}
	start := sub.StartDate
	// Before the first invoice the anchor is where billing starts: the
	// trial's end (or the start) unless start_billing_date is later, and
	// then the anchor is that date, which a new trial must not undo. (A
	// start_billing_date before the trial's end is not stored.)
	billingStart := start
	if sub.TrialEnd != nil {
		billingStart = *sub.TrialEnd
	}
	var billingDate int64
	if sub.periodIndex == nil && sub.BillingCycleAnchor > billingStart {
		billingDate = sub.BillingCycleAnchor
	}
	if days == 0 {
		sub.TrialStart, sub.TrialEnd = nil, nil
		if sub.state == StatusTrial {
			sub.state = StatusActive
		}
		sub.BillingCycleAnchor = max(now.Unix(), start, billingDate)
		return nil
	}
	end := time.Unix(start, 0).UTC().AddDate(0, 0, int(days)).Unix()
	if sub.state == StatusTrial && end <= now.Unix() {
		return apperr.Invalidf("trial_days %d would end the trial in the past", days)
	}
	sub.TrialStart, sub.TrialEnd = &start, &end
	if sub.state == StatusTrial {
		sub.CurrentPeriodStart, sub.CurrentPeriodEnd = &start, &end
	}
	sub.BillingCycleAnchor = max(sub.BillingCycleAnchor, end)
	if sub.periodIndex == nil {
		sub.BillingCycleAnchor = max(end, billingDate)
	}
	return nil
}

// prorations prices the change from old to new items at now within the
// current period.
func (s *Service) prorations(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription, old []*Item, items []resolved, now time.Time) ([]invoice.BillLine, error) {
	taxOf := map[string][]string{}
	var before, after []billing.PricedItem
	for _, it := range old {
		price, err := s.catalog.GetPriceIn(ctx, tx, sc, it.priceID)
		if err != nil {
			return nil, err
		}
		name := it.priceID
		if price.Description != nil {
			name = *price.Description
		}
		before = append(before, billing.PricedItem{PriceID: it.priceID, Name: name, UnitAmount: price.UnitAmount, Quantity: it.Quantity})
		taxOf["old/"+it.priceID] = it.tax
	}
	for _, it := range items {
		name := it.price.ProductName
		if it.price.Description != nil {
			name = *it.price.Description
		}
		after = append(after, billing.PricedItem{PriceID: it.price.ID, Name: name, UnitAmount: it.price.UnitAmount, Quantity: *it.params.Quantity})
		taxOf["new/"+it.price.ID] = it.params.Tax
	}
	ps, pe := time.Unix(*sub.CurrentPeriodStart, 0).UTC(), time.Unix(*sub.CurrentPeriodEnd, 0).UTC()
	prorated, err := billing.Prorations(before, after, ps, pe, now)
	if err != nil {
		return nil, fmt.Errorf("prorate %s: %w", sub.ID, err)
	}
	lines := make([]invoice.BillLine, 0, len(prorated))
	for _, l := range prorated {
		tax := taxOf["new/"+l.PriceID]
		if l.Amount < 0 {
			tax = taxOf["old/"+l.PriceID]
		}
		amount := l.Amount
		lines = append(lines, invoice.BillLine{PriceID: l.PriceID, Quantity: l.Quantity, Tax: tax, Amount: &amount,
			Description: l.Description, Period: invoice.Period{Start: l.PeriodStart.Unix(), End: l.PeriodEnd.Unix()}})
	}
	return lines, nil
}

func saveProrations(ctx context.Context, tx *store.Tx, subID string, lines []invoice.BillLine, now time.Time) error {
	for _, l := range lines {
		tax, _ := json.Marshal(l.Tax)
		if l.Tax == nil {
			tax = []byte("[]")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_prorations (subscription_id, price_id, description, amount, tax,
			period_start, period_end, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			subID, l.PriceID, l.Description, *l.Amount, string(tax), l.Period.Start, l.Period.End, now.Unix()); err != nil {
			return fmt.Errorf("save proration of %s: %w", subID, err)
		}
	}
	return nil
}

func pendingProrations(ctx context.Context, q store.Querier, subID string) ([]invoice.BillLine, error) {
	rows, err := q.QueryContext(ctx, `SELECT price_id, description, amount, tax, period_start, period_end FROM subscription_prorations
		WHERE subscription_id = $1 ORDER BY seq`, subID)
	if err != nil {
		return nil, fmt.Errorf("prorations of %s: %w", subID, err)
	}
	defer rows.Close()
	var out []invoice.BillLine
	for rows.Next() {
		var l invoice.BillLine
		var amount int64
		var tax string
		if err := rows.Scan(&l.PriceID, &l.Description, &amount, &tax, &l.Period.Start, &l.Period.End); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(tax), &l.Tax); err != nil {
			return nil, err
		}
		l.Amount, l.Quantity = &amount, 1
		out = append(out, l)
	}
	return out, rows.Err()
}

// Cancel cancels a subscription at the merchant's request: it reads
// cancelled at once; it ends at the end of the period already billed,
// at once when nothing was billed, or on its start date when it has not
// started.
func (s *Service) Cancel(ctx context.Context, sc account.Scope, subID string) (*Subscription, error) {
	return s.change(ctx, sc, subID, func(tx *store.Tx, sub *Subscription) (*string, error) {
		now := sc.Now().Unix()
		switch {
		case sub.state == StatusScheduled:
			sub.CancelAt = ptr(sub.StartDate)
		case sub.periodIndex == nil:
			sub.CancelAt, sub.EndedAt = ptr(now), ptr(now)
		default:
			sub.CancelAt, sub.CancelAtPeriodEnd = sub.CurrentPeriodEnd, true
		}
		sub.state, sub.CanceledAt = StatusCancelled, ptr(now)
		sub.derive() // stored by cycleTx below
		if err := s.recordEvent(ctx, tx, sc, sub, "subscription.canceled", "requested", "merchant"); err != nil {
			return nil, err
		}
		_, err := s.cycleTx(ctx, tx, sc, sub)
		return nil, err
	})
}

// Pause holds an active or trialing subscription: nothing is billed until
// it is resumed.
func (s *Service) Pause(ctx context.Context, sc account.Scope, subID string) (*Subscription, error) {
	return s.change(ctx, sc, subID, func(tx *store.Tx, sub *Subscription) (*string, error) {
		if sub.paused || (sub.state != StatusActive && sub.state != StatusTrial) {
			return nil, apperr.BadRequestf("SUBSCRIPTION_NOT_PAUSABLE", "Subscription cannot be paused: it is %s", sub.Status)
		}
		now := sc.Now().Unix()
		sub.paused, sub.PausedAt = true, ptr(now)
		sub.derive() // stored by cycleTx below
		if err := s.recordEvent(ctx, tx, sc, sub, "subscription.paused", "requested", "merchant"); err != nil {
			return nil, err
		}
		_, err := s.cycleTx(ctx, tx, sc, sub)
		return nil, err
	})
}

// Resume lifts a pause. A subscription that was billing starts a new
// period on the resume date, billed then; the paused time is not billed.
func (s *Service) Resume(ctx context.Context, sc account.Scope, subID string) (*Subscription, error) {
	return s.change(ctx, sc, subID, func(tx *store.Tx, sub *Subscription) (*string, error) {
		if !sub.paused {
			return nil, apperr.BadRequestf("SUBSCRIPTION_NOT_PAUSED", "Subscription is not paused")
		}
		now := sc.Now().Unix()
		pausedAt := sub.PausedAt
		sub.paused, sub.PausedAt = false, nil
		if sub.periodIndex != nil {
			// The time paid for but not used since the pause is credited
			// to the new period's invoice.
			if err := s.creditPause(ctx, tx, sc, sub, *pausedAt); err != nil {
				return nil, err
			}
			// A new cycle from today: the period index starts again.
			sub.BillingCycleAnchor, sub.periodIndex = now, nil
		} else if sub.BillingCycleAnchor < now && sub.state == StatusActive {
			sub.BillingCycleAnchor = now
		}
		sub.derive() // stored by cycleTx below
		if err := s.recordEvent(ctx, tx, sc, sub, "subscription.resumed", "requested", "merchant"); err != nil {
			return nil, err
		}
		return s.cycleTx(ctx, tx, sc, sub)
	})
}

// creditPause adds, for each item, a credit for the part of the paid
// period that a pause begun at pausedAt left unused.
func (s *Service) creditPause(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription, pausedAt int64) error {
	if sub.CurrentPeriodStart == nil || sub.CurrentPeriodEnd == nil || pausedAt >= *sub.CurrentPeriodEnd {
		return nil
	}
	ps, pe := time.Unix(*sub.CurrentPeriodStart, 0).UTC(), time.Unix(*sub.CurrentPeriodEnd, 0).UTC()
	from := time.Unix(max(pausedAt, *sub.CurrentPeriodStart), 0).UTC()
	items, err := loadItems(ctx, tx, sub.ID)
	if err != nil {
		return err
	}
	var lines []invoice.BillLine
	for _, it := range items {
		price, err := catalog.GetPriceTx(ctx, tx, sc.AccountID, it.priceID)
		if err != nil {
			return err
		}
		full, err := billing.ItemAmount(billing.Standard, price.UnitAmount, it.Quantity)
		if err != nil {
			return err
		}
		part, err := billing.Prorate(full, ps, pe, from)
		if err != nil {
			return fmt.Errorf("credit pause of %s: %w", sub.ID, err)
		}
		if part == 0 {
			continue
		}
		amount := -part
		lines = append(lines, invoice.BillLine{PriceID: it.priceID, Quantity: it.Quantity, Tax: it.tax, Amount: &amount,
			Description: fmt.Sprintf("Unused time on %s since the pause on %s", describeItem(price, it.Quantity), from.Format("2 Jan 2006")),
			Period:      invoice.Period{Start: from.Unix(), End: pe.Unix()}})
	}
	return saveProrations(ctx, tx, sub.ID, lines, sc.Now())
}

func describeItem(p *catalog.PriceInfo, quantity int64) string {
	name := p.ProductName
	if p.Description != nil && *p.Description != "" {
		name = *p.Description
	}
	if quantity != 1 {
		return fmt.Sprintf("%d × %s", quantity, name)
	}
	return name
}

// Upcoming is the next invoice as it would be built now: its lines, taxes
// and totals for the next period, with pending prorations and credit.
// Nothing is written.
func (s *Service) Upcoming(ctx context.Context, sc account.Scope, subID string) (*invoice.Invoice, error) {
	var out *invoice.Invoice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		sub, err := get(ctx, tx, sc, subID, "")
		if err != nil {
			return err
		}
		next := sub.nextBilling()
		if next == nil && sub.state == StatusScheduled && !sub.paused {
			// Not started yet: its first invoice is for the period at the
			// anchor (nextBilling leaves the start to the start boundary).
			first := billing.PeriodStart(time.Unix(sub.BillingCycleAnchor, 0).UTC(), sub.interval, 0)
			next = &first
		}
		if next == nil || sub.ended() || (sub.EndDate != nil && next.Unix() >= *sub.EndDate) {
			return apperr.BadRequestf("NO_UPCOMING_INVOICE", "Subscription %s has no upcoming invoice", sub.ID)
		}
		_, end, _ := billing.PeriodAt(time.Unix(sub.BillingCycleAnchor, 0).UTC(), sub.interval, *next)
		period := invoice.Period{Start: next.Unix(), End: end.Unix()}
		items, err := loadItems(ctx, tx, sub.ID)
		if err != nil {
			return err
		}
		var lines []invoice.BillLine
		for _, it := range items {
			lines = append(lines, invoice.BillLine{PriceID: it.priceID, Quantity: it.Quantity, Tax: it.tax, Period: period})
		}
		pending, err := pendingProrations(ctx, tx, sub.ID)
		if err != nil {
			return err
		}
		out, err = s.invoices.PreviewForSubscriptionTx(ctx, tx, sc, invoice.Bill{Customer: sub.Customer, Subscription: sub.ID,
			Reason: invoice.ReasonSubscription, Lines: append(lines, pending...), Period: period, Credit: sub.Credit})
		if err != nil {
			return err
		}
		return errPreview // nothing is kept
	})
	if err == errPreview {
		err = nil
	}
	return out, err
}

var errPreview = fmt.Errorf("preview: roll back")
