package payment

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/customer"
	"github.com/kassahq/kassa/internal/event"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/store"
)

// Card is the card part of a payment method.
type Card struct {
	Brand      *string `json:"brand"`
	Last4      *string `json:"last4"`
	WalletType *string `json:"walletType"`
	ExpMonth   *int    `json:"exp_month"`
	ExpYear    *int    `json:"exp_year"`
}

// Networks are the rails a bank account can be debited through.
type Networks struct {
	Preferred string   `json:"preferred"`
	Supported []string `json:"supported"`
}

// USBankAccount is the bank-account part of a payment method.
type USBankAccount struct {
	AccountHolderType           string         `json:"account_holder_type"`
	AccountType                 string         `json:"account_type"`
	BankName                    string         `json:"bank_name"`
	FinancialConnectionsAccount *string        `json:"financial_connections_account"`
	Fingerprint                 string         `json:"fingerprint"`
	Last4                       string         `json:"last4"`
	Networks                    Networks       `json:"networks"`
	RoutingNumber               string         `json:"routing_number"`
	StatusDetails               map[string]any `json:"status_details"`
}

// Address is a billing address; every field may be null.
type Address struct {
	City       *string `json:"city"`
	Country    *string `json:"country"`
	Line1      *string `json:"line1"`
	Line2      *string `json:"line2"`
	PostalCode *string `json:"postal_code"`
	State      *string `json:"state"`
}

// BillingDetails are who pays and where.
type BillingDetails struct {
	Address Address `json:"address"`
	Email   *string `json:"email"`
	Name    *string `json:"name"`
	Phone   *string `json:"phone"`
}

