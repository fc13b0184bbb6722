// Package customer owns customers: their types, rules and SQL.
//
// A customer is deleted softly: it disappears from the API but stays
// referenced by the invoices and payments it already has.
package customer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
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

// Address is a postal address.
type Address struct {
	City       *string `json:"city"`
	Country    *string `json:"country"`
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	PostalCode *string `json:"postal_code"`
	State      *string `json:"state"`
}

// Shipping is where goods go.
type Shipping struct {
	Name    *string  `json:"name"`
	Phone   *string  `json:"phone"`
	Address *Address `json:"address"`
}

// Customer is the API object.
type Customer struct {
	ID                   string    `json:"id"`
	Object               string    `json:"object"`
	Name                 string    `json:"name"`
	Email                *string   `json:"email"`
	Description          *string   `json:"description"`
	Phone                *string   `json:"phone"`
	Created              int64     `json:"created"`
	Currency             string    `json:"currency"`
	Address              []Address `json:"address"`
	Shipping             *Shipping `json:"shipping"`
	BillingEmail         *string   `json:"billing_email"`
	DefaultPaymentMethod *string   `json:"default_payment_method"`
	Livemode             bool      `json:"livemode"`
}

// Summary is the short form the quick search returns.
type Summary struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email"`
}

// CreateParams is the body of POST /customers.
type CreateParams struct {
	Name        *string   `json:"name"`
	Email       *string   `json:"email"`
	Description *string   `json:"description"`
	Phone       *string   `json:"phone"`
	Currency    *string   `json:"currency"`
	Address     []Address `json:"address"`
	Shipping    *Shipping `json:"shipping"`
}

// BillingAddress is the camelCase billing block PATCH accepts. Its fields
// land on the first address, the phone and the billing email; null clears
// one.
type BillingAddress struct {
	Email      field.Clearable `json:"email"`
	Address1   field.Clearable `json:"address1"`
	Address2   field.Clearable `json:"address2"`
	PostalCode field.Clearable `json:"postalCode"`
	City       field.Clearable `json:"city"`
	Country    field.Clearable `json:"country"`
	State      field.Clearable `json:"state"`
	Phone      field.Clearable `json:"phone"`
}

// ShippingAddress is the camelCase shipping block PATCH accepts. Its fields
// land on the shipping address, where null clears one; a shipping's phone
// cannot be cleared (clear the whole shipping with "shipping": null).
type ShippingAddress struct {
	Address1   field.Clearable `json:"shippingAddress1"`
	Address2   field.Clearable `json:"shippingAddress2"`
	PostalCode field.Clearable `json:"shippingPostalCode"`
	City       field.Clearable `json:"shippingCity"`
	Country    field.Clearable `json:"shippingCountry"`
	State      field.Clearable `json:"shippingState"`
	Phone      *string         `json:"shippingPhone" null:"never"`
}

// UpdateParams is the body of PATCH /customers/{id}: the contract's
// camelCase blocks and, as well, the create-style fields. Absent fields stay
// as they are; null clears an optional one (currency goes back to USD, the
// default), as everywhere (package field). The name cannot be cleared, and
// the two blocks are not fields of the customer: null is refused for them.
type UpdateParams struct {
	Name            *string                `json:"name" null:"never"`
	Email           field.Clearable        `json:"email"`
	BillingAddress  *BillingAddress        `json:"billingAddress" null:"never"`
	ShippingAddress *ShippingAddress       `json:"shippingAddress" null:"never"`
	Description     field.Clearable        `json:"description"`
	Phone           field.Clearable        `json:"phone"`
	Currency        field.Clearable        `json:"currency"`
	Address         field.Patch[[]Address] `json:"address"`
	Shipping        field.Patch[Shipping]  `json:"shipping"`
}

// ListParams filter and order GET /customers.
type ListParams struct {
	Page         listing.Params
	Search       listing.Search
	Descending   bool
	SortingField string // createdAt | name | email
}

// DeletionGuard refuses a deletion while something live (a subscription, a
// payment plan) still needs the customer. Later domains register one.
type DeletionGuard func(ctx context.Context, tx *store.Tx, accountID, customerID string) error

