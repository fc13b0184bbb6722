// Package taxrate owns tax rates: the percentages a merchant applies to
// invoice and subscription items. Kassa does not pick rates by itself.
//
// A rate's percentage, inclusive flag and country never change once it is
// created, so an invoice that used a rate can always be explained by it;
// to charge a different rate, create a new one and archive the old one
// (active: false). Rates are never deleted.
package taxrate

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/govalues/decimal"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/billing"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/field"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
)

// Tax types.
const (
	SalesTax = "Sales tax"
	VAT      = "VAT"
	GST      = "GST"
	Custom   = "Custom"
)

var taxTypes = map[string]bool{SalesTax: true, VAT: true, GST: true, Custom: true}

// TaxRate is the API object.
type TaxRate struct {
	ID          string  `json:"id"`
	Object      string  `json:"object"`
	Active      bool    `json:"active"`
	Country     string  `json:"country"`
	Created     int64   `json:"created"`
	Description *string `json:"description"`
	DisplayName string  `json:"display_name"`
	Inclusive   bool    `json:"inclusive"`
	// Percentage is the exact decimal as stored ("8.875" → 8.875 on the wire).
	Percentage json.Number `json:"percentage"`
	TaxType    string      `json:"tax_type"`
	Livemode   bool        `json:"livemode"`
	// Rate is the rate as the tax maths takes it.
	Rate billing.Rate `json:"-"`
}

// CreateParams is the body of POST /taxRates. Percentage is kept as the JSON
// text it came as, so it is never rounded through a float.
type CreateParams struct {
	TaxType     *string         `json:"tax_type"`
	DisplayName *string         `json:"display_name"`
	Description *string         `json:"description"`
	Country     *string         `json:"country"`
	Percentage  json.RawMessage `json:"percentage"`
	Inclusive   *bool           `json:"inclusive"`
	Active      *bool           `json:"active" null:"never"`
}

// UpdateParams is the body of PATCH /taxRates/{id}. Percentage, inclusive and
// country are listed only so that sending them is refused with a reason. A
// null description clears it; a null display_name puts back the default,
// the tax type's label; active cannot be null.
type UpdateParams struct {
	TaxType     *string         `json:"tax_type"`
	DisplayName field.Clearable `json:"display_name"`
	Description field.Clearable `json:"description"`
	Active      *bool           `json:"active" null:"never"`
	Percentage  json.RawMessage `json:"percentage"`
	Inclusive   json.RawMessage `json:"inclusive"`
	Country     json.RawMessage `json:"country"`
}

// ListParams filter GET /taxRates.
type ListParams struct {
	Page   listing.Params
	Search listing.Search
}

// Service manages tax rates.
type Service struct {
	db *store.DB
}

// NewService returns a tax-rate Service.
func NewService(db *store.DB) *Service { return &Service{db: db} }

func checkTaxType(v *string) error {
	if v == nil || *v == "" {
		return apperr.Invalidf("tax_type should not be empty")
	}
	if !taxTypes[*v] {
		return apperr.Invalidf("tax_type must be one of the following values: Sales tax, VAT, GST, Custom")
	}
	return nil
}

// checkDisplayName requires a display name for Custom rates.
func checkDisplayName(taxType string, v *string) error {
	if taxType == Custom && (v == nil || strings.TrimSpace(*v) == "") {
		return apperr.Invalidf("display_name should not be empty when tax_type is Custom")
	}
	return field.CheckLen("display_name", v, 100)
}

// parsePercentage reads the percentage as exact decimal text: 0–100 with at
// most billing.MaxPercentDecimals decimal places.
func parsePercentage(raw json.RawMessage) (decimal.Decimal, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return decimal.Decimal{}, apperr.Invalidf("percentage should not be empty")
	}
	if c := text[0]; c != '-' && (c < '0' || c > '9') {
		return decimal.Decimal{}, apperr.Invalidf("percentage must be a number")
	}
	text, err := exactPercentText(text)
	if err != nil {
		return decimal.Decimal{}, err
	}
	d, err := billing.ParsePercentage(text)
	if err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "percentage must"); i >= 0 {
			return decimal.Decimal{}, apperr.Invalidf("%s", msg[i:])
		}
		return decimal.Decimal{}, apperr.Invalidf("percentage must be a number from 0 to 100 with at most %d decimal places",
			billing.MaxPercentDecimals)
	}
	return d, nil
}

