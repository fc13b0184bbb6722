package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/field"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
)

// Price types and tax behaviours.
const (
	OneTime   = "one_time"
	Recurrent = "recurring"

	Exclusive = "exclusive"
	Inclusive = "inclusive"
)

// Recurring is the billing period of a recurring price.
type Recurring struct {
	Interval      string `json:"interval"` // day | week | month | year
	IntervalCount int64  `json:"interval_count"`
}

// Price is the API object.
type Price struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Active            bool       `json:"active"`
	Created           int64      `json:"created"`
	Currency          string     `json:"currency"`
	Description       *string    `json:"description"`
	Product           string     `json:"product"`
	Recurring         *Recurring `json:"recurring"`
	TaxBehavior       string     `json:"tax_behavior"`
	Type              string     `json:"type"`
	UnitAmount        int64      `json:"unit_amount"`
	UnitAmountDecimal string     `json:"unit_amount_decimal"`
	Link              string     `json:"link"`
	Livemode          bool       `json:"livemode"`
}

// RecurringParams is the billing period as given.
type RecurringParams struct {
	Interval      *string `json:"interval"`
	IntervalCount *int64  `json:"interval_count"`
}

// PriceParams is the body of POST /prices/{productId} and of
// PATCH /prices/{id}/inactive (a full replacement of the terms; an absent
// description stays as it is, a null one clears it).
type PriceParams struct {
	Currency    *string          `json:"currency"`
	UnitAmount  *int64           `json:"unit_amount"`
	Type        *string          `json:"type"`
	Recurring   *RecurringParams `json:"recurring"`
	TaxBehavior *string          `json:"tax_behavior"`
	Description field.Clearable  `json:"description"`
}

// ActivePriceParams is the body of PATCH /prices/{id}/active. Only the
// description may change on an active price; the other price fields are
// listed so that sending one is refused with a message saying why.
type ActivePriceParams struct {
	Description field.Clearable `json:"description"`
	Currency    json.RawMessage `json:"currency"`
	UnitAmount  json.RawMessage `json:"unit_amount"`
	Type        json.RawMessage `json:"type"`
	Recurring   json.RawMessage `json:"recurring"`
	TaxBehavior json.RawMessage `json:"tax_behavior"`
}

// PriceListParams filter GET /prices.
type PriceListParams struct {
	Page   listing.Params
	Search listing.Search
}

// priceSpec is a validated PriceParams.
type priceSpec struct {
	currency    string
	unitAmount  int64
	typ         string
	recurring   *Recurring
	taxBehavior string
	description *string
}

var intervals = map[string]bool{"day": true, "week": true, "month": true, "year": true}

func (p *PriceParams) validate() (priceSpec, error) {
	var s priceSpec
	if p.Currency == nil || *p.Currency == "" {
		return s, apperr.Invalidf("currency should not be empty")
	}
	cur, err := billing.NormalizeCurrency(*p.Currency)
	if err != nil {
		return s, apperr.Invalidf("currency must be an ISO 4217 currency code, got %q", *p.Currency)
	}
	s.currency = cur
	switch {
	case p.UnitAmount == nil:
		return s, apperr.Invalidf("unit_amount should not be empty")
	case *p.UnitAmount < 0:
		return s, apperr.Invalidf("unit_amount must not be less than 0")
	case *p.UnitAmount > billing.MaxUnitAmount:
		return s, apperr.Invalidf("unit_amount must not be greater than %d", billing.MaxUnitAmount)
	}
	s.unitAmount = *p.UnitAmount
	if p.Type == nil || *p.Type == "" {
		return s, apperr.Invalidf("type should not be empty")
	}
	s.typ = *p.Type
	switch s.typ {
	case OneTime:
		if p.Recurring != nil {
			return s, apperr.Invalidf("recurring must be null or absent when type is one_time")
		}
	case Recurrent:
		r, err := p.Recurring.validate()
		if err != nil {
			return s, err
		}
		s.recurring = r
	default:
		return s, apperr.Invalidf("type must be one of the following values: one_time, recurring")
	}
	s.taxBehavior = Exclusive
	if p.TaxBehavior != nil {
		if *p.TaxBehavior != Exclusive && *p.TaxBehavior != Inclusive {
			return s, apperr.Invalidf("tax_behavior must be one of the following values: exclusive, inclusive")
		}
		s.taxBehavior = *p.TaxBehavior
	}
	if err := field.CheckLen("description", p.Description.Value, 255); err != nil {
		return s, err
	}
	s.description = p.Description.New()
	return s, nil
}

