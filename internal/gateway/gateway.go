// Package gateway defines how Kassa talks to a payment processor: it turns
// client-side tokens into reusable payment methods, charges and refunds them,
// and asks what became of a charge whose outcome never came back.
//
// Implementations live in subpackages: sandbox (the offline default) and
// stripegw (Stripe). They hold no database state and never read the wall
// clock: time comes from an injected func so simulated test clocks work.
package gateway

import (
	"context"
	"time"
)

// Gateway is a payment processor as Kassa's payment service sees it.
//
// Money-moving calls (Charge, Refund) report processor outcomes in their
// result, not as errors: a decline is a normal answer, and a transport
// failure whose effect is unknown is Outcome Unconfirmed so the caller can
// reconcile it later with ChargeStatus. A non-nil error means the request
// itself was wrong (it wraps ErrInvalidRequest, ErrInvalidToken or
// ErrNoSuchPaymentMethod) or, for calls that move no money, that the call
// failed; no money moved in either case.
type Gateway interface {
	// Name identifies the implementation: "sandbox", "stripe".
	Name() string
	// AttachPaymentMethod turns a client-side token into a reusable payment
	// method at the processor, attached to the processor-side customer
	// (created when CustomerRef is empty).
	AttachPaymentMethod(ctx context.Context, req AttachRequest) (PaymentMethod, error)
	// DetachPaymentMethod removes a payment method from its customer so it
	// can no longer be charged.
	DetachPaymentMethod(ctx context.Context, ref string) error
	// Charge takes money off-session. The same IdempotencyKey never charges twice.
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// Refund returns money of an approved charge, in full or in part.
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
	// ChargeStatus asks the processor what became of a charge whose outcome
	// was not confirmed, by the idempotency key it was sent with. The result
	// is Unconfirmed again only while the processor itself does not know yet.
	ChargeStatus(ctx context.Context, req StatusRequest) (ChargeResult, error)
}

// Customer is what a processor-side customer is created from.
type Customer struct {
	ID    string // Kassa's customer id (cus_…), kept as processor metadata
	Name  string
	Email string
}

// AttachRequest asks to turn a token into a reusable payment method.
type AttachRequest struct {
	// Token is what the client-side tokeniser produced (tok_…, pm_…).
	Token string
	// CustomerRef is the processor-side customer; empty creates one from Customer.
	CustomerRef string
	Customer    Customer

	// Card extras some tokenisers (NMI Collect.js) hand over alongside the
	// token. CardNumberMasked must be masked (411111******1111): a full card
	// number is refused so it can never reach storage.
	CardNumberMasked string
	CardType         string // brand as the tokeniser names it (visa, mastercard…)
	CardExp          string // MMYY
	WalletType       string // "", WalletApplePay or WalletGooglePay
	Zip              string // billing postal code
}

// Payment method types.
const (
	TypeCard          = "card"
	TypeUSBankAccount = "us_bank_account"
)

// Wallet types.
const (
	WalletApplePay  = "apple_pay"
	WalletGooglePay = "google_pay"
)

// PaymentMethod is a reusable, processor-held way to pay. It never carries a
// full card number.
type PaymentMethod struct {
	Ref         string // processor id to charge later (pm_…, tok_visa in the sandbox)
	CustomerRef string // processor-side customer it is attached to
	Type        string // TypeCard or TypeUSBankAccount
	Card        *Card
	BankAccount *BankAccount
}

// Card describes a card payment method.
type Card struct {
	Brand      string // lower-case: visa, mastercard, amex, discover…
	Last4      string
	ExpMonth   int
	ExpYear    int
	WalletType string
}

// BankAccount describes a US bank account (ACH debit) payment method.
type BankAccount struct {
	BankName          string
	Last4             string
	RoutingNumber     string
	Fingerprint       string
	AccountHolderType string // individual | company
	AccountType       string // checking | savings
}

// ChargeRequest asks to take money from a stored payment method.
type ChargeRequest struct {
	Amount           int64  // minor units, > 0
	Currency         string // ISO 4217, upper-case
	PaymentMethodRef string
	CustomerRef      string
	// IdempotencyKey is required: a repeat with the same key returns the
	// first answer and never charges a second time. Keep it unique across
	// accounts (e.g. derived from the payment attempt's id).
	IdempotencyKey string
	Description    string
}

// Outcome is what a processor made of a money-moving request.
type Outcome string

const (
	Approved Outcome = "approved"
	Declined Outcome = "declined"
	// Unconfirmed: the request may or may not have taken effect (timeout,
	// network or processor error, payment still processing). Reconcile with
	// ChargeStatus; never retry with a new idempotency key before that.
	Unconfirmed Outcome = "unconfirmed"
)

// Common decline codes (Stripe's vocabulary). Processors may return others.
const (
	CodeCardDeclined           = "card_declined"
	CodeInsufficientFunds      = "insufficient_funds"
	CodeExpiredCard            = "expired_card"
	CodeProcessingError        = "processing_error"
	CodeAuthenticationRequired = "authentication_required"
	CodeChargeNotFound         = "charge_not_found"
)

// Money sources, as the balance reports them (source_types).
const (
	SourceCard        = "card"
	SourceBankAccount = "bank_account"
)

// ChargeResult is the processor's answer to a charge.
type ChargeResult struct {
	Outcome     Outcome
	ChargeRef   string   // processor id of the charge; refunds and status lookups use it
	DeclineCode string   // set when Declined, and on Unconfirmed when the processor said why
	Message     string   // human text, e.g. "Your card was declined."
	Fee         int64    // processor fee in minor units; 0 unless Approved
	FeeDetails  []string // human description of each fee component
	Source      string   // SourceCard or SourceBankAccount
	AvailableOn time.Time
}

// Net is the amount that reaches the merchant's balance.
func (r ChargeResult) Net(amount int64) int64 { return amount - r.Fee }

// StatusRequest asks what became of an unconfirmed charge. It carries the
// original request unchanged because some processors (Stripe) are asked by
// replaying it under the same idempotency key.
type StatusRequest struct {
	ChargeRequest
	// ChargeRef from the unconfirmed result, when the processor returned one.
	ChargeRef string
	// SentAt is when the original charge was sent, by the same clock the
	// gateway uses. It dates settlement consistently and tells whether the
	// processor still remembers the idempotency key.
	SentAt time.Time
}

// RefundRequest asks to return money of a charge.
type RefundRequest struct {
	ChargeRef      string
	Amount         int64  // minor units, > 0
	Currency       string // ISO 4217, upper-case; must be the charge's
	IdempotencyKey string
	Reason         string // duplicate | fraudulent | requested_by_customer, or empty
}

// RefundResult is the processor's answer to a refund.
type RefundResult struct {
	RefundRef string
	Outcome   Outcome
	Message   string
}