// exactPercentText rewrites a JSON number as plain decimal text with no
// exponent and no superfluous zeros ("7.2500" → "7.25", "1e1" → "10"), digit
// for digit, so that nothing is rounded on the way to the decimal type (which
// holds 19 digits and would round 7.250000000000000000001 to 7.25). A number
// with more decimal places than a percentage may have, or more than three
// integer digits, is refused here without building its text.
func exactPercentText(text string) (string, error) {
	neg := strings.HasPrefix(text, "-")
	mant, exp := strings.TrimPrefix(text, "-"), 0
	if i := strings.IndexAny(mant, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(mant[i+1:], "+"))
		if err != nil {
			return "", apperr.Invalidf("percentage must be a number from 0 to 100")
		}
		mant, exp = mant[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", apperr.Invalidf("percentage must be a number")
	}
	// The value is digits × 10^-scale.
	scale := int64(len(frac)) - int64(exp)
	digits = strings.TrimLeft(digits, "0")
	for strings.HasSuffix(digits, "0") {
		digits, scale = digits[:len(digits)-1], scale-1
	}
	switch {
	case digits == "":
		return "0", nil
	case neg:
		return "", apperr.Invalidf("percentage must not be negative")
	case scale > billing.MaxPercentDecimals:
		return "", apperr.Invalidf("percentage must not have more than %d decimal places", billing.MaxPercentDecimals)
	case int64(len(digits))-scale > 3:
		return "", apperr.Invalidf("percentage must not be greater than 100")
	case scale <= 0:
		return digits + strings.Repeat("0", int(-scale)), nil
	}
	if n := int(scale) + 1 - len(digits); n > 0 {
		digits = strings.Repeat("0", n) + digits
	}
	cut := len(digits) - int(scale)
	return digits[:cut] + "." + digits[cut:], nil
}

func checkCountry(v *string) (string, error) {
	if v == nil || *v == "" {
		return "", apperr.Invalidf("country should not be empty")
	}
	c := strings.ToUpper(*v)
	if !ValidCountry(c) {
		return "", apperr.Invalidf("country must be an ISO 3166-1 alpha-2 country code, got %q", *v)
	}
	return c, nil
}

func (p *CreateParams) validate() (*TaxRate, error) {
	if err := checkTaxType(p.TaxType); err != nil {
		return nil, err
	}
	if err := checkDisplayName(*p.TaxType, p.DisplayName); err != nil {
		return nil, err
	}
	if err := field.CheckLen("description", p.Description, 500); err != nil {
		return nil, err
	}
	country, err := checkCountry(p.Country)
	if err != nil {
		return nil, err
	}
	pct, err := parsePercentage(p.Percentage)
	if err != nil {
		return nil, err
	}
	if p.Inclusive == nil {
		return nil, apperr.Invalidf("inclusive should not be empty")
	}
	r := &TaxRate{Object: "tax_rate", Active: true, Country: country, Description: field.Optional(p.Description),
		DisplayName: *p.TaxType, Inclusive: *p.Inclusive, Percentage: json.Number(pct.String()), TaxType: *p.TaxType}
	if p.DisplayName != nil && strings.TrimSpace(*p.DisplayName) != "" {
		r.DisplayName = strings.TrimSpace(*p.DisplayName)
	}
	if p.Active != nil {
		r.Active = *p.Active
	}
	return r, nil
}

// Create adds a tax rate and records tax.created.
func (s *Service) Create(ctx context.Context, sc account.Scope, p CreateParams) (*TaxRate, error) {
	r, err := p.validate()
	if err != nil {
		return nil, err
	}
	r.ID, r.Created, r.Livemode = id.New(id.TaxRate), sc.Now().Unix(), sc.Livemode
	if err := r.fillRate(); err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tax_rates (id, account_id, tax_type, display_name, description,
			country, percentage, inclusive, active, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			r.ID, sc.AccountID, r.TaxType, r.DisplayName, r.Description, r.Country, r.Percentage.String(),
			r.Inclusive, r.Active, r.Created); err != nil {
			return fmt.Errorf("insert tax rate: %w", err)
		}
		return event.Record(ctx, tx, sc, "tax.created", r)
	})
	if err != nil {
		return nil, fmt.Errorf("create tax rate: %w", err)
	}
	return r, nil
}

// fillRate sets Rate from the stored fields.
func (r *TaxRate) fillRate() error {
	pct, err := billing.ParsePercentage(r.Percentage.String())
	if err != nil {
		return fmt.Errorf("tax rate %s: %w", r.ID, err)
	}
	r.Rate = billing.Rate{ID: r.ID, Percentage: pct, Inclusive: r.Inclusive}
	return nil
}

// CheckUsable refuses an archived (inactive) rate for new invoices and
// subscriptions.
func (r *TaxRate) CheckUsable() error {
	if !r.Active {
		return apperr.BadRequestf("TAX_RATE_INACTIVE", "Tax rate %s is inactive and cannot be applied", r.ID)
	}
	return nil
}

const columns = `t.id, t.active, t.country, t.created, t.description, t.display_name, t.inclusive, t.percentage,
	t.tax_type`

const from = ` FROM tax_rates t`

// scan reads a tax rate row; livemode is the account's, known from the scope.
func scan(row interface{ Scan(...any) error }, livemode bool) (*TaxRate, error) {
	r := &TaxRate{Object: "tax_rate", Livemode: livemode}
	var pct string
	if err := row.Scan(&r.ID, &r.Active, &r.Country, &r.Created, &r.Description, &r.DisplayName, &r.Inclusive,
		&pct, &r.TaxType); err != nil {
		return nil, err
	}
	r.Percentage = json.Number(pct)
	if err := r.fillRate(); err != nil {
		return nil, err
	}
	return r, nil
}