// Service manages customers.
type Service struct {
	db     *store.DB
	guards []DeletionGuard
}

// NewService returns a customer Service.
func NewService(db *store.DB) *Service {
	return &Service{db: db}
}

// AddDeletionGuard registers a rule consulted before a customer is deleted.
func (s *Service) AddDeletionGuard(g DeletionGuard) { s.guards = append(s.guards, g) }

func checkEmail(name string, v *string) error {
	if v == nil {
		return nil
	}
	if err := field.CheckLen(name, v, 128); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(*v); err != nil || a.Address != *v || a.Name != "" {
		return apperr.Invalidf("%s must be an email", name)
	}
	return nil
}

func normalizeCurrency(v *string) (string, error) {
	if v == nil || *v == "" {
		return "USD", nil
	}
	c, err := billing.NormalizeCurrency(*v)
	if err != nil {
		return "", apperr.Invalidf("currency must be an ISO 4217 currency code, got %q", *v)
	}
	return c, nil
}

func validateShipping(sh *Shipping) error {
	if sh == nil {
		return nil
	}
	switch {
	case sh.Name == nil:
		return apperr.Invalidf("shipping.name should not be empty")
	case sh.Phone == nil:
		return apperr.Invalidf("shipping.phone should not be empty")
	case sh.Address == nil:
		return apperr.Invalidf("shipping.address should not be empty")
	}
	return nil
}

func (p *CreateParams) validate() (currency string, err error) {
	if p.Name == nil || strings.TrimSpace(*p.Name) == "" {
		return "", apperr.Invalidf("name should not be empty")
	}
	for _, c := range []struct {
		f string
		v *string
		n int
	}{{"name", p.Name, 100}, {"description", p.Description, 500}, {"phone", p.Phone, 25}} {
		if err := field.CheckLen(c.f, c.v, c.n); err != nil {
			return "", err
		}
	}
	if err := checkEmail("email", p.Email); err != nil {
		return "", err
	}
	if err := validateShipping(p.Shipping); err != nil {
		return "", err
	}
	return normalizeCurrency(p.Currency)
}

// Create adds a customer and records customer.created.
func (s *Service) Create(ctx context.Context, sc account.Scope, p CreateParams) (*Customer, error) {
	currency, err := p.validate()
	if err != nil {
		return nil, err
	}
	c := &Customer{
		ID: id.New(id.Customer), Object: "customer", Name: strings.TrimSpace(*p.Name),
		Email: p.Email, Description: p.Description, Phone: p.Phone, Currency: currency,
		Address: p.Address, Shipping: p.Shipping, Created: sc.Now().Unix(), Livemode: sc.Livemode,
	}
	if c.Address == nil {
		c.Address = []Address{}
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := insert(ctx, tx, sc.AccountID, c); err != nil {
			return err
		}
		return event.Record(ctx, tx, sc, "customer.created", c)
	})
	if err != nil {
		return nil, fmt.Errorf("create customer: %w", err)
	}
	return c, nil
}

