// Package subscription bills customers by itself: subscriptions with their
// items, trials, scheduled starts, renewals, changes with prorations, pause,
// resume, cancellation and expiry.
//
// Time is the due-work queue's: every subscription has one KindCycle item,
// due at its next boundary (start, trial end, period start, cancellation,
// end date), scheduled in the transaction of the change that implies it.
// A renewal is one transaction — the invoice with its lines and totals,
// the subscription's new period, the events, and the charge's due-work
// item — and the subscription_periods key makes it impossible to repeat;
// the charge then goes through the payment pipeline with its idempotency
// key, so a crash leaves either nothing or a whole renewal.
//
// Lock order, for every transaction that touches a subscription: the
// subscription row, then the customer row, then the catalog rows (shared),
// then the invoice-number counter.
package subscription

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxrate"
)

// Due-work kinds of subscriptions.
const (
	// KindCycle moves a subscription over its next boundary.
	KindCycle = "subscription.cycle"
	// KindCharge charges a subscription's open invoice.
	KindCharge = "subscription.charge"
)

// Statuses, as the API shows them (the digest's seven).
const (
	StatusActive    = "active"
	StatusTrial     = "trial"
	StatusScheduled = "scheduled"
	StatusPaused    = "paused"
	StatusUnpaid    = "unpaid"
	StatusCancelled = "cancelled"
	StatusExpired   = "expired"
)

// statusAliases are the stale names the contract's enum still has,
// accepted in searches.
var statusAliases = map[string]string{"trialing": StatusTrial, "canceled": StatusCancelled}

var statuses = map[string]bool{StatusActive: true, StatusTrial: true, StatusScheduled: true, StatusPaused: true,
	StatusUnpaid: true, StatusCancelled: true, StatusExpired: true}

// Limits of a subscription.
const (
	maxItems     = 20
	maxTrialDays = 730
)

// Subscription is the API object.
type Subscription struct {
	ID                 string  `json:"id"`
	Object             string  `json:"object"`
	BillingCycleAnchor int64   `json:"billing_cycle_anchor"`
	CancelAt           *int64  `json:"cancel_at"`
	CancelAtPeriodEnd  bool    `json:"cancel_at_period_end"`
	CanceledAt         *int64  `json:"canceled_at"`
	CollectionMethod   string  `json:"collection_method"`
	Created            int64   `json:"created"`
	Currency           string  `json:"currency"`
	Customer           string  `json:"customer"`
	EndedAt            *int64  `json:"ended_at"`
	Items              Items   `json:"items"`
	LatestInvoice      *string `json:"latest_invoice"`
	StartDate          int64   `json:"start_date"`
	Status             string  `json:"status"`
	TrialStart         *int64  `json:"trial_start"`
	TrialEnd           *int64  `json:"trial_end"`
	EndDate            *int64  `json:"end_date"`
	CurrentPeriodStart *int64  `json:"current_period_start"`
	CurrentPeriodEnd   *int64  `json:"current_period_end"`
	PausedAt           *int64  `json:"paused_at"`
	// Credit is what downgrades left for the next invoices (minor units).
	Credit   int64 `json:"credit_balance"`
	Livemode bool  `json:"livemode"`
	// Reason and InitiatedBy are set on canceled, paused and resumed events only.
	Reason      string `json:"reason,omitempty"`
	InitiatedBy string `json:"initiated_by,omitempty"`

	state       string
	paused      bool
	interval    billing.Interval
	periodIndex *int64
	amount      int64
	updated     int64
}

// Items is the list of a subscription's items.
type Items struct {
	Object     string  `json:"object"`
	Data       []*Item `json:"data"`
	TotalCount int     `json:"total_count"`
}

// Item is one price on a subscription, with its quantity and tax rates.
type Item struct {
	ID       string             `json:"id"`
	Object   string             `json:"object"`
	Quantity int64              `json:"quantity"`
	Created  int64              `json:"created"`
	Price    *catalog.Price     `json:"price"`
	TaxRates []*taxrate.TaxRate `json:"tax_rates"`

	priceID string
	tax     []string
}