func notFound(rateID string) error {
	return apperr.NotFoundf("Tax rate %s not found", rateID)
}

func get(ctx context.Context, q store.Querier, sc account.Scope, rateID, lock string) (*TaxRate, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+columns+from+` WHERE t.account_id = $1 AND t.id = $2`+lock,
		sc.AccountID, rateID),
		func(r store.Row) (*TaxRate, error) { return scan(r, sc.Livemode) },
		func() error { return notFound(rateID) }, "tax rate "+rateID)
}

// GetIn returns a tax rate read through q (a transaction), without locking it.
func (s *Service) GetIn(ctx context.Context, q store.Querier, sc account.Scope, rateID string) (*TaxRate, error) {
	return get(ctx, q, sc, rateID, "")
}

// Get returns a tax rate of the account.
func (s *Service) Get(ctx context.Context, sc account.Scope, rateID string) (*TaxRate, error) {
	return get(ctx, s.db.Read(), sc, rateID, "")
}

// GetTx returns a tax rate of the account, with its Rate for the tax maths,
// inside tx. On PostgreSQL the row is share-locked until tx ends. An unknown
// or another account's rate is a 404 error.
func GetTx(ctx context.Context, tx *store.Tx, sc account.Scope, rateID string) (*TaxRate, error) {
	return get(ctx, tx, sc, rateID, tx.Dialect.ForShareOf("t"))
}

func (p *UpdateParams) validate() error {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"percentage", p.Percentage}, {"inclusive", p.Inclusive}, {"country", p.Country}} {
		if len(f.raw) > 0 {
			return apperr.BadRequestf("TAX_RATE_IMMUTABLE",
				"%s cannot change on a tax rate (invoices that used it must keep their meaning); create a new tax rate and archive this one with active: false",
				f.name)
		}
	}
	if err := checkTaxType(p.TaxType); err != nil {
		return err
	}
	if err := checkDisplayName(*p.TaxType, p.DisplayName.Value); err != nil {
		return err
	}
	return field.CheckLen("description", p.Description.Value, 500)
}

// Update changes a rate's type, names or active flag and records tax.updated.
func (s *Service) Update(ctx context.Context, sc account.Scope, rateID string, p UpdateParams) (*TaxRate, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var r *TaxRate
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		lock := tx.Dialect.ForUpdate()
		if lock != "" {
			lock += " OF t"
		}
		if r, err = get(ctx, tx, sc, rateID, lock); err != nil {
			return err
		}
		before := *r
		switch name := p.DisplayName.Value; {
		case name != nil && strings.TrimSpace(*name) != "":
			r.DisplayName = strings.TrimSpace(*name)
		case p.DisplayName.Set, r.DisplayName == r.TaxType:
			// Cleared, or the type's label by default: it is the type's label.
			r.DisplayName = *p.TaxType
		}
		r.TaxType = *p.TaxType
		if p.Description.Set {
			r.Description = field.Optional(p.Description.Value)
		}
		if p.Active != nil {
			r.Active = *p.Active
		}
		if r.TaxType == before.TaxType && r.DisplayName == before.DisplayName &&
			field.SameText(r.Description, before.Description) && r.Active == before.Active {
			return nil // nothing changes: nothing to record or announce
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tax_rates SET tax_type = $1, display_name = $2, description = $3,
			active = $4, updated = $5 WHERE account_id = $6 AND id = $7`,
			r.TaxType, r.DisplayName, r.Description, r.Active, sc.Now().Unix(), sc.AccountID, r.ID); err != nil {
			return fmt.Errorf("update tax rate: %w", err)
		}
		return event.Record(ctx, tx, sc, "tax.updated", r)
	})
	if err != nil {
		return nil, fmt.Errorf("update tax rate %s: %w", rateID, err)
	}
	return r, nil
}

// List returns a page of the account's tax rates, newest first.
func (s *Service) List(ctx context.Context, sc account.Scope, p ListParams) (listing.Page[*TaxRate], error) {
	w := &listing.Where{}
	w.Add("t.account_id = ?", sc.AccountID)
	for _, key := range []string{"active", "inclusive"} {
		v, ok, err := p.Search.Bool(key)
		if err != nil {
			return listing.Page[*TaxRate]{}, err
		}
		if ok {
			w.Add("t."+key+" = ?", v)
		}
	}
	if err := p.Search.Range(w, "created", "t.created"); err != nil {
		return listing.Page[*TaxRate]{}, err
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "tax rates", Columns: columns, From: from,
		OrderBy: "t.created DESC, t.seq DESC"}, w, p.Page, func(r listing.Row) (*TaxRate, error) { return scan(r, sc.Livemode) })
}
