package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/field"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
	"github.com/kassahq/kassa/internal/taxcode"
)

// Product is the API object.
type Product struct {
	ID           string  `json:"id"`
	Object       string  `json:"object"`
	Active       bool    `json:"active"`
	Created      int64   `json:"created"`
	DefaultPrice *string `json:"default_price"`
	Description  *string `json:"description"`
	Name         string  `json:"name"`
	TaxCode      string  `json:"tax_code"`
	Updated      int64   `json:"updated"`
	Livemode     bool    `json:"livemode"`
}

// CreateProductParams is the body of POST /products: the product and the
// fields of its first (default) price. Description goes to both.
//
// The price fields are spelled out rather than embedding PriceParams:
// encoding/json names a field of an embedded struct by its Go path in type
// errors ("PriceParams.unit_amount"), and the client must read the JSON name.
type CreateProductParams struct {
	Name        *string          `json:"name"`
	TaxCode     *string          `json:"tax_code"`
	Currency    *string          `json:"currency"`
	UnitAmount  *int64           `json:"unit_amount"`
	Type        *string          `json:"type"`
	Recurring   *RecurringParams `json:"recurring"`
	TaxBehavior *string          `json:"tax_behavior"`
	Description *string          `json:"description"`
}

// priceParams returns the fields of the default price.
func (p *CreateProductParams) priceParams() PriceParams {
	return PriceParams{Currency: p.Currency, UnitAmount: p.UnitAmount, Type: p.Type, Recurring: p.Recurring,
		TaxBehavior: p.TaxBehavior, Description: field.Clearable{Set: p.Description != nil, Value: p.Description}}
}

// UpdateProductParams is the body of PATCH /products/{id}; absent fields
// stay as they are. A null or empty description clears it; a null tax_code
// puts back the default code; the name cannot be null.
type UpdateProductParams struct {
	Name        *string         `json:"name" null:"never"`
	Description field.Clearable `json:"description"`
	TaxCode     field.Clearable `json:"tax_code"`
}

// ProductListParams filter GET /products.
type ProductListParams struct {
	Page   listing.Params
	Search listing.Search
}

// Deleted is the answer to a deletion.
type Deleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// checkName validates a product name and returns it trimmed.
func checkName(v *string) (string, error) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return "", apperr.Invalidf("name should not be empty")
	}
	name := strings.TrimSpace(*v)
	if err := field.CheckLen("name", &name, 100); err != nil {
		return "", err
	}
	return name, nil
}

// nameKey is what name uniqueness compares: case does not count.
func nameKey(name string) string { return strings.ToLower(name) }

func checkTaxCode(v *string) error {
	if v != nil && !taxcode.Valid(*v) {
		return apperr.Invalidf("tax_code must be one of the product tax codes listed by GET /products/taxCodes, got %q", *v)
	}
	return nil
}

func (p *CreateProductParams) validate() (name, taxCode string, spec priceSpec, err error) {
	if name, err = checkName(p.Name); err != nil {
		return
	}
	if err = checkTaxCode(p.TaxCode); err != nil {
		return
	}
	taxCode = taxcode.Default
	if p.TaxCode != nil {
		taxCode = *p.TaxCode
	}
	price := p.priceParams()
	spec, err = price.validate()
	return
}

func (p *UpdateProductParams) validate() error {
	if p.Name != nil {
		if _, err := checkName(p.Name); err != nil {
			return err
		}
	}
	if err := field.CheckLen("description", p.Description.Value, 255); err != nil {
		return err
	}
	return checkTaxCode(p.TaxCode.Value)
}

// checkNameFree refuses a name another live product of the account has.
func checkNameFree(ctx context.Context, tx *store.Tx, accountID, name, exceptID string) error {
	var other string
	err := tx.QueryRowContext(ctx, `SELECT id FROM products
		WHERE account_id = $1 AND name_key = $2 AND deleted_at IS NULL AND id <> $3`,
		accountID, nameKey(name), exceptID).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check product name: %w", err)
	}
	return nameTaken(name, other)
}

func nameTaken(name, otherID string) error {
	if otherID != "" {
		return apperr.BadRequestf("PRODUCT_NAME_TAKEN", "name must be unique: product %s is already named %q (case does not count)", otherID, name)
	}
	return apperr.BadRequestf("PRODUCT_NAME_TAKEN", "name must be unique: another product is already named %q (case does not count)", name)
}