// ItemParams is one requested item: a price, a quantity, its tax rates
// (the shape of an invoice's).
type ItemParams = invoice.ItemParams

// CreateParams is the body of POST /subscriptions.
type CreateParams struct {
	Customer         *string      `json:"customer"`
	Items            []ItemParams `json:"items"`
	TrialDays        *int64       `json:"trial_days"`
	StartDate        *int64       `json:"start_date"`
	EndDate          *int64       `json:"end_date"`
	StartBillingDate *int64       `json:"start_billing_date"`
}

// Service manages subscriptions and bills them.
type Service struct {
	db       *store.DB
	catalog  *catalog.Service
	taxes    *taxrate.Service
	invoices *invoice.Service
}

// NewService returns a Service.
func NewService(db *store.DB, catalogs *catalog.Service, taxes *taxrate.Service, invoices *invoice.Service) *Service {
	return &Service{db: db, catalog: catalogs, taxes: taxes, invoices: invoices}
}

func notFound(subID string) error { return apperr.NotFoundf("Subscription %s not found", subID) }

func checkItems(items []ItemParams) error { return invoice.CheckItems(items, maxItems) }

// checkCommon checks what create and update share: the customer and the
// trial's length.
func checkCommon(customer *string, trialDays *int64) error {
	switch {
	case customer == nil || *customer == "":
		return apperr.Invalidf("customer should not be empty")
	case trialDays == nil:
		return apperr.Invalidf("trial_days should not be empty")
	case *trialDays < 0:
		return apperr.Invalidf("trial_days must not be less than 0")
	case *trialDays > maxTrialDays:
		return apperr.Invalidf("trial_days must not be greater than %d", maxTrialDays)
	}
	return nil
}

func checkTime(name string, v *int64) error {
	if v != nil && (*v <= 0 || *v > account.MaxClockTime) {
		return apperr.Invalidf("%s must be a positive Unix time no later than %d", name, int64(account.MaxClockTime))
	}
	return nil
}

func (p *CreateParams) validate() error {
	if err := checkCommon(p.Customer, p.TrialDays); err != nil {
		return err
	}
	if p.StartDate == nil {
		return apperr.Invalidf("start_date should not be empty")
	}
	for _, t := range []struct {
		name string
		v    *int64
	}{{"start_date", p.StartDate}, {"end_date", p.EndDate}, {"start_billing_date", p.StartBillingDate}} {
		if err := checkTime(t.name, t.v); err != nil {
			return err
		}
	}
	if p.EndDate != nil && *p.EndDate <= *p.StartDate {
		return apperr.Invalidf("end_date must be later than start_date")
	}
	if p.StartBillingDate != nil && *p.StartBillingDate < *p.StartDate {
		return apperr.Invalidf("start_billing_date must not be earlier than start_date")
	}
	return checkItems(p.Items)
}

// resolved is a validated item: its price and tax rates as the tax maths
// takes them.
type resolved struct {
	params ItemParams
	price  *catalog.PriceInfo
}