func (r *RecurringParams) validate() (*Recurring, error) {
	if r == nil {
		return nil, apperr.Invalidf("recurring should not be empty when type is recurring")
	}
	if r.Interval == nil || *r.Interval == "" {
		return nil, apperr.Invalidf("recurring.interval should not be empty")
	}
	if !intervals[*r.Interval] {
		return nil, apperr.Invalidf("recurring.interval must be one of the following values: day, week, month, year")
	}
	out := &Recurring{Interval: *r.Interval, IntervalCount: 1}
	if r.IntervalCount != nil {
		switch n := *r.IntervalCount; {
		case n < 1:
			return nil, apperr.Invalidf("recurring.interval_count must not be less than 1")
		case n > 365:
			return nil, apperr.Invalidf("recurring.interval_count must not be greater than 365")
		default:
			out.IntervalCount = n
		}
	}
	return out, nil
}

func (s priceSpec) apply(p *Price) {
	p.Currency = s.currency
	p.UnitAmount = s.unitAmount
	p.UnitAmountDecimal = strconv.FormatInt(s.unitAmount, 10)
	p.Type = s.typ
	p.Recurring = s.recurring
	p.TaxBehavior = s.taxBehavior
}

// newPrice builds a fresh active price of productID.
func (s *Service) newPrice(sc account.Scope, productID string, spec priceSpec) *Price {
	p := &Price{ID: id.New(id.Price), Object: "price", Active: true, Created: sc.Now().Unix(),
		Product: productID, Description: spec.description, Livemode: sc.Livemode}
	spec.apply(p)
	p.Link = s.CheckoutURL(p.ID)
	return p
}

