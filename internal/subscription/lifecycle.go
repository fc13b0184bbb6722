package subscription

import (
	"context"
	"fmt"
	"time"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/duework"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxrate"
)

// A renewal's charge item is due with the renewal itself, so that a worker
// (or a test-clock advance) charges it at once. When a request creates the
// invoice (a new subscription, a resume, always_invoice) it also charges it
// itself after commit; the two cannot charge twice (invoice.Pay takes one
// attempt at a time), and the item then finds the invoice attempted.

// Create starts a subscription. A start_date in the past starts it now
// (nothing is billed for the time before). Without a trial, billing starts
// at start_billing_date or the start; with one, at the trial's end at the
// earliest. A subscription that bills at once has its first invoice
// finalized in the same transaction, and charged before Create returns.
func (s *Service) Create(ctx context.Context, sc account.Scope, p CreateParams) (*Subscription, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var sub, out *Subscription
	var charge *string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		charge = nil
		cust, err := customer.GetTx(ctx, tx, sc, *p.Customer)
		if err != nil {
			return err
		}
		items, iv, currency, err := resolveItems(ctx, tx, sc, p.Items)
		if err != nil {
			return err
		}
		now := sc.Now().Unix()
		start := max(*p.StartDate, now)
		sub = &Subscription{ID: id.New(id.Subscription), Object: "subscription", Customer: cust.ID, Currency: currency,
			CollectionMethod: invoice.ChargeAutomatically, StartDate: start, EndDate: p.EndDate, Created: now,
			Livemode: sc.Livemode, interval: iv, amount: itemsAmount(items)}
		if sub.EndDate != nil && *sub.EndDate <= start {
			return apperr.Invalidf("end_date must be later than the start (%d)", start)
		}
		billFrom := start
		if p.StartBillingDate != nil {
			billFrom = max(*p.StartBillingDate, start)
		}
		sub.state = StatusActive
		if *p.TrialDays > 0 {
			trialEnd := time.Unix(start, 0).UTC().AddDate(0, 0, int(*p.TrialDays)).Unix()
			sub.TrialStart, sub.TrialEnd = ptr(start), ptr(trialEnd)
			sub.CurrentPeriodStart, sub.CurrentPeriodEnd = ptr(start), ptr(trialEnd)
			billFrom = max(billFrom, trialEnd)
			sub.state = StatusTrial
		}
		if start > now {
			sub.state = StatusScheduled
			sub.CurrentPeriodStart, sub.CurrentPeriodEnd = nil, nil
		}
		sub.BillingCycleAnchor = billFrom
		sub.derive()
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (id, account_id, customer_id, status, state, paused, currency,
			interval_unit, interval_count, amount, collection_method, start_date, end_date, trial_start, trial_end,
			billing_cycle_anchor, current_period_start, current_period_end, cancel_at_period_end, created, updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)`,
			sub.ID, sc.AccountID, sub.Customer, sub.Status, sub.state, false, sub.Currency, iv.Unit, iv.Count, sub.amount,
			sub.CollectionMethod, sub.StartDate, sub.EndDate, sub.TrialStart, sub.TrialEnd, sub.BillingCycleAnchor,
			sub.CurrentPeriodStart, sub.CurrentPeriodEnd, false, now); err != nil {
			return fmt.Errorf("insert subscription: %w", err)
		}
		if err := replaceItems(ctx, tx, sc, sub.ID, items, now); err != nil {
			return err
		}
		if err := s.recordEvent(ctx, tx, sc, sub, "subscription.created", "", ""); err != nil {
			return err
		}
		if charge, err = s.cycleTx(ctx, tx, sc, sub); err != nil {
			return err
		}
		out, err = s.read(ctx, tx, sc, sub.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.chargeNow(ctx, sc, charge)
	return out, nil
}

// chargeNow charges a just-created invoice within the request; what fails
// here is left to its due-work item.
func (s *Service) chargeNow(ctx context.Context, sc account.Scope, invoiceID *string) {
	if invoiceID != nil {
		_, _ = s.Charge(ctx, sc, *invoiceID)
	}
}

// recordEvent announces sub as it is now (items embedded) inside tx.
func (s *Service) recordEvent(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription, typ, reason, by string) error {
	items, err := loadItems(ctx, tx, sub.ID)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Price, err = s.catalog.GetPriceIn(ctx, tx, sc, it.priceID); err != nil {
			return err
		}
		it.TaxRates = make([]*taxrate.TaxRate, 0, len(it.tax))
		for _, t := range it.tax {
			r, err := s.taxes.GetIn(ctx, tx, sc, t)
			if err != nil {
				return err
			}
			it.TaxRates = append(it.TaxRates, r)
		}
	}
	snapshot := *sub
	snapshot.Items = Items{Object: "list", Data: items, TotalCount: len(items)}
	if snapshot.Items.Data == nil {
		snapshot.Items.Data = []*Item{}
	}
	snapshot.Reason, snapshot.InitiatedBy = reason, by
	return event.Record(ctx, tx, sc, typ, &snapshot)
}

// nextBilling is the start of the period to bill next, or nil when
// nothing is to be billed (not started, paused, ending).
func (sub *Subscription) nextBilling() *time.Time {
	if sub.paused || sub.state == StatusScheduled || sub.state == StatusExpired {
		return nil
	}
	k := int64(0)
	if sub.periodIndex != nil {
		k = *sub.periodIndex + 1
	}
	t := billing.PeriodStart(time.Unix(sub.BillingCycleAnchor, 0).UTC(), sub.interval, k)
	if sub.state == StatusCancelled && sub.CancelAt != nil && t.Unix() >= *sub.CancelAt {
		return nil
	}
	return &t
}

// nextDue is the subscription's next boundary: when KindCycle runs again.
func (sub *Subscription) nextDue() time.Time {
	var next time.Time
	consider := func(t *int64) {
		if t == nil {
			return
		}
		if v := time.Unix(*t, 0).UTC(); next.IsZero() || v.Before(next) {
			next = v
		}
	}
	if sub.ended() {
		return time.Time{}
	}
	if sub.state == StatusScheduled {
		consider(&sub.StartDate)
	}
	if sub.state == StatusTrial {
		consider(sub.TrialEnd)
	}
	if sub.state == StatusCancelled {
		consider(sub.CancelAt)
	}
	consider(sub.EndDate)
	if t := sub.nextBilling(); t != nil {
		consider(ptr(t.Unix()))
	}
	return next
}

// cycleTx moves sub over every boundary due by sc.Now(), in order, inside
// tx: start, expiry, the end of a cancellation, trial end, renewal. It
// stores the result, schedules the next boundary, and returns the invoice
// to charge, if one was created.
func (s *Service) cycleTx(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription) (*string, error) {
	now := sc.Now()
	nowUnix := now.Unix()
	var charge *string
	for step := 0; step < 16 && !sub.ended(); step++ {
		due := sub.nextDue()
		if due.IsZero() || due.After(now) {
			break
		}
		at := due.Unix()
		switch {
		case sub.state == StatusScheduled && at >= sub.StartDate && (sub.EndDate == nil || at < *sub.EndDate):
			sub.state = StatusActive
			if sub.TrialEnd != nil && *sub.TrialEnd > sub.StartDate {
				sub.state = StatusTrial
				sub.CurrentPeriodStart, sub.CurrentPeriodEnd = ptr(sub.StartDate), sub.TrialEnd
			}
			if err := s.announce(ctx, tx, sc, sub, "subscription.updated"); err != nil {
				return nil, err
			}
		case sub.EndDate != nil && at >= *sub.EndDate:
			sub.state, sub.EndedAt = StatusExpired, ptr(*sub.EndDate)
			inv, err := s.finalBillTx(ctx, tx, sc, sub)
			if err != nil {
				return nil, err
			}
			if inv != nil {
				charge = inv
			}
			if err := s.announce(ctx, tx, sc, sub, "subscription.updated"); err != nil {
				return nil, err
			}
		case sub.state == StatusCancelled && sub.CancelAt != nil && at >= *sub.CancelAt:
			sub.EndedAt = ptr(*sub.CancelAt)
			inv, err := s.finalBillTx(ctx, tx, sc, sub)
			if err != nil {
				return nil, err
			}
			if inv != nil {
				charge = inv
			}
			if err := s.announce(ctx, tx, sc, sub, "subscription.updated"); err != nil {
				return nil, err
			}
		case sub.state == StatusTrial && sub.TrialEnd != nil && at >= *sub.TrialEnd:
			sub.state = StatusActive
			if err := s.announce(ctx, tx, sc, sub, "subscription.updated"); err != nil {
				return nil, err
			}
		default:
			inv, err := s.renewTx(ctx, tx, sc, sub, due)
			if err != nil {
				return nil, err
			}
			if inv != nil {
				charge = inv
			}
		}
	}
	if err := write(ctx, tx, sc, sub, nowUnix); err != nil {
		return nil, err
	}
	if next := sub.nextDue(); !next.IsZero() {
		return charge, duework.Schedule(ctx, tx, sc.AccountID, KindCycle, sub.ID, next)
	}
	return charge, duework.Cancel(ctx, tx, KindCycle, sub.ID)
}

// announce records sub as it now is (its status derived anew); cycleTx,
// which every change ends with, stores it once.
func (s *Service) announce(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription, typ string) error {
	sub.derive()
	return s.recordEvent(ctx, tx, sc, sub, typ, "", "")
}

// renewTx bills the period starting at start: an invoice of the items for
// the period plus pending prorations, finalized, with its charge scheduled.
// A period already billed is never billed again.
func (s *Service) renewTx(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription, start time.Time) (*string, error) {
	anchor := time.Unix(sub.BillingCycleAnchor, 0).UTC()
	_, end, k := billing.PeriodAt(anchor, sub.interval, start)
	period := invoice.Period{Start: start.Unix(), End: end.Unix()}
	items, err := loadItems(ctx, tx, sub.ID)
	if err != nil {
		return nil, err
	}
	var lines []invoice.BillLine
	for _, it := range items {
		lines = append(lines, invoice.BillLine{PriceID: it.priceID, Quantity: it.Quantity, Tax: it.tax, Period: period})
	}
	pending, err := pendingProrations(ctx, tx, sub.ID)
	if err != nil {
		return nil, err
	}
	lines = append(lines, pending...)
	res, err := tx.ExecContext(ctx, `INSERT INTO subscription_periods (subscription_id, period_start, period_end, invoice_id, created)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, period_start) DO NOTHING`,
		sub.ID, period.Start, period.End, "", sc.Now().Unix())
	if err != nil {
		return nil, fmt.Errorf("claim period of %s: %w", sub.ID, err)
	}
	sub.periodIndex = &k
	sub.CurrentPeriodStart, sub.CurrentPeriodEnd = &period.Start, &period.End
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil // billed already: only the period moves on
	}
	inv, credit, err := s.invoices.CreateForSubscriptionTx(ctx, tx, sc, invoice.Bill{Customer: sub.Customer, Subscription: sub.ID,
		Reason: invoice.ReasonSubscription, Lines: lines, Period: period, Credit: sub.Credit})
	if err != nil {
		return nil, fmt.Errorf("renew %s: %w", sub.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE subscription_periods SET invoice_id = $1 WHERE subscription_id = $2 AND period_start = $3`,
		inv.ID, sub.ID, period.Start); err != nil {
		return nil, fmt.Errorf("renew %s: %w", sub.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscription_prorations WHERE subscription_id = $1`, sub.ID); err != nil {
		return nil, fmt.Errorf("renew %s: %w", sub.ID, err)
	}
	sub.Credit, sub.LatestInvoice = credit, &inv.ID
	if inv.Status != invoice.StatusOpen {
		return nil, nil // nothing due: paid as it was finalized
	}
	if err := duework.Schedule(ctx, tx, sc.AccountID, KindCharge, inv.ID, sc.Now()); err != nil {
		return nil, err
	}
	return &inv.ID, nil
}

// finalBillTx invoices what an ending subscription still owes: prorations
// waiting for a next invoice that will not come. Credit left over is not
// paid out (Kassa has no customer balance yet): it ends with the
// subscription.
func (s *Service) finalBillTx(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription) (*string, error) {
	pending, err := pendingProrations(ctx, tx, sub.ID)
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	period := invoice.Period{Start: pending[0].Period.Start, End: *sub.EndedAt}
	if sub.CurrentPeriodStart != nil {
		period.Start = *sub.CurrentPeriodStart
	}
	inv, credit, err := s.invoices.CreateForSubscriptionTx(ctx, tx, sc, invoice.Bill{Customer: sub.Customer, Subscription: sub.ID,
		Reason: invoice.ReasonSubscriptionUpdate, Lines: pending, Period: period, Credit: sub.Credit})
	if err != nil {
		return nil, fmt.Errorf("final invoice of %s: %w", sub.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscription_prorations WHERE subscription_id = $1`, sub.ID); err != nil {
		return nil, err
	}
	sub.Credit, sub.LatestInvoice = credit, &inv.ID
	if inv.Status != invoice.StatusOpen {
		return nil, nil
	}
	if err := duework.Schedule(ctx, tx, sc.AccountID, KindCharge, inv.ID, sc.Now()); err != nil {
		return nil, err
	}
	return &inv.ID, nil
}