// resolveItems checks the items against the catalog inside tx: active
// recurring prices of this account in one currency and one interval, usable
// tax rates that agree with the price on inclusive or exclusive tax.
func resolveItems(ctx context.Context, tx *store.Tx, sc account.Scope, items []ItemParams) ([]resolved, billing.Interval, string, error) {
	out := make([]resolved, len(items))
	var iv billing.Interval
	var currency string
	for i, it := range items {
		price, err := catalog.GetPriceTx(ctx, tx, sc.AccountID, *it.Price)
		if err != nil {
			return nil, iv, "", err
		}
		if err := price.CheckSellable(); err != nil {
			return nil, iv, "", err
		}
		if price.Recurring == nil {
			return nil, iv, "", apperr.Invalidf("items[%d].price %s is a one-time price: a subscription needs recurring prices", i, price.ID)
		}
		piv := billing.Interval{Unit: price.Recurring.Interval, Count: max(price.Recurring.IntervalCount, 1)}
		if i == 0 {
			iv, currency = piv, price.Currency
		} else {
			if price.Currency != currency {
				return nil, iv, "", apperr.Invalidf("items[%d].price is in %s but items[0].price is in %s: all items must share one currency", i, price.Currency, currency)
			}
			if piv != iv {
				return nil, iv, "", apperr.Invalidf("items[%d].price bills every %d %s but items[0].price every %d %s: all items must share one billing interval",
					i, piv.Count, piv.Unit, iv.Count, iv.Unit)
			}
		}
		rates := make([]billing.Rate, 0, len(it.Tax))
		for j, taxID := range it.Tax {
			r, err := taxrate.GetTx(ctx, tx, sc, taxID)
			if err != nil {
				return nil, iv, "", err
			}
			if err := r.CheckUsable(); err != nil {
				// The message is what the client reads: it names the item
				// there (wrapping would leave the apperr's message alone).
				if e, ok := apperr.As(err); ok {
					return nil, iv, "", apperr.New(e.Kind, e.Code, fmt.Sprintf("items[%d].tax[%d]: %s", i, j, e.Message))
				}
				return nil, iv, "", err
			}
			rates = append(rates, r.Rate)
		}
		if err := billing.CheckBehavior(price.Inclusive(), rates); err != nil {
			return nil, iv, "", apperr.Invalidf("items[%d]: price %s is tax %s and its tax rates must agree: %v", i, price.ID, price.TaxBehavior, err)
		}
		if _, err := billing.ItemAmount(billing.Standard, price.UnitAmount, *it.Quantity); err != nil {
			return nil, iv, "", apperr.Invalidf("items[%d].quantity: %v", i, err)
		}
		out[i] = resolved{params: it, price: price}
	}
	return out, iv, currency, nil
}

func itemsAmount(items []resolved) int64 {
	var sum int64
	for _, it := range items {
		a, _ := billing.ItemAmount(billing.Standard, it.price.UnitAmount, *it.params.Quantity)
		sum += a
	}
	return sum
}

func taxJSON(tax []string) string {
	if tax == nil {
		tax = []string{}
	}
	b, _ := json.Marshal(tax)
	return string(b)
}