func insertPrice(ctx context.Context, tx *store.Tx, accountID string, p *Price) error {
	interval, count := recurringColumns(p.Recurring)
	_, err := tx.ExecContext(ctx, `INSERT INTO prices (id, account_id, product_id, active, currency, unit_amount, type,
		recurring_interval, recurring_interval_count, tax_behavior, description, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
		p.ID, accountID, p.Product, p.Active, p.Currency, p.UnitAmount, p.Type, interval, count,
		p.TaxBehavior, p.Description, p.Created)
	if err != nil {
		return fmt.Errorf("insert price: %w", err)
	}
	return nil
}

// samePrice reports whether two versions of a price carry the same terms
// and description.
func samePrice(a, b *Price) bool {
	sameRecurring := a.Recurring == nil && b.Recurring == nil ||
		a.Recurring != nil && b.Recurring != nil && *a.Recurring == *b.Recurring
	return a.Currency == b.Currency && a.UnitAmount == b.UnitAmount && a.Type == b.Type && sameRecurring &&
		a.TaxBehavior == b.TaxBehavior && field.SameText(a.Description, b.Description)
}

func recurringColumns(r *Recurring) (*string, *int64) {
	if r == nil {
		return nil, nil
	}
	interval, count := r.Interval, r.IntervalCount
	return &interval, &count
}

const priceColumns = `pr.id, pr.product_id, pr.active, pr.currency, pr.unit_amount, pr.type, pr.recurring_interval,
	pr.recurring_interval_count, pr.tax_behavior, pr.description, pr.created`

const priceFrom = ` FROM prices pr`

// scanPrice reads a price row; livemode is the account's, known from the scope.
func (s *Service) scanPrice(row interface{ Scan(...any) error }, livemode bool) (*Price, error) {
	p := &Price{Object: "price", Livemode: livemode}
	var interval *string
	var count *int64
	if err := row.Scan(&p.ID, &p.Product, &p.Active, &p.Currency, &p.UnitAmount, &p.Type, &interval, &count,
		&p.TaxBehavior, &p.Description, &p.Created); err != nil {
		return nil, err
	}
	p.UnitAmountDecimal = strconv.FormatInt(p.UnitAmount, 10)
	if interval != nil {
		p.Recurring = &Recurring{Interval: *interval}
		if count != nil {
			p.Recurring.IntervalCount = *count
		}
	}
	p.Link = s.CheckoutURL(p.ID)
	return p, nil
}

func priceNotFound(priceID string) error {
	return apperr.NotFoundf("Price %s not found", priceID)
}

func (s *Service) getPrice(ctx context.Context, q store.Querier, sc account.Scope, priceID, lock string) (*Price, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+priceColumns+priceFrom+`
		WHERE pr.account_id = $1 AND pr.id = $2 AND pr.deleted_at IS NULL`+lock, sc.AccountID, priceID),
		func(r store.Row) (*Price, error) { return s.scanPrice(r, sc.Livemode) },
		func() error { return priceNotFound(priceID) }, "price "+priceID)
}

// GetPrice returns a price of the account.
func (s *Service) GetPrice(ctx context.Context, sc account.Scope, priceID string) (*Price, error) {
	return s.getPrice(ctx, s.db.Read(), sc, priceID, "")
}

// GetPriceIn returns a price as the API shows it, read through q (a
// transaction that must see its own writes), without locking it.
func (s *Service) GetPriceIn(ctx context.Context, q store.Querier, sc account.Scope, priceID string) (*Price, error) {
	return s.getPrice(ctx, q, sc, priceID, "")
}

// CreatePrice adds a price to a product and records price.created. A product
// without a default price gets this one (and product.updated is recorded).
func (s *Service) CreatePrice(ctx context.Context, sc account.Scope, productID string, params PriceParams) (*Price, error) {
	spec, err := params.validate()
	if err != nil {
		return nil, err
	}
	var p *Price
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		prod, err := getProduct(ctx, tx, sc, productID, lockRows(tx, "p"))
		if err != nil {
			return err
		}
		p = s.newPrice(sc, prod.ID, spec)
		if err := insertPrice(ctx, tx, sc.AccountID, p); err != nil {
			return err
		}
		if err := event.Record(ctx, tx, sc, "price.created", p); err != nil {
			return err
		}
		if prod.DefaultPrice != nil {
			return nil
		}
		prod.DefaultPrice, prod.Updated = &p.ID, sc.Now().Unix()
		if err := setDefaultPrice(ctx, tx, sc.AccountID, prod); err != nil {
			return err
		}
		return event.Record(ctx, tx, sc, "product.updated", prod)
	})
	if err != nil {
		return nil, fmt.Errorf("create price for %s: %w", productID, err)
	}
	return p, nil
}

// DeletePrice deletes a price nothing live uses, records price.deleted and,
// when it was its product's default price, clears that (product.updated).
func (s *Service) DeletePrice(ctx context.Context, sc account.Scope, priceID string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.getPrice(ctx, tx, sc, priceID, "")
		if err != nil {
			return err
		}
		// Lock the product before the price, in the order DeleteProduct
		// takes them, then read the price again under its lock.
		prod, err := getProduct(ctx, tx, sc, p.Product, lockRows(tx, "p"))
		if apperr.IsKind(err, apperr.NotFound) {
			return priceNotFound(priceID) // deleted with its product meanwhile
		}
		if err != nil {
			return err
		}
		if p, err = s.getPrice(ctx, tx, sc, priceID, lockRows(tx, "pr")); err != nil {
			return err
		}
		use, err := s.priceInUse(ctx, tx, sc.AccountID, p.ID, Deleting)
		if err != nil {
			return err
		}
		if use != "" {
			return apperr.BadRequestf("PRICE_IN_USE",
				"Price %s is used by %s and cannot be deleted; deactivate it instead (POST /prices/%s/deactivate)", p.ID, use, p.ID)
		}
		now := sc.Now().Unix()
		if _, err := tx.ExecContext(ctx, `UPDATE prices SET deleted_at = $1 WHERE account_id = $2 AND id = $3`,
			now, sc.AccountID, p.ID); err != nil {
			return fmt.Errorf("delete price: %w", err)
		}
		if err := event.Record(ctx, tx, sc, "price.deleted", p); err != nil {
			return err
		}
		if prod.DefaultPrice == nil || *prod.DefaultPrice != p.ID {
			return nil
		}
		prod.DefaultPrice, prod.Updated = nil, now
		if err := setDefaultPrice(ctx, tx, sc.AccountID, prod); err != nil {
			return err
		}
		return event.Record(ctx, tx, sc, "product.updated", prod)
	})
	if err != nil {
		return fmt.Errorf("delete price %s: %w", priceID, err)
	}
	return nil
}

// UpdateInactivePrice replaces every field of an inactive price that nothing
// live uses, and records price.updated. An absent description stays as it is.
func (s *Service) UpdateInactivePrice(ctx context.Context, sc account.Scope, priceID string, params PriceParams) (*Price, error) {
	spec, err := params.validate()
	if err != nil {
		return nil, err
	}
	var p *Price
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = s.getPrice(ctx, tx, sc, priceID, lockRows(tx, "pr")); err != nil {
			return err
		}
		if p.Active {
			return apperr.BadRequestf("PRICE_ACTIVE",
				"Price %s is active: only its description can change (PATCH /prices/%s/active); deactivate it first to change the rest",
				p.ID, p.ID)
		}
		use, err := s.priceInUse(ctx, tx, sc.AccountID, p.ID, Rewriting)
		if err != nil {
			return err
		}
		if use != "" {
			return apperr.BadRequestf("PRICE_IN_USE",
				"Price %s is used by %s and cannot be changed; create a new price instead", p.ID, use)
		}
		before := *p
		spec.apply(p)
		if params.Description.Set {
			p.Description = spec.description
		}
		if samePrice(&before, p) {
			return nil // nothing changes: nothing to record or announce
		}
		interval, count := recurringColumns(p.Recurring)
		if _, err := tx.ExecContext(ctx, `UPDATE prices SET currency = $1, unit_amount = $2, type = $3,
			recurring_interval = $4, recurring_interval_count = $5, tax_behavior = $6, description = $7, updated = $8
			WHERE account_id = $9 AND id = $10`,
			p.Currency, p.UnitAmount, p.Type, interval, count, p.TaxBehavior, p.Description,
			sc.Now().Unix(), sc.AccountID, p.ID); err != nil {
			return fmt.Errorf("update price: %w", err)
		}
		return event.Record(ctx, tx, sc, "price.updated", p)
	})
	if err != nil {
		return nil, fmt.Errorf("update price %s: %w", priceID, err)
	}
	return p, nil
}

// UpdateActivePrice changes the description of an active price and records
// price.updated.
func (s *Service) UpdateActivePrice(ctx context.Context, sc account.Scope, priceID string, params ActivePriceParams) (*Price, error) {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"currency", params.Currency}, {"unit_amount", params.UnitAmount}, {"type", params.Type},
		{"recurring", params.Recurring}, {"tax_behavior", params.TaxBehavior}} {
		if len(f.raw) > 0 {
			return nil, apperr.BadRequestf("PRICE_ACTIVE",
				"%s cannot change on an active price: only description can; deactivate the price (POST /prices/%s/deactivate) and use PATCH /prices/%s/inactive",
				f.name, priceID, priceID)
		}
	}
	if err := field.CheckLen("description", params.Description.Value, 255); err != nil {
		return nil, err
	}
	var p *Price
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = s.getPrice(ctx, tx, sc, priceID, lockRows(tx, "pr")); err != nil {
			return err
		}
		if !p.Active {
			return apperr.BadRequestf("PRICE_INACTIVE",
				"Price %s is inactive: change it with PATCH /prices/%s/inactive", p.ID, p.ID)
		}
		if !params.Description.Set || field.SameText(params.Description.New(), p.Description) {
			return nil // nothing changes: nothing to record or announce
		}
		p.Description = params.Description.New()
		if _, err := tx.ExecContext(ctx, `UPDATE prices SET description = $1, updated = $2 WHERE account_id = $3 AND id = $4`,
			p.Description, sc.Now().Unix(), sc.AccountID, p.ID); err != nil {
			return fmt.Errorf("update price: %w", err)
		}
		return event.Record(ctx, tx, sc, "price.updated", p)
	})
	if err != nil {
		return nil, fmt.Errorf("update price %s: %w", priceID, err)
	}
	return p, nil
}

// SetPriceActive activates or deactivates a price (an extension of the
// contract) and records price.updated when that changes anything.
func (s *Service) SetPriceActive(ctx context.Context, sc account.Scope, priceID string, active bool) (*Price, error) {
	var p *Price
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = s.getPrice(ctx, tx, sc, priceID, lockRows(tx, "pr")); err != nil {
			return err
		}
		if p.Active == active {
			return nil
		}
		p.Active = active
		if _, err := tx.ExecContext(ctx, `UPDATE prices SET active = $1, updated = $2 WHERE account_id = $3 AND id = $4`,
			active, sc.Now().Unix(), sc.AccountID, p.ID); err != nil {
			return fmt.Errorf("update price: %w", err)
		}
		return event.Record(ctx, tx, sc, "price.updated", p)
	})
	if err != nil {
		return nil, fmt.Errorf("set price %s active=%t: %w", priceID, active, err)
	}
	return p, nil
}

func (s *Service) priceFilter(sc account.Scope, search listing.Search) (*listing.Where, error) {
	w := &listing.Where{}
	w.Add("pr.account_id = ?", sc.AccountID)
	w.Add("pr.deleted_at IS NULL")
	active, ok, err := search.Bool("active")
	if err != nil {
		return nil, err
	}
	if ok {
		w.Add("pr.active = ?", active)
	}
	inclusive, ok, err := search.Bool("inclusive")
	if err != nil {
		return nil, err
	}
	if ok {
		behavior := Exclusive
		if inclusive {
			behavior = Inclusive
		}
		w.Add("pr.tax_behavior = ?", behavior)
	}
	currencies, err := searchList(search, "currency")
	if err != nil {
		return nil, err
	}
	for i, c := range currencies {
		currencies[i] = strings.ToUpper(c)
	}
	w.In("pr.currency", currencies)
	types, err := searchList(search, "type")
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if t != OneTime && t != Recurrent {
			return nil, apperr.Invalidf("search.type must be one of the following values: one_time, recurring")
		}
	}
	w.In("pr.type", types)
	products, err := searchList(search, "product")
	if err != nil {
		return nil, err
	}
	w.In("pr.product_id", products)
	if err := search.Range(w, "created", "pr.created"); err != nil {
		return nil, err
	}
	return w, nil
}

// ListPrices returns a page of the account's prices, newest first.
func (s *Service) ListPrices(ctx context.Context, sc account.Scope, p PriceListParams) (listing.Page[*Price], error) {
	w, err := s.priceFilter(sc, p.Search)
	if err != nil {
		return listing.Page[*Price]{}, err
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "prices", Columns: priceColumns, From: priceFrom,
		OrderBy: "pr.created DESC, pr.seq DESC"}, w, p.Page, func(r listing.Row) (*Price, error) { return s.scanPrice(r, sc.Livemode) })
}

// PriceInfo is what invoices, subscriptions and checkout need to know of a
// price and its product.
type PriceInfo struct {
	ID                 string
	Active             bool
	Currency           string // upper-case ISO 4217
	UnitAmount         int64  // minor units of Currency
	Type               string // OneTime or Recurrent
	Recurring          *Recurring
	TaxBehavior        string // Exclusive or Inclusive
	Description        *string
	ProductID          string
	ProductName        string
	ProductDescription *string
	ProductActive      bool
	TaxCode            string
}

// Inclusive reports whether the price already contains its tax.
func (p *PriceInfo) Inclusive() bool { return p.TaxBehavior == Inclusive }

// CheckSellable refuses an inactive price, or a price of an inactive
// product, for a new sale (invoice, subscription, checkout).
func (p *PriceInfo) CheckSellable() error {
	if !p.Active {
		return apperr.BadRequestf("PRICE_INACTIVE", "Price %s is inactive and cannot be used for new sales", p.ID)
	}
	if !p.ProductActive {
		return apperr.BadRequestf("PRODUCT_INACTIVE", "Product %s of price %s is inactive and cannot be sold", p.ProductID, p.ID)
	}
	return nil
}

// GetPriceTx loads a (not deleted) price of the account with its product
// inside tx. On PostgreSQL both rows are share-locked until tx ends, so the
// price cannot be rewritten or deleted while the caller builds on it.
// An unknown or another account's price is a 404 error.
func GetPriceTx(ctx context.Context, tx *store.Tx, accountID, priceID string) (*PriceInfo, error) {
	var p PriceInfo
	var interval *string
	var count *int64
	err := tx.QueryRowContext(ctx, `SELECT pr.id, pr.active, pr.currency, pr.unit_amount, pr.type, pr.recurring_interval,
			pr.recurring_interval_count, pr.tax_behavior, pr.description, p.id, p.name, p.description, p.active, p.tax_code
		FROM prices pr JOIN products p ON p.id = pr.product_id
		WHERE pr.account_id = $1 AND pr.id = $2 AND pr.deleted_at IS NULL AND p.deleted_at IS NULL`+shareRows(tx, "pr, p"),
		accountID, priceID).Scan(&p.ID, &p.Active, &p.Currency, &p.UnitAmount, &p.Type, &interval, &count,
		&p.TaxBehavior, &p.Description, &p.ProductID, &p.ProductName, &p.ProductDescription, &p.ProductActive, &p.TaxCode)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, priceNotFound(priceID)
	}
	if err != nil {
		return nil, fmt.Errorf("load price %s: %w", priceID, err)
	}
	if interval != nil {
		p.Recurring = &Recurring{Interval: *interval}
		if count != nil {
			p.Recurring.IntervalCount = *count
		}
	}
	return &p, nil
}
