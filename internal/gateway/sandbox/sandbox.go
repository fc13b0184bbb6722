// Package sandbox is Kassa's built-in payment gateway: fully offline,
// deterministic and stateless, with Stripe's test tokens and card numbers.
//
// Stateless means every answer is computed from the request alone, so the
// gateway behaves the same after a restart and on every node: a charge's ref
// is derived from its idempotency key (the same key always names the same
// charge, and never a second one), and the payment method ref is the test
// token's name. A raw test card number is accepted in place of its token
// but never kept: the payment method it yields is named by the token.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kassahq/kassa/internal/gateway"
)

// Name is the gateway's name.
const Name = "sandbox"

// Settlement delays: when an approved charge's money becomes available.
const (
	CardSettlement = 2 * 24 * time.Hour
	ACHSettlement  = 4 * 24 * time.Hour
)

// Ref prefixes.
const (
	chargePrefix   = "ch_sbx_"
	refundPrefix   = "re_sbx_"
	customerPrefix = "cus_sbx_"
)

// Gateway is the sandbox gateway, safe for concurrent use. The zero value is
// not usable: call New.
type Gateway struct {
	now func() time.Time
}

var _ gateway.Gateway = (*Gateway)(nil)

// New returns a sandbox gateway reading time from now (the account's clock,
// simulated in test mode). It panics when now is nil, a programming error.
func New(now func() time.Time) *Gateway {
	if now == nil {
		panic("sandbox.New: nil clock")
	}
	return &Gateway{now: now}
}

// Name implements gateway.Gateway.
func (g *Gateway) Name() string { return Name }

// AttachPaymentMethod implements gateway.Gateway.
func (g *Gateway) AttachPaymentMethod(_ context.Context, req gateway.AttachRequest) (gateway.PaymentMethod, error) {
	if err := req.Validate(); err != nil {
		return gateway.PaymentMethod{}, fmt.Errorf("sandbox: attach: %w", err)
	}
	in, ok := byToken(req.Token)
	if !ok {
		return gateway.PaymentMethod{}, fmt.Errorf("sandbox: attach %s: %w", gateway.RedactToken(req.Token), gateway.ErrInvalidToken)
	}
	customer := req.CustomerRef
	if customer == "" {
		// Derived, not stored: attaching again for the same customer finds
		// the same processor-side customer.
		customer = customerPrefix + digest("customer", req.Customer.ID, req.Customer.Email, req.Customer.Name)
	}
	pm := gateway.PaymentMethod{Ref: in.ref, CustomerRef: customer, Type: in.typ}
	if in.bank != nil {
		bank := *in.bank
		pm.BankAccount = &bank
		return pm, nil
	}
	month, year := 12, g.now().Year()+5
	if req.CardExp != "" { // validated MMYY
		month, _ = strconv.Atoi(req.CardExp[:2])
		yy, _ := strconv.Atoi(req.CardExp[2:])
		year = 2000 + yy
	}
	pm.Card = &gateway.Card{Brand: in.brand, Last4: in.last4, ExpMonth: month, ExpYear: year, WalletType: req.WalletType}
	return pm, nil
}

// DetachPaymentMethod implements gateway.Gateway. Nothing is held, so it only
// checks that the ref names a test payment method.
func (g *Gateway) DetachPaymentMethod(_ context.Context, ref string) error {
	if _, ok := byRef(ref); !ok {
		return fmt.Errorf("sandbox: detach %s: %w", gateway.RedactToken(ref), gateway.ErrNoSuchPaymentMethod)
	}
	return nil
}

// Charge implements gateway.Gateway.
func (g *Gateway) Charge(_ context.Context, req gateway.ChargeRequest) (gateway.ChargeResult, error) {
	res, err := g.outcome(req, g.now())
	if err != nil {
		return gateway.ChargeResult{}, fmt.Errorf("sandbox: charge: %w", err)
	}
	return res, nil
}