// Cycle is the KindCycle handler: it moves the subscription over what is
// due at the item's time (sc is frozen there). The charge of a renewal is
// its own item.
func (s *Service) Cycle(ctx context.Context, tx *store.Tx, sc account.Scope, subID string) error {
	sub, err := getTx(ctx, tx, sc, subID)
	if apperr.IsKind(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.cycleTx(ctx, tx, sc, sub)
	return err
}

// Charge is the KindCharge handler: it charges an open subscription invoice
// to the customer's default payment method once. A decline leaves the
// invoice open (revenue recovery takes it from there); it is not retried
// here. It returns when to try again, for an attempt still in flight.
func (s *Service) Charge(ctx context.Context, sc account.Scope, invoiceID string) (time.Time, error) {
	inv, err := s.invoices.Get(ctx, sc, invoiceID)
	if apperr.IsKind(err, apperr.NotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if inv.Status != invoice.StatusOpen || inv.Attempted {
		return time.Time{}, nil
	}
	_, err = s.invoices.Pay(ctx, sc, invoiceID)
	var e *apperr.Error
	switch {
	case err == nil:
		return time.Time{}, nil
	case apperr.IsKind(err, apperr.Conflict):
		return sc.Now().Add(time.Minute), nil // another attempt is under way
	case asAppErr(err, &e) && e.Kind != apperr.Internal:
		return time.Time{}, nil // declined, unconfirmed (reconciled), no method: recorded on the invoice
	}
	return time.Time{}, err
}

func asAppErr(err error, target **apperr.Error) bool {
	e, ok := apperr.As(err)
	if ok {
		*target = e
	}
	return ok
}