// CreateProduct adds a product with its default price and records
// product.created and price.created.
func (s *Service) CreateProduct(ctx context.Context, sc account.Scope, params CreateProductParams) (*Product, error) {
	name, taxCode, spec, err := params.validate()
	if err != nil {
		return nil, err
	}
	now := sc.Now().Unix()
	prod := &Product{ID: id.New(id.Product), Object: "product", Active: true, Created: now, Updated: now,
		Description: spec.description, Name: name, TaxCode: taxCode, Livemode: sc.Livemode}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := checkNameFree(ctx, tx, sc.AccountID, name, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO products (id, account_id, name, name_key, description, tax_code,
			active, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			prod.ID, sc.AccountID, prod.Name, nameKey(prod.Name), prod.Description, prod.TaxCode, prod.Active, prod.Created); err != nil {
			if store.IsUniqueViolation(err) {
				return nameTaken(name, "")
			}
			return fmt.Errorf("insert product: %w", err)
		}
		price := s.newPrice(sc, prod.ID, spec)
		if err := insertPrice(ctx, tx, sc.AccountID, price); err != nil {
			return err
		}
		prod.DefaultPrice = &price.ID
		if err := setDefaultPrice(ctx, tx, sc.AccountID, prod); err != nil {
			return err
		}
		if err := event.Record(ctx, tx, sc, "product.created", prod); err != nil {
			return err
		}
		return event.Record(ctx, tx, sc, "price.created", price)
	})
	if err != nil {
		return nil, fmt.Errorf("create product: %w", err)
	}
	return prod, nil
}

func setDefaultPrice(ctx context.Context, tx *store.Tx, accountID string, prod *Product) error {
	if _, err := tx.ExecContext(ctx, `UPDATE products SET default_price = $1, updated = $2 WHERE account_id = $3 AND id = $4`,
		prod.DefaultPrice, prod.Updated, accountID, prod.ID); err != nil {
		return fmt.Errorf("set default price of %s: %w", prod.ID, err)
	}
	return nil
}

const productColumns = `p.id, p.active, p.created, p.default_price, p.description, p.name, p.tax_code, p.updated`

const productFrom = ` FROM products p`

// scanProduct reads a product row; livemode is the account's, known from the scope.
func scanProduct(row interface{ Scan(...any) error }, livemode bool) (*Product, error) {
	p := &Product{Object: "product", Livemode: livemode}
	if err := row.Scan(&p.ID, &p.Active, &p.Created, &p.DefaultPrice, &p.Description, &p.Name, &p.TaxCode,
		&p.Updated); err != nil {
		return nil, err
	}
	return p, nil
}

func productNotFound(productID string) error {
	return apperr.NotFoundf("Product %s not found", productID)
}

func getProduct(ctx context.Context, q store.Querier, sc account.Scope, productID, lock string) (*Product, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+productColumns+productFrom+`
		WHERE p.account_id = $1 AND p.id = $2 AND p.deleted_at IS NULL`+lock, sc.AccountID, productID),
		func(r store.Row) (*Product, error) { return scanProduct(r, sc.Livemode) },
		func() error { return productNotFound(productID) }, "product "+productID)
}

// GetProduct returns a product of the account.
func (s *Service) GetProduct(ctx context.Context, sc account.Scope, productID string) (*Product, error) {
	return getProduct(ctx, s.db.Read(), sc, productID, "")
}

// UpdateProduct changes a product and records product.updated.
func (s *Service) UpdateProduct(ctx context.Context, sc account.Scope, productID string, params UpdateProductParams) (*Product, error) {
	if err := params.validate(); err != nil {
		return nil, err
	}
	var prod *Product
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if prod, err = getProduct(ctx, tx, sc, productID, lockRows(tx, "p")); err != nil {
			return err
		}
		before := *prod
		if params.Name != nil {
			prod.Name = strings.TrimSpace(*params.Name)
			if err := checkNameFree(ctx, tx, sc.AccountID, prod.Name, prod.ID); err != nil {
				return err
			}
		}
		if params.Description.Set {
			prod.Description = params.Description.New()
		}
		if params.TaxCode.Set {
			prod.TaxCode = taxcode.Default
			if params.TaxCode.Value != nil {
				prod.TaxCode = *params.TaxCode.Value
			}
		}
		if prod.Name == before.Name && field.SameText(prod.Description, before.Description) && prod.TaxCode == before.TaxCode {
			return nil // nothing changes: nothing to record or announce
		}
		prod.Updated = sc.Now().Unix()
		if _, err := tx.ExecContext(ctx, `UPDATE products SET name = $1, name_key = $2, description = $3, tax_code = $4,
			updated = $5 WHERE account_id = $6 AND id = $7`,
			prod.Name, nameKey(prod.Name), prod.Description, prod.TaxCode, prod.Updated, sc.AccountID, prod.ID); err != nil {
			if store.IsUniqueViolation(err) {
				return nameTaken(prod.Name, "")
			}
			return fmt.Errorf("update product: %w", err)
		}
		return event.Record(ctx, tx, sc, "product.updated", prod)
	})
	if err != nil {
		return nil, fmt.Errorf("update product %s: %w", productID, err)
	}
	return prod, nil
}