// ChargeStatus implements gateway.Gateway. It recomputes the answer Charge
// gave, except that a charge left unconfirmed by a processing error is
// reported declined: the sandbox processor never took that money.
// Settlement is dated from req.SentAt (now when zero), so an approved
// charge's status equals its original result when SentAt is the time the
// charge was sent.
func (g *Gateway) ChargeStatus(_ context.Context, req gateway.StatusRequest) (gateway.ChargeResult, error) {
	at := req.SentAt
	if at.IsZero() {
		at = g.now()
	}
	res, err := g.outcome(req.ChargeRequest, at)
	if err != nil {
		return gateway.ChargeResult{}, fmt.Errorf("sandbox: charge status: %w", err)
	}
	if req.ChargeRef != "" && req.ChargeRef != res.ChargeRef {
		return gateway.ChargeResult{}, fmt.Errorf("sandbox: charge status: charge %s was not sent with this idempotency key: %w",
			req.ChargeRef, gateway.ErrInvalidRequest)
	}
	if res.Outcome == gateway.Unconfirmed {
		res.Outcome = gateway.Declined
	}
	return res, nil
}

// outcome is the one place where a charge's result is decided.
func (g *Gateway) outcome(req gateway.ChargeRequest, at time.Time) (gateway.ChargeResult, error) {
	if err := req.Validate(); err != nil {
		return gateway.ChargeResult{}, err
	}
	in, ok := byRef(req.PaymentMethodRef)
	if !ok {
		return gateway.ChargeResult{}, fmt.Errorf("payment method %s: %w", gateway.RedactToken(req.PaymentMethodRef), gateway.ErrNoSuchPaymentMethod)
	}
	if in.typ == gateway.TypeUSBankAccount && req.Currency != "USD" {
		return gateway.ChargeResult{}, fmt.Errorf("%w: us_bank_account charges must be in USD, got %s", gateway.ErrInvalidRequest, req.Currency)
	}
	res := gateway.ChargeResult{
		ChargeRef: ChargeRef(req.IdempotencyKey),
		Source:    in.source(),
	}
	switch {
	case in.unconfirmed:
		res.Outcome, res.DeclineCode, res.Message = gateway.Unconfirmed, in.declineCode, in.message
	case in.declineCode != "":
		res.Outcome, res.DeclineCode, res.Message = gateway.Declined, in.declineCode, in.message
	default:
		f, details, err := fee(res.Source, req.Amount, req.Currency)
		if err != nil {
			return gateway.ChargeResult{}, err
		}
		settle := CardSettlement
		if res.Source == gateway.SourceBankAccount {
			settle = ACHSettlement
		}
		res.Outcome, res.Message = gateway.Approved, "Payment succeeded."
		res.Fee, res.FeeDetails, res.AvailableOn = f, details, at.Add(settle)
	}
	return res, nil
}

// Refund implements gateway.Gateway. Every refund of a sandbox charge is
// approved; without state the sandbox cannot check it against the charge's
// amount, so the payment service must.
func (g *Gateway) Refund(_ context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	if err := req.Validate(); err != nil {
		return gateway.RefundResult{}, fmt.Errorf("sandbox: refund: %w", err)
	}
	if !strings.HasPrefix(req.ChargeRef, chargePrefix) {
		return gateway.RefundResult{}, fmt.Errorf("sandbox: refund: no such charge %s: %w", gateway.RedactToken(req.ChargeRef), gateway.ErrInvalidRequest)
	}
	return gateway.RefundResult{
		RefundRef: RefundRef(req.IdempotencyKey),
		Outcome:   gateway.Approved,
		Message:   "Refund succeeded.",
	}, nil
}

// ChargeRef is the ref the sandbox gives the charge sent with an idempotency
// key: "ch_sbx_" and the first 24 hex digits of sha256(key).
func ChargeRef(idempotencyKey string) string { return chargePrefix + keyHash(idempotencyKey) }

// RefundRef is the ref the sandbox gives the refund sent with an idempotency
// key: "re_sbx_" and the first 24 hex digits of sha256(key).
func RefundRef(idempotencyKey string) string { return refundPrefix + keyHash(idempotencyKey) }

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:24]
}

// digest names a derived customer from several parts, kept apart by NULs.
func digest(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}