// PaymentMethod is the API object. Only the gateway's reference and display
// details are kept; never a full card number. Card and USBankAccount are
// optional and not nullable in the contract: each appears for its type only.
type PaymentMethod struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	Type           string            `json:"type"`
	Card           *Card             `json:"card,omitempty"`
	USBankAccount  *USBankAccount    `json:"us_bank_account,omitempty"`
	BillingDetails BillingDetails    `json:"billing_details"`
	AllowRedisplay string            `json:"allow_redisplay"`
	Customer       *string           `json:"customer"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Created        int64             `json:"created"`

	gateway     string
	ref         string
	customerRef string
}

// AttachParams is the body of POST /payment-methods/{token}/attach.
type AttachParams struct {
	CustomerID *string `json:"customerId"`
	CardNumber *string `json:"cardNumber"`
	CardType   *string `json:"cardType"`
	CardExp    *string `json:"cardExp"`
	WalletType *string `json:"walletType"`
	Zipcode    *string `json:"zipcode"`
}

var (
	maskedCardRe = regexp.MustCompile(`^\d{4,6}\*{2,}\d{4}$`)
	cardExpRe    = regexp.MustCompile(`^(0[1-9]|1[0-2])\d{2}$`)
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (p *AttachParams) validate() error {
	if p.CustomerID == nil || strings.TrimSpace(*p.CustomerID) == "" {
		return apperr.Invalidf("customerId should not be empty")
	}
	if p.CardNumber != nil && !maskedCardRe.MatchString(*p.CardNumber) {
		// Never echo it: it may be a full card number.
		return apperr.Invalidf("cardNumber must be a masked card number such as 411111******1111")
	}
	if p.CardExp != nil && !cardExpRe.MatchString(*p.CardExp) {
		return apperr.Invalidf("cardExp must be a card expiry in MMYY form")
	}
	if p.WalletType != nil {
		switch *p.WalletType {
		case gateway.WalletApplePay, gateway.WalletGooglePay:
		default:
			return apperr.Invalidf("walletType must be one of the following values: apple_pay, google_pay")
		}
	}
	if p.CardType != nil && len(*p.CardType) > 32 {
		return apperr.Invalidf("cardType must be shorter than or equal to 32 characters")
	}
	if p.Zipcode != nil && len(*p.Zipcode) > 16 {
		return apperr.Invalidf("zipcode must be shorter than or equal to 16 characters")
	}
	return nil
}

// methodNotFound names the id asked for, redacted: it may be a card number
// given in place of a token.
func methodNotFound(pmID string) error {
	return apperr.NotFoundf("Payment method %s not found", gateway.RedactToken(pmID))
}

// Attach turns a client-side token into a payment method of a customer and
// records payment_method.attached. The customer's first method becomes its
// default. token may also be one of the account's own payment method ids:
// attaching a method to the customer it already belongs to returns it as is.
func (s *Service) Attach(ctx context.Context, sc account.Scope, token string, p AttachParams) (*PaymentMethod, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, apperr.Invalidf("token should not be empty")
	}
	cust, err := s.customers.Get(ctx, sc, strings.TrimSpace(*p.CustomerID))
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(token, id.PaymentMethod+"_") {
		own, err := getMethod(ctx, s.db.Read(), sc, token, "")
		switch {
		case err == nil && own.Customer != nil && *own.Customer == cust.ID:
			return own, nil
		case err == nil && own.Customer == nil:
			return nil, apperr.BadRequestf("PAYMENT_METHOD_DETACHED",
				"Payment method %s was detached and cannot be attached again", own.ID)
		case err == nil:
			return nil, apperr.BadRequestf("PAYMENT_METHOD_IN_USE",
				"Payment method %s is attached to another customer", own.ID)
		case !apperr.IsKind(err, apperr.NotFound):
			return nil, err
		}
		// Not ours: a gateway's id, handed to the gateway below.
	}
	g, err := s.Gateway(ctx, sc)
	if err != nil {
		return nil, err
	}
	var custRef string
	err = s.db.Read().QueryRowContext(ctx, `SELECT ref FROM gateway_customers WHERE account_id = $1 AND customer_id = $2 AND gateway = $3`,
		sc.AccountID, cust.ID, g.Name()).Scan(&custRef)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load gateway customer: %w", err)
	}
	gpm, err := g.AttachPaymentMethod(ctx, gateway.AttachRequest{
		Token:            token,
		CustomerRef:      custRef,
		Customer:         gateway.Customer{ID: cust.ID, Name: cust.Name, Email: str(cust.Email)},
		CardNumberMasked: str(p.CardNumber),
		CardType:         str(p.CardType),
		CardExp:          str(p.CardExp),
		WalletType:       str(p.WalletType),
		Zip:              str(p.Zipcode),
	})
	switch {
	case errors.Is(err, gateway.ErrInvalidToken):
		return nil, apperr.BadRequestf("NO_SUCH_TOKEN", "No such token: '%s'", gateway.RedactToken(token))
	case errors.Is(err, gateway.ErrInvalidRequest):
		return nil, apperr.BadRequestf("GATEWAY_REJECTED", "The payment gateway refused the payment method: %v", err)
	case err != nil:
		return nil, &apperr.Error{Kind: apperr.BadGateway, Code: "GATEWAY_ERROR", Message: "The payment gateway could not attach the payment method", Err: err}
	}

	pm := &PaymentMethod{
		ID: id.New(id.PaymentMethod), Object: "payment_method", Type: gpm.Type,
		AllowRedisplay: "unspecified", Customer: &cust.ID, Livemode: sc.Livemode, Metadata: map[string]string{},
		Created: sc.Now().Unix(), gateway: g.Name(), ref: gpm.Ref, customerRef: gpm.CustomerRef,
		BillingDetails: BillingDetails{Name: &cust.Name, Email: cust.Email, Address: Address{PostalCode: nonEmpty(strings.TrimSpace(str(p.Zipcode)))}},
	}
	if c := gpm.Card; c != nil {
		pm.Card = &Card{Brand: nonEmpty(c.Brand), Last4: nonEmpty(c.Last4), WalletType: nonEmpty(c.WalletType)}
		if c.ExpMonth > 0 {
			pm.Card.ExpMonth, pm.Card.ExpYear = ptr(c.ExpMonth), ptr(c.ExpYear)
		}
	}
	if b := gpm.BankAccount; b != nil {
		pm.USBankAccount = &USBankAccount{
			AccountHolderType: b.AccountHolderType, AccountType: b.AccountType, BankName: b.BankName,
			Fingerprint: b.Fingerprint, Last4: b.Last4, RoutingNumber: b.RoutingNumber,
			Networks: Networks{Preferred: "ach", Supported: []string{"ach"}}, StatusDetails: map[string]any{},
		}
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		c, err := customer.GetTx(ctx, tx, sc, cust.ID)
		if err != nil {
			return err
		}
		if gpm.CustomerRef != "" && custRef == "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_customers (account_id, customer_id, gateway, ref, created)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, customer_id, gateway) DO NOTHING`,
				sc.AccountID, c.ID, g.Name(), gpm.CustomerRef, pm.Created); err != nil {
				return fmt.Errorf("insert gateway customer: %w", err)
			}
		}
		if err := insertMethod(ctx, tx, sc.AccountID, pm); err != nil {
			return err
		}
		if c.DefaultPaymentMethod == nil {
			if err := setDefault(ctx, tx, sc, c, &pm.ID); err != nil {
				return err
			}
		}
		return event.Record(ctx, tx, sc, "payment_method.attached", pm)
	})
	if err != nil {
		return nil, fmt.Errorf("attach payment method: %w", err)
	}
	return pm, nil
}