// SetProductActive activates or deactivates a product (an extension of the
// contract) and records product.updated when that changes anything. An
// inactive product cannot be sold; its prices keep their own flag.
func (s *Service) SetProductActive(ctx context.Context, sc account.Scope, productID string, active bool) (*Product, error) {
	var prod *Product
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if prod, err = getProduct(ctx, tx, sc, productID, lockRows(tx, "p")); err != nil {
			return err
		}
		if prod.Active == active {
			return nil
		}
		prod.Active, prod.Updated = active, sc.Now().Unix()
		if _, err := tx.ExecContext(ctx, `UPDATE products SET active = $1, updated = $2 WHERE account_id = $3 AND id = $4`,
			active, prod.Updated, sc.AccountID, prod.ID); err != nil {
			return fmt.Errorf("update product: %w", err)
		}
		return event.Record(ctx, tx, sc, "product.updated", prod)
	})
	if err != nil {
		return nil, fmt.Errorf("set product %s active=%t: %w", productID, active, err)
	}
	return prod, nil
}

// DeleteProduct deletes a product and all its prices, unless something live
// uses one of them. It records price.deleted per price, then product.deleted.
func (s *Service) DeleteProduct(ctx context.Context, sc account.Scope, productID string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		prod, err := getProduct(ctx, tx, sc, productID, lockRows(tx, "p"))
		if err != nil {
			return err
		}
		prices, err := s.productPrices(ctx, tx, sc, prod.ID)
		if err != nil {
			return err
		}
		for _, p := range prices {
			use, err := s.priceInUse(ctx, tx, sc.AccountID, p.ID, Deleting)
			if err != nil {
				return err
			}
			if use != "" {
				return apperr.BadRequestf("PRODUCT_IN_USE",
					"Product %s cannot be deleted: its price %s is used by %s; deactivate the product instead (POST /products/%s/deactivate)",
					prod.ID, p.ID, use, prod.ID)
			}
		}
		now := sc.Now().Unix()
		for _, p := range prices {
			if _, err := tx.ExecContext(ctx, `UPDATE prices SET deleted_at = $1 WHERE account_id = $2 AND id = $3`,
				now, sc.AccountID, p.ID); err != nil {
				return fmt.Errorf("delete price %s: %w", p.ID, err)
			}
			if err := event.Record(ctx, tx, sc, "price.deleted", p); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE products SET deleted_at = $1 WHERE account_id = $2 AND id = $3`,
			now, sc.AccountID, prod.ID); err != nil {
			return fmt.Errorf("delete product: %w", err)
		}
		return event.Record(ctx, tx, sc, "product.deleted", prod)
	})
	if err != nil {
		return fmt.Errorf("delete product %s: %w", productID, err)
	}
	return nil
}

// productPrices returns a product's live prices, oldest first, locked.
func (s *Service) productPrices(ctx context.Context, tx *store.Tx, sc account.Scope, productID string) ([]*Price, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+priceColumns+priceFrom+`
		WHERE pr.account_id = $1 AND pr.product_id = $2 AND pr.deleted_at IS NULL ORDER BY pr.seq`+lockRows(tx, "pr"),
		sc.AccountID, productID)
	if err != nil {
		return nil, fmt.Errorf("list prices of %s: %w", productID, err)
	}
	defer rows.Close()
	var out []*Price
	for rows.Next() {
		p, err := s.scanPrice(rows, sc.Livemode)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func productFilter(sc account.Scope, search listing.Search) (*listing.Where, error) {
	w := &listing.Where{}
	w.Add("p.account_id = ?", sc.AccountID)
	w.Add("p.deleted_at IS NULL")
	active, ok, err := search.Bool("active")
	if err != nil {
		return nil, err
	}
	if ok {
		w.Add("p.active = ?", active)
	}
	codes, err := searchList(search, "tax_code")
	if err != nil {
		return nil, err
	}
	w.In("p.tax_code", codes)
	ids, err := searchList(search, "ids")
	if err != nil {
		return nil, err
	}
	w.In("p.id", ids)
	if err := search.Range(w, "created", "p.created"); err != nil {
		return nil, err
	}
	return w, nil
}

// ListProducts returns a page of the account's products, newest first.
func (s *Service) ListProducts(ctx context.Context, sc account.Scope, p ProductListParams) (listing.Page[*Product], error) {
	w, err := productFilter(sc, p.Search)
	if err != nil {
		return listing.Page[*Product]{}, err
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "products", Columns: productColumns, From: productFrom,
		OrderBy: "p.created DESC, p.seq DESC"}, w, p.Page, func(r listing.Row) (*Product, error) { return scanProduct(r, sc.Livemode) })
}