func insert(ctx context.Context, tx *store.Tx, accountID string, c *Customer) error {
	addr, shipping, err := encodeAddresses(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO customers (id, account_id, name, email, description, phone, currency,
		address, shipping, billing_email, default_payment_method, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
		c.ID, accountID, c.Name, c.Email, c.Description, c.Phone, c.Currency, addr, shipping,
		c.BillingEmail, c.DefaultPaymentMethod, c.Created)
	if err != nil {
		return fmt.Errorf("insert customer: %w", err)
	}
	return nil
}

func encodeAddresses(c *Customer) (string, *string, error) {
	addr, err := json.Marshal(c.Address)
	if err != nil {
		return "", nil, err
	}
	var shipping *string
	if c.Shipping != nil {
		b, err := json.Marshal(c.Shipping)
		if err != nil {
			return "", nil, err
		}
		s := string(b)
		shipping = &s
	}
	return string(addr), shipping, nil
}

const columns = `c.id, c.name, c.email, c.description, c.phone, c.currency, c.address, c.shipping,
	c.billing_email, c.default_payment_method, c.created`

const from = ` FROM customers c`

// scan reads one customer row; livemode is the account's, known from the scope.
func scan(row interface{ Scan(...any) error }, livemode bool) (*Customer, error) {
	c := &Customer{Object: "customer", Livemode: livemode}
	var addr string
	var shipping *string
	if err := row.Scan(&c.ID, &c.Name, &c.Email, &c.Description, &c.Phone, &c.Currency, &addr, &shipping,
		&c.BillingEmail, &c.DefaultPaymentMethod, &c.Created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(addr), &c.Address); err != nil {
		return nil, fmt.Errorf("decode address of %s: %w", c.ID, err)
	}
	if c.Address == nil {
		c.Address = []Address{}
	}
	if shipping != nil {
		c.Shipping = &Shipping{}
		if err := json.Unmarshal([]byte(*shipping), c.Shipping); err != nil {
			return nil, fmt.Errorf("decode shipping of %s: %w", c.ID, err)
		}
	}
	return c, nil
}

func notFound(customerID string) error {
	return apperr.NotFoundf("Customer %s not found", customerID)
}

// Get returns a live (not deleted) customer of the account.
func (s *Service) Get(ctx context.Context, sc account.Scope, customerID string) (*Customer, error) {
	return get(ctx, s.db.Read(), sc.AccountID, customerID, "", sc.Livemode)
}

// GetTx returns a live customer inside a transaction, locking its row so
// concurrent changes to it wait.
func GetTx(ctx context.Context, tx *store.Tx, sc account.Scope, customerID string) (*Customer, error) {
	return get(ctx, tx, sc.AccountID, customerID, tx.Dialect.ForUpdate(), sc.Livemode)
}

func get(ctx context.Context, q store.Querier, accountID, customerID, lock string, livemode bool) (*Customer, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+columns+from+`
		WHERE c.account_id = $1 AND c.id = $2 AND c.deleted_at IS NULL`+lock, accountID, customerID),
		func(r store.Row) (*Customer, error) { return scan(r, livemode) },
		func() error { return notFound(customerID) }, "customer "+customerID)
}