// setDefault points the customer's default at pmID (nil clears it) and
// announces the change as customer.updated.
func setDefault(ctx context.Context, tx *store.Tx, sc account.Scope, c *customer.Customer, pmID *string) error {
	if err := customer.SetDefaultPaymentMethod(ctx, tx, sc.AccountID, c.ID, pmID); err != nil {
		return err
	}
	c.DefaultPaymentMethod = pmID
	return event.Record(ctx, tx, sc, "customer.updated", c)
}

func insertMethod(ctx context.Context, tx *store.Tx, accountID string, pm *PaymentMethod) error {
	billing, err := json.Marshal(pm.BillingDetails)
	if err != nil {
		return err
	}
	var bank *string
	if pm.USBankAccount != nil {
		b, err := json.Marshal(pm.USBankAccount)
		if err != nil {
			return err
		}
		bank = ptr(string(b))
	}
	var brand, last4, wallet *string
	var expMonth, expYear *int
	if c := pm.Card; c != nil {
		brand, last4, wallet, expMonth, expYear = c.Brand, c.Last4, c.WalletType, c.ExpMonth, c.ExpYear
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO payment_methods (id, account_id, customer_id, gateway, gateway_ref,
		gateway_customer_ref, type, card_brand, card_last4, card_exp_month, card_exp_year, wallet_type, bank_account,
		billing_details, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		pm.ID, accountID, pm.Customer, pm.gateway, pm.ref, nonEmpty(pm.customerRef), pm.Type, brand, last4,
		expMonth, expYear, wallet, bank, string(billing), pm.Created)
	if err != nil {
		return fmt.Errorf("insert payment method: %w", err)
	}
	return nil
}

const methodColumns = `pm.id, pm.customer_id, pm.gateway, pm.gateway_ref, COALESCE(pm.gateway_customer_ref, ''), pm.type,
	pm.card_brand, pm.card_last4, pm.card_exp_month, pm.card_exp_year, pm.wallet_type, pm.bank_account,
	pm.billing_details, pm.created`

func scanMethod(row interface{ Scan(...any) error }, livemode bool) (*PaymentMethod, error) {
	pm := &PaymentMethod{Object: "payment_method", AllowRedisplay: "unspecified", Livemode: livemode, Metadata: map[string]string{}}
	var brand, last4, wallet, bank *string
	var expMonth, expYear *int
	var billing string
	if err := row.Scan(&pm.ID, &pm.Customer, &pm.gateway, &pm.ref, &pm.customerRef, &pm.Type,
		&brand, &last4, &expMonth, &expYear, &wallet, &bank, &billing, &pm.Created); err != nil {
		return nil, err
	}
	if pm.Type == gateway.TypeCard {
		pm.Card = &Card{Brand: brand, Last4: last4, WalletType: wallet, ExpMonth: expMonth, ExpYear: expYear}
	}
	if bank != nil {
		pm.USBankAccount = &USBankAccount{}
		if err := json.Unmarshal([]byte(*bank), pm.USBankAccount); err != nil {
			return nil, fmt.Errorf("decode bank account of %s: %w", pm.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(billing), &pm.BillingDetails); err != nil {
		return nil, fmt.Errorf("decode billing details of %s: %w", pm.ID, err)
	}
	return pm, nil
}

// getMethod loads one of the account's payment methods; lock is "" or the
// dialect's row lock.
func getMethod(ctx context.Context, q store.Querier, sc account.Scope, pmID, lock string) (*PaymentMethod, error) {
	return store.One(q.QueryRowContext(ctx, `SELECT `+methodColumns+` FROM payment_methods pm
		WHERE pm.account_id = $1 AND pm.id = $2`+lock, sc.AccountID, pmID),
		func(r store.Row) (*PaymentMethod, error) { return scanMethod(r, sc.Livemode) },
		func() error { return methodNotFound(pmID) }, "payment method "+pmID)
}

// GetMethod returns one of the account's payment methods.
func (s *Service) GetMethod(ctx context.Context, sc account.Scope, pmID string) (*PaymentMethod, error) {
	return getMethod(ctx, s.db.Read(), sc, pmID, "")
}

// GetCustomerMethod returns a payment method attached to a live customer;
// another customer's method is not found.
func (s *Service) GetCustomerMethod(ctx context.Context, sc account.Scope, customerID, pmID string) (*PaymentMethod, error) {
	if _, err := s.customers.Get(ctx, sc, customerID); err != nil {
		return nil, err
	}
	pm, err := s.GetMethod(ctx, sc, pmID)
	if err != nil {
		return nil, err
	}
	if pm.Customer == nil || *pm.Customer != customerID {
		return nil, apperr.NotFoundf("Payment method %s not found for customer %s", pm.ID, customerID)
	}
	return pm, nil
}

// Detach removes a payment method from its customer, at the gateway and
// here, and records payment_method.detached. A detached method can neither
// be charged nor attached again. Detaching the customer's default clears the
// default (as Stripe does): Kassa never picks another card on its own.
func (s *Service) Detach(ctx context.Context, sc account.Scope, pmID string) (*PaymentMethod, error) {
	pm, err := s.GetMethod(ctx, sc, pmID)
	if err != nil {
		return nil, err
	}
	if pm.Customer == nil {
		return nil, apperr.BadRequestf("PAYMENT_METHOD_DETACHED", "Payment method %s is not attached to a customer", pmID)
	}
	// A method of a gateway the account no longer uses is only detached
	// here; so is any method of a live account without a gateway, which
	// nothing could charge anyway.
	g, err := s.Gateway(ctx, sc)
	switch {
	case isNotConfigured(err):
	case err != nil:
		return nil, err
	case g.Name() == pm.gateway:
		err := g.DetachPaymentMethod(ctx, pm.ref)
		// The gateway refusing (unknown or already detached) leaves nothing to undo there.
		if err != nil && !errors.Is(err, gateway.ErrNoSuchPaymentMethod) && !errors.Is(err, gateway.ErrInvalidRequest) {
			return nil, &apperr.Error{Kind: apperr.BadGateway, Code: "GATEWAY_ERROR", Message: "The payment gateway could not detach the payment method", Err: err}
		}
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := getMethod(ctx, tx, sc, pmID, tx.Dialect.ForUpdate())
		if err != nil {
			return err
		}
		if cur.Customer == nil {
			return apperr.BadRequestf("PAYMENT_METHOD_DETACHED", "Payment method %s is not attached to a customer", pmID)
		}
		owner := *cur.Customer
		now := sc.Now().Unix()
		if _, err := tx.ExecContext(ctx, `UPDATE payment_methods SET customer_id = NULL, detached_from = $1, detached_at = $2
			WHERE account_id = $3 AND id = $4`, owner, now, sc.AccountID, pmID); err != nil {
			return fmt.Errorf("detach payment method: %w", err)
		}
		c, err := customer.GetTx(ctx, tx, sc, owner)
		switch {
		case apperr.IsKind(err, apperr.NotFound): // a deleted customer has no default to fix
		case err != nil:
			return err
		case c.DefaultPaymentMethod != nil && *c.DefaultPaymentMethod == pmID:
			if err := setDefault(ctx, tx, sc, c, nil); err != nil {
				return err
			}
		}
		cur.Customer = nil
		pm = cur
		return event.Record(ctx, tx, sc, "payment_method.detached", pm)
	})
	if err != nil {
		return nil, fmt.Errorf("detach payment method %s: %w", pmID, err)
	}
	return pm, nil
}

// SetDefault makes an attached payment method its customer's default.
func (s *Service) SetDefault(ctx context.Context, sc account.Scope, pmID string) (*PaymentMethod, error) {
	var pm *PaymentMethod
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if pm, err = getMethod(ctx, tx, sc, pmID, tx.Dialect.ForUpdate()); err != nil {
			return err
		}
		if pm.Customer == nil {
			return apperr.BadRequestf("PAYMENT_METHOD_DETACHED", "Payment method %s is not attached to a customer", pmID)
		}
		c, err := customer.GetTx(ctx, tx, sc, *pm.Customer)
		if err != nil {
			return err
		}
		if c.DefaultPaymentMethod != nil && *c.DefaultPaymentMethod == pmID {
			return nil
		}
		return setDefault(ctx, tx, sc, c, &pm.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("set default payment method %s: %w", pmID, err)
	}
	return pm, nil
}

// MethodListParams filter GET /payment-methods. CustomerID, when set,
// restricts the list to that customer's attached methods.
type MethodListParams struct {
	Page       listing.Params
	Search     listing.Search
	CustomerID string
}

// ListMethods returns a page of the account's payment methods, newest first,
// detached ones included (with customer null). Search keys: customer, type.
func (s *Service) ListMethods(ctx context.Context, sc account.Scope, p MethodListParams) (listing.Page[*PaymentMethod], error) {
	var empty listing.Page[*PaymentMethod]
	w := &listing.Where{}
	w.Add("pm.account_id = ?", sc.AccountID)
	if p.CustomerID != "" {
		if _, err := s.customers.Get(ctx, sc, p.CustomerID); err != nil {
			return empty, err
		}
		w.Add("pm.customer_id = ?", p.CustomerID)
	}
	if v, ok, err := p.Search.String("customer"); err != nil {
		return empty, err
	} else if ok {
		w.Add("pm.customer_id = ?", v)
	}
	types, err := searchEnum(p.Search, "type", []string{gateway.TypeCard, gateway.TypeUSBankAccount})
	if err != nil {
		return empty, err
	}
	w.In("pm.type", types)
	if err := p.Search.Range(w, "created", "pm.created"); err != nil {
		return empty, err
	}
	return listing.Fetch(ctx, s.db.Read(), listing.Query{What: "payment methods", Columns: methodColumns,
		From: " FROM payment_methods pm", OrderBy: "pm.created DESC, pm.seq DESC"}, w, p.Page,
		func(r listing.Row) (*PaymentMethod, error) { return scanMethod(r, sc.Livemode) })
}