func replaceItems(ctx context.Context, tx *store.Tx, sc account.Scope, subID string, items []resolved, now int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscription_items WHERE subscription_id = $1`, subID); err != nil {
		return fmt.Errorf("replace items of %s: %w", subID, err)
	}
	for _, it := range items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_items (id, account_id, subscription_id, price_id, quantity, tax, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id.New("si"), sc.AccountID, subID, it.price.ID, *it.params.Quantity,
			taxJSON(it.params.Tax), now); err != nil {
			return fmt.Errorf("insert item of %s: %w", subID, err)
		}
	}
	return nil
}

// status derives what the API shows: expired > cancelled > scheduled >
// trial > unpaid > paused > active.
func (s *Subscription) derive() {
	switch {
	case s.state == StatusExpired || s.state == StatusCancelled || s.state == StatusScheduled || s.state == StatusTrial:
		s.Status = s.state
	case s.paused:
		s.Status = StatusPaused
	default:
		s.Status = StatusActive
	}
}

const columns = `s.id, s.customer_id, s.state, s.paused, s.currency, s.interval_unit, s.interval_count, s.amount,
	s.collection_method, s.start_date, s.end_date, s.trial_start, s.trial_end, s.billing_cycle_anchor, s.period_index,
	s.current_period_start, s.current_period_end, s.cancel_at, s.cancel_at_period_end, s.canceled_at, s.ended_at,
	s.paused_at, s.latest_invoice, s.credit, s.created, s.updated`

func scan(row store.Row, livemode bool) (*Subscription, error) {
	s := &Subscription{Object: "subscription", Livemode: livemode}
	if err := row.Scan(&s.ID, &s.Customer, &s.state, &s.paused, &s.Currency, &s.interval.Unit, &s.interval.Count, &s.amount,
		&s.CollectionMethod, &s.StartDate, &s.EndDate, &s.TrialStart, &s.TrialEnd, &s.BillingCycleAnchor, &s.periodIndex,
		&s.CurrentPeriodStart, &s.CurrentPeriodEnd, &s.CancelAt, &s.CancelAtPeriodEnd, &s.CanceledAt, &s.EndedAt,
		&s.PausedAt, &s.LatestInvoice, &s.Credit, &s.Created, &s.updated); err != nil {
		return nil, err
	}
	s.derive()
	return s, nil
}

func get(ctx context.Context, q store.Querier, sc account.Scope, subID, lock string) (*Subscription, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+columns+` FROM subscriptions s WHERE s.account_id = $1 AND s.id = $2`+lock,
		sc.AccountID, subID), func(r store.Row) (*Subscription, error) { return scan(r, sc.Livemode) },
		func() error { return notFound(subID) }, "subscription "+subID)
}

func getTx(ctx context.Context, tx *store.Tx, sc account.Scope, subID string) (*Subscription, error) {
	return get(ctx, tx, sc, subID, tx.Dialect.ForUpdate())
}

// loadItems reads a subscription's items (price and tax ids only).
func loadItems(ctx context.Context, q store.Querier, subID string) ([]*Item, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, price_id, quantity, tax, created FROM subscription_items WHERE subscription_id = $1 ORDER BY seq`, subID)
	if err != nil {
		return nil, fmt.Errorf("items of %s: %w", subID, err)
	}
	defer rows.Close()
	var out []*Item
	for rows.Next() {
		it := &Item{Object: "subscription_item"}
		var tax string
		if err := rows.Scan(&it.ID, &it.priceID, &it.Quantity, &tax, &it.Created); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(tax), &it.tax); err != nil {
			return nil, fmt.Errorf("items of %s: tax: %w", subID, err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// expand embeds the full price and tax rates in each item, as the API
// shows them, read through q.
func (s *Service) expand(ctx context.Context, q store.Querier, sc account.Scope, subs ...*Subscription) error {
	for _, sub := range subs {
		items, err := loadItems(ctx, q, sub.ID)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Price, err = s.catalog.GetPriceIn(ctx, q, sc, it.priceID); err != nil {
				if !apperr.IsKind(err, apperr.NotFound) {
					return err
				}
				// Deleted after the subscription ended (PriceUsage keeps the
				// prices of the others): the item reads with a null price,
				// and the subscription stays readable.
				it.Price = nil
			}
			it.TaxRates = make([]*taxrate.TaxRate, 0, len(it.tax))
			for _, t := range it.tax {
				r, err := s.taxes.GetIn(ctx, q, sc, t)
				if err != nil {
					return err
				}
				it.TaxRates = append(it.TaxRates, r)
			}
		}
		if items == nil {
			items = []*Item{}
		}
		sub.Items = Items{Object: "list", Data: items, TotalCount: len(items)}
	}
	return nil
}

// Get returns one subscription of the account.
func (s *Service) Get(ctx context.Context, sc account.Scope, subID string) (*Subscription, error) {
	return s.read(ctx, s.db.Read(), sc, subID)
}

// read returns a subscription as the API shows it, read through q. The
// operations that change one read it in their own transaction, so that
// each answers with what it wrote, not with what a concurrent change
// committed after it.
func (s *Service) read(ctx context.Context, q store.Querier, sc account.Scope, subID string) (*Subscription, error) {
	sub, err := get(ctx, q, sc, subID, "")
	if err != nil {
		return nil, err
	}
	return sub, s.expand(ctx, q, sc, sub)
}

// ListParams filters GET /subscriptions.
type ListParams struct {
	Page   listing.Params
	Search listing.Search
}

// List returns a page of the account's subscriptions, newest first: by
// status (the digest's aliases accepted), customer, amount and created.
func (s *Service) List(ctx context.Context, sc account.Scope, p ListParams) (listing.Page[*Subscription], error) {
	w := &listing.Where{}
	w.Add("s.account_id = ?", sc.AccountID)
	list, err := p.Search.List("status")
	if err != nil {
		return listing.Page[*Subscription]{}, err
	}
	var wanted []string
	for _, st := range list {
		if a, ok := statusAliases[st]; ok {
			st = a
		}
		if !statuses[st] {
			return listing.Page[*Subscription]{}, apperr.Invalidf("search.status must be one of the following values: active, trial, scheduled, paused, unpaid, cancelled, expired")
		}
		wanted = append(wanted, st)
	}
	w.In("s.status", wanted)
	customers, err := p.Search.List("customer")
	if err != nil {
		return listing.Page[*Subscription]{}, err
	}
	w.In("s.customer_id", customers)
	if err := p.Search.Range(w, "amount", "s.amount"); err != nil {
		return listing.Page[*Subscription]{}, err
	}
	if err := p.Search.Range(w, "created", "s.created"); err != nil {
		return listing.Page[*Subscription]{}, err
	}
	page, err := listing.Fetch(ctx, s.db.Read(), listing.Query{What: "subscriptions", Columns: columns, From: " FROM subscriptions s",
		OrderBy: "s.created DESC, s.seq DESC"}, w, p.Page, func(r listing.Row) (*Subscription, error) { return scan(r, sc.Livemode) })
	if err != nil {
		return page, err
	}
	return page, s.expand(ctx, s.db.Read(), sc, page.Data...)
}

// write stores every field of sub (its status derived anew) inside tx.
func write(ctx context.Context, tx *store.Tx, sc account.Scope, sub *Subscription, now int64) error {
	sub.derive()
	sub.updated = now
	_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status = $1, state = $2, paused = $3, amount = $4,
		end_date = $5, trial_start = $6, trial_end = $7, billing_cycle_anchor = $8, period_index = $9,
		current_period_start = $10, current_period_end = $11, cancel_at = $12, cancel_at_period_end = $13,
		canceled_at = $14, ended_at = $15, paused_at = $16, latest_invoice = $17, credit = $18, updated = $19
		WHERE account_id = $20 AND id = $21`,
		sub.Status, sub.state, sub.paused, sub.amount, sub.EndDate, sub.TrialStart, sub.TrialEnd, sub.BillingCycleAnchor,
		sub.periodIndex, sub.CurrentPeriodStart, sub.CurrentPeriodEnd, sub.CancelAt, sub.CancelAtPeriodEnd, sub.CanceledAt,
		sub.EndedAt, sub.PausedAt, sub.LatestInvoice, sub.Credit, now, sc.AccountID, sub.ID)
	if err != nil {
		return fmt.Errorf("update subscription %s: %w", sub.ID, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// ended reports whether nothing can change a subscription any more.
func (s *Subscription) ended() bool {
	return s.state == StatusExpired || (s.state == StatusCancelled && s.EndedAt != nil)
}

// DeletionGuard refuses to delete a customer with subscriptions that have
// not ended (the digest's G-52).
func DeletionGuard(ctx context.Context, tx *store.Tx, accountID, customerID string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE account_id = $1 AND customer_id = $2
		AND state <> $3 AND NOT (state = $4 AND ended_at IS NOT NULL)`, accountID, customerID, StatusExpired, StatusCancelled).Scan(&n); err != nil {
		return fmt.Errorf("subscriptions of %s: %w", customerID, err)
	}
	if n > 0 {
		return apperr.BadRequestf("CUSTOMER_HAS_SUBSCRIPTIONS", "Customer %s has %d subscription(s) that have not ended; cancel them first", customerID, n)
	}
	return nil
}

// PriceUsage refuses deleting or rewriting a price that a subscription
// which has not ended bills.
func PriceUsage(ctx context.Context, tx *store.Tx, accountID, priceID string, change catalog.Change) (string, error) {
	var subID string
	err := tx.QueryRowContext(ctx, `SELECT s.id FROM subscription_items i JOIN subscriptions s ON s.id = i.subscription_id
		WHERE i.account_id = $1 AND i.price_id = $2 AND s.state <> $3 AND NOT (s.state = $4 AND s.ended_at IS NOT NULL)
		ORDER BY s.seq LIMIT 1`, accountID, priceID, StatusExpired, StatusCancelled).Scan(&subID)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return "", fmt.Errorf("subscriptions of price %s: %w", priceID, err)
	}
	return "subscription " + subID, nil
}