// LiveByID returns those of ids that are live customers of the account, by
// id, read through q without locking; deleted and unknown ones are left out.
func LiveByID(ctx context.Context, q store.Querier, sc account.Scope, ids []string) (map[string]*Customer, error) {
	out := make(map[string]*Customer, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{sc.AccountID}
	marks := make([]string, 0, len(ids))
	for _, id := range ids {
		args = append(args, id)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := q.QueryContext(ctx, `SELECT `+columns+from+`
		WHERE c.account_id = $1 AND c.id IN (`+strings.Join(marks, ", ")+`) AND c.deleted_at IS NULL`, args...)
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scan(rows, sc.Livemode)
		if err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
}

// Update changes a customer and records customer.updated.
func (s *Service) Update(ctx context.Context, sc account.Scope, customerID string, p UpdateParams) (*Customer, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var c *Customer
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = GetTx(ctx, tx, sc, customerID); err != nil {
			return err
		}
		if err := p.apply(c); err != nil {
			return err
		}
		addr, shipping, err := encodeAddresses(c)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET name = $1, email = $2, description = $3, phone = $4,
			currency = $5, address = $6, shipping = $7, billing_email = $8, updated = $9
			WHERE account_id = $10 AND id = $11`,
			c.Name, c.Email, c.Description, c.Phone, c.Currency, addr, shipping, c.BillingEmail,
			sc.Now().Unix(), sc.AccountID, c.ID); err != nil {
			return fmt.Errorf("update customer: %w", err)
		}
		return event.Record(ctx, tx, sc, "customer.updated", c)
	})
	if err != nil {
		return nil, fmt.Errorf("update customer %s: %w", customerID, err)
	}
	return c, nil
}

func (p *UpdateParams) validate() error {
	if p.Name != nil && strings.TrimSpace(*p.Name) == "" {
		return apperr.Invalidf("name should not be empty")
	}
	checks := []struct {
		f string
		v *string
		n int
	}{{"name", p.Name, 100}, {"description", p.Description.Value, 500}, {"phone", p.Phone.Value, 25}}
	if b := p.BillingAddress; b != nil {
		checks = append(checks, []struct {
			f string
			v *string
			n int
		}{{"billingAddress.address1", b.Address1.Value, 100}, {"billingAddress.address2", b.Address2.Value, 100},
			{"billingAddress.postalCode", b.PostalCode.Value, 16}, {"billingAddress.city", b.City.Value, 50},
			{"billingAddress.country", b.Country.Value, 50}, {"billingAddress.state", b.State.Value, 50},
			{"billingAddress.phone", b.Phone.Value, 25}}...)
		if err := checkEmail("billingAddress.email", b.Email.Value); err != nil {
			return err
		}
	}
	if sa := p.ShippingAddress; sa != nil {
		checks = append(checks, []struct {
			f string
			v *string
			n int
		}{{"shippingAddress.shippingAddress1", sa.Address1.Value, 100}, {"shippingAddress.shippingAddress2", sa.Address2.Value, 100},
			{"shippingAddress.shippingPostalCode", sa.PostalCode.Value, 16}, {"shippingAddress.shippingCity", sa.City.Value, 50},
			{"shippingAddress.shippingCountry", sa.Country.Value, 50}, {"shippingAddress.shippingState", sa.State.Value, 50},
			{"shippingAddress.shippingPhone", sa.Phone, 25}}...)
	}
	for _, c := range checks {
		if err := field.CheckLen(c.f, c.v, c.n); err != nil {
			return err
		}
	}
	if err := checkEmail("email", p.Email.Value); err != nil {
		return err
	}
	if _, err := normalizeCurrency(p.Currency.Value); err != nil {
		return err
	}
	return validateShipping(p.Shipping.Value)
}

func set(dst **string, v *string) {
	if v != nil {
		s := *v
		*dst = &s
	}
}

// apply merges the update into c.
func (p *UpdateParams) apply(c *Customer) error {
	if p.Name != nil {
		c.Name = strings.TrimSpace(*p.Name)
	}
	p.Email.Apply(&c.Email)
	p.Description.Apply(&c.Description)
	p.Phone.Apply(&c.Phone)
	if p.Currency.Set {
		cur, err := normalizeCurrency(p.Currency.Value)
		if err != nil {
			return err
		}
		c.Currency = cur
	}
	if p.Address.Set {
		c.Address = []Address{}
		if p.Address.Value != nil && *p.Address.Value != nil {
			c.Address = *p.Address.Value
		}
	}
	if p.Shipping.Set {
		c.Shipping = p.Shipping.Value
	}
	if b := p.BillingAddress; b != nil {
		var first Address
		if len(c.Address) > 0 {
			first = c.Address[0]
		}
		b.Address1.Apply(&first.Line1)
		b.Address2.Apply(&first.Line2)
		b.PostalCode.Apply(&first.PostalCode)
		b.City.Apply(&first.City)
		b.Country.Apply(&first.Country)
		b.State.Apply(&first.State)
		if len(c.Address) == 0 {
			c.Address = []Address{first}
		} else {
			c.Address[0] = first
		}
		b.Phone.Apply(&c.Phone)
		b.Email.Apply(&c.BillingEmail)
	}
	if sa := p.ShippingAddress; sa != nil {
		if c.Shipping == nil {
			name := c.Name
			c.Shipping = &Shipping{Name: &name}
		}
		if c.Shipping.Address == nil {
			c.Shipping.Address = &Address{}
		}
		a := c.Shipping.Address
		sa.Address1.Apply(&a.Line1)
		sa.Address2.Apply(&a.Line2)
		sa.PostalCode.Apply(&a.PostalCode)
		sa.City.Apply(&a.City)
		sa.Country.Apply(&a.Country)
		sa.State.Apply(&a.State)
		set(&c.Shipping.Phone, sa.Phone)
	}
	return nil
}

// Delete soft-deletes a customer and records customer.deleted.
func (s *Service) Delete(ctx context.Context, sc account.Scope, customerID string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		c, err := GetTx(ctx, tx, sc, customerID)
		if err != nil {
			return err
		}
		for _, guard := range s.guards {
			if err := guard(ctx, tx, sc.AccountID, customerID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET deleted_at = $1 WHERE account_id = $2 AND id = $3`,
			sc.Now().Unix(), sc.AccountID, customerID); err != nil {
			return fmt.Errorf("delete customer: %w", err)
		}
		return event.Record(ctx, tx, sc, "customer.deleted", c)
	})
	if err != nil {
		return fmt.Errorf("delete customer %s: %w", customerID, err)
	}
	return nil
}

// sortColumns: customers without an email sort as "" so that both engines
// agree on where they go (SQLite puts NULL first, PostgreSQL last).
var sortColumns = map[string]string{"createdAt": "c.seq", "created": "c.seq", "name": "LOWER(c.name)", "email": "COALESCE(LOWER(c.email), '')"}

// ParseSort validates the order and sortingField query parameters.
func ParseSort(order, field string) (descending bool, column string, err error) {
	switch strings.ToUpper(order) {
	case "", "ASC":
	case "DESC":
		descending = true
	default:
		return false, "", apperr.Invalidf("order must be one of the following values: ASC, DESC")
	}
	if field == "" {
		field = "createdAt"
	}
	if _, ok := sortColumns[field]; !ok {
		return false, "", apperr.Invalidf("sortingField must be one of the following values: createdAt, name, email")
	}
	return descending, field, nil
}

func (s *Service) filter(sc account.Scope, search listing.Search) (*listing.Where, error) {
	w := &listing.Where{}
	w.Add("c.account_id = ?", sc.AccountID)
	w.Add("c.deleted_at IS NULL")
	if search.Text != "" {
		like := containsPattern(search.Text)
		w.Add(`(LOWER(c.name) LIKE LOWER(?) ESCAPE '\' OR LOWER(COALESCE(c.email, '')) LIKE LOWER(?) ESCAPE '\')`, like, like)
	}
	for _, key := range []string{"name", "email"} {
		v, ok, err := search.String(key)
		if err != nil {
			return nil, err
		}
		if ok {
			w.Add("LOWER(COALESCE(c."+key+`, '')) LIKE LOWER(?) ESCAPE '\'`, containsPattern(v))
		}
	}
	if err := search.Range(w, "created", "c.created"); err != nil {
		return nil, err
	}
	return w, nil
}

// likeEscaper makes LIKE's wildcards match themselves: a search for "50%"
// or "a_b" finds those characters, not any.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// containsPattern is a LIKE pattern for "contains text". Callers compare
// LOWER(column) with LOWER(pattern): the database lowers both sides the
// same way (SQLite only folds ASCII letters; lowering the pattern in Go
// would make "Élise" miss "Élise" there).
func containsPattern(text string) string {
	return "%" + likeEscaper.Replace(text) + "%"
}

// List returns a page of the account's customers.
func (s *Service) List(ctx context.Context, sc account.Scope, p ListParams) (listing.Page[*Customer], error) {
	w, err := s.filter(sc, p.Search)
	if err != nil {
		return listing.Page[*Customer]{}, err
	}
	dir := " ASC"
	if p.Descending {
		dir = " DESC"
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "customers", Columns: columns, From: from,
		OrderBy: sortColumns[p.SortingField] + dir + ", c.seq" + dir}, w, p.Page,
		func(r listing.Row) (*Customer, error) { return scan(r, sc.Livemode) })
}

// Search is the quick search: up to 50 customers whose name or email
// contains text, case-insensitively.
func (s *Service) Search(ctx context.Context, sc account.Scope, text string) ([]Summary, error) {
	w, err := s.filter(sc, listing.Search{Text: strings.TrimSpace(text)})
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT c.id, c.name, c.email FROM customers c`+w.SQL()+` ORDER BY c.seq LIMIT 50`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("search customers: %w", err)
	}
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		var s Summary
		if err := rows.Scan(&s.ID, &s.Name, &s.Email); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetDefaultPaymentMethod points the customer's default at pmID (or clears it).
func SetDefaultPaymentMethod(ctx context.Context, tx *store.Tx, accountID, customerID string, pmID *string) error {
	_, err := tx.ExecContext(ctx, `UPDATE customers SET default_payment_method = $1 WHERE account_id = $2 AND id = $3`,
		pmID, accountID, customerID)
	if err != nil {
		return fmt.Errorf("set default payment method of %s: %w", customerID, err)
	}
	return nil
}
