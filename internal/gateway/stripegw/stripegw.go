// Package stripegw is the Stripe payment gateway, on stripe-go v84.
//
// Charges are PaymentIntents created and confirmed off-session in one call,
// with Kassa's idempotency key as Stripe's Idempotency-Key, so a repeat never
// charges twice. Stripe cannot be asked "what happened to the request with
// key K", so ChargeStatus replays the identical create request under the same
// key (Stripe answers with the stored result of the first one and creates
// nothing new) while Stripe still remembers the key (24 hours); after that it
// searches PaymentIntents by the key, which every charge also carries in its
// metadata. See ChargeStatus.
package stripegw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v84"

	"github.com/kassahq/kassa/internal/gateway"
)

// Name is the gateway's name.
const Name = "stripe"

// Metadata keys Kassa sets on Stripe objects.
const (
	MetaIdempotencyKey = "kassa_idempotency_key"
	MetaCustomerID     = "kassa_customer_id"
	MetaRefundReason   = "kassa_refund_reason"
)

// ReplayWindow is how long after sending a charge ChargeStatus may replay it.
// Stripe prunes idempotency keys after 24 hours, after which a replay would be
// a new charge; the hour of margin covers clock skew and slow reconciliation.
const ReplayWindow = 23 * time.Hour

// Config configures the Stripe gateway.
type Config struct {
	SecretKey string // sk_test_… / sk_live_… / rk_…
	// BackendURL replaces https://api.stripe.com, e.g. a stripe-mock address.
	BackendURL string
	// HTTPClient is used for API calls; nil uses stripe-go's (80 s timeout).
	HTTPClient *http.Client
	// MaxNetworkRetries caps stripe-go's own retries of network errors and
	// 5xx answers (always under the same idempotency key); nil keeps its
	// default of 2.
	MaxNetworkRetries *int64
	// Now is the clock ChargeStatus compares StatusRequest.SentAt with.
	Now func() time.Time
}

// Gateway is the Stripe gateway, safe for concurrent use.
type Gateway struct {
	client *stripe.Client
	now    func() time.Time
}

var _ gateway.Gateway = (*Gateway)(nil)

// New returns a Stripe gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripegw: secret key is required")
	}
	if cfg.Now == nil {
		return nil, errors.New("stripegw: clock is required")
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: cfg.MaxNetworkRetries,
		// Every failure comes back to the caller as a result or an error
		// with context; stripe-go's own logging would only repeat it.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.BackendURL != "" {
		bc.URL = stripe.String(cfg.BackendURL)
	}
	client := stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))
	return &Gateway{client: client, now: cfg.Now}, nil
}

// Name implements gateway.Gateway.
func (g *Gateway) Name() string { return Name }

// AttachPaymentMethod implements gateway.Gateway. The token is a PaymentMethod
// (pm_…) or a card token (tok_…), from which a PaymentMethod is made first.
// Raw card numbers are refused: they must never reach Kassa's servers.
func (g *Gateway) AttachPaymentMethod(ctx context.Context, req gateway.AttachRequest) (gateway.PaymentMethod, error) {
	if err := req.Validate(); err != nil {
		return gateway.PaymentMethod{}, fmt.Errorf("stripe: attach: %w", err)
	}
	pmID := req.Token
	switch {
	case strings.HasPrefix(req.Token, "pm_"):
	case strings.HasPrefix(req.Token, "tok_"):
		params := &stripe.PaymentMethodCreateParams{
			Type:           stripe.String(string(stripe.PaymentMethodTypeCard)),
			Card:           &stripe.PaymentMethodCreateCardParams{Token: stripe.String(req.Token)},
			BillingDetails: billingDetails(req),
		}
		pm, err := g.client.V1PaymentMethods.Create(ctx, params)
		if err != nil {
			return gateway.PaymentMethod{}, fmt.Errorf("stripe: payment method from token %s: %w", req.Token, tokenError(err))
		}
		pmID = pm.ID
	default:
		return gateway.PaymentMethod{}, fmt.Errorf("stripe: attach %s: want a pm_ or tok_ id: %w",
			gateway.RedactToken(req.Token), gateway.ErrInvalidToken)
	}

	customer := req.CustomerRef
	if customer == "" {
		params := &stripe.CustomerCreateParams{}
		if req.Customer.Name != "" {
			params.Name = stripe.String(req.Customer.Name)
		}
		if req.Customer.Email != "" {
			params.Email = stripe.String(req.Customer.Email)
		}
		if req.Customer.ID != "" {
			params.AddMetadata(MetaCustomerID, req.Customer.ID)
		}
		c, err := g.client.V1Customers.Create(ctx, params)
		if err != nil {
			return gateway.PaymentMethod{}, fmt.Errorf("stripe: create customer: %w", requestError(err))
		}
		customer = c.ID
	}

	pm, err := g.client.V1PaymentMethods.Attach(ctx, pmID, &stripe.PaymentMethodAttachParams{Customer: stripe.String(customer)})
	if err != nil {
		return gateway.PaymentMethod{}, fmt.Errorf("stripe: attach %s to %s: %w", pmID, customer, tokenError(err))
	}
	out := paymentMethod(pm, customer)
	if out.Card != nil && out.Card.WalletType == "" {
		out.Card.WalletType = req.WalletType
	}
	return out, nil
}

func billingDetails(req gateway.AttachRequest) *stripe.PaymentMethodCreateBillingDetailsParams {
	if req.Customer.Name == "" && req.Customer.Email == "" && req.Zip == "" {
		return nil
	}
	bd := &stripe.PaymentMethodCreateBillingDetailsParams{}
	if req.Customer.Name != "" {
		bd.Name = stripe.String(req.Customer.Name)
	}
	if req.Customer.Email != "" {
		bd.Email = stripe.String(req.Customer.Email)
	}
	if req.Zip != "" {
		bd.Address = &stripe.AddressParams{PostalCode: stripe.String(req.Zip)}
	}
	return bd
}

func paymentMethod(pm *stripe.PaymentMethod, customer string) gateway.PaymentMethod {
	out := gateway.PaymentMethod{Ref: pm.ID, CustomerRef: customer, Type: string(pm.Type)}
	if pm.Customer != nil && pm.Customer.ID != "" {
		out.CustomerRef = pm.Customer.ID
	}
	if c := pm.Card; c != nil {
		out.Card = &gateway.Card{
			Brand:    strings.ToLower(string(c.Brand)),
			Last4:    c.Last4,
			ExpMonth: int(c.ExpMonth),
			ExpYear:  int(c.ExpYear),
		}
		if c.Wallet != nil {
			switch w := string(c.Wallet.Type); w {
			case gateway.WalletApplePay, gateway.WalletGooglePay: // the wallets the API knows
				out.Card.WalletType = w
			}
		}
	}
	if b := pm.USBankAccount; b != nil {
		out.BankAccount = &gateway.BankAccount{
			BankName:          b.BankName,
			Last4:             b.Last4,
			RoutingNumber:     b.RoutingNumber,
			Fingerprint:       b.Fingerprint,
			AccountHolderType: string(b.AccountHolderType),
			AccountType:       string(b.AccountType),
		}
	}
	return out
}

// DetachPaymentMethod implements gateway.Gateway.
func (g *Gateway) DetachPaymentMethod(ctx context.Context, ref string) error {
	if ref == "" {
		return fmt.Errorf("stripe: detach: %w: payment method is required", gateway.ErrInvalidRequest)
	}
	if _, err := g.client.V1PaymentMethods.Detach(ctx, ref, &stripe.PaymentMethodDetachParams{}); err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing {
			return fmt.Errorf("stripe: detach %s: %w: %s", gateway.RedactToken(ref), gateway.ErrNoSuchPaymentMethod, se.Msg)
		}
		return fmt.Errorf("stripe: detach %s: %w", gateway.RedactToken(ref), requestError(err))
	}
	return nil
}

// Charge implements gateway.Gateway.
func (g *Gateway) Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.ChargeResult, error) {
	if err := req.Validate(); err != nil {
		return gateway.ChargeResult{}, fmt.Errorf("stripe: charge: %w", err)
	}
	res, err := g.create(ctx, req)
	if err != nil {
		return gateway.ChargeResult{}, fmt.Errorf("stripe: charge: %w", err)
	}
	return res, nil
}

// create sends the PaymentIntent create-and-confirm request. It must stay a
// pure function of req: ChargeStatus replays it, and Stripe refuses a replay
// whose parameters differ from the first request's.
func (g *Gateway) create(ctx context.Context, req gateway.ChargeRequest) (gateway.ChargeResult, error) {
	params := &stripe.PaymentIntentCreateParams{
		Amount:        stripe.Int64(req.Amount),
		Currency:      stripe.String(strings.ToLower(req.Currency)),
		PaymentMethod: stripe.String(req.PaymentMethodRef),
		Confirm:       stripe.Bool(true),
		OffSession:    stripe.Bool(true),
		// Off-session there is nobody to redirect; methods that would need
		// it are left out rather than failing at confirm time.
		AutomaticPaymentMethods: &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{
			Enabled:        stripe.Bool(true),
			AllowRedirects: stripe.String("never"),
		},
	}
	if req.CustomerRef != "" {
		params.Customer = stripe.String(req.CustomerRef)
	}
	if req.Description != "" {
		params.Description = stripe.String(req.Description)
	}
	params.AddMetadata(MetaIdempotencyKey, req.IdempotencyKey)
	params.AddExpand("latest_charge.balance_transaction")
	params.SetIdempotencyKey(req.IdempotencyKey)

	pi, err := g.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return chargeError(err)
	}
	return intentResult(pi), nil
}

// ChargeStatus implements gateway.Gateway.
//
//   - With a pi_ ChargeRef (a PaymentIntent was created, e.g. an ACH debit
//     still processing), the PaymentIntent is retrieved.
//   - Otherwise, within ReplayWindow of SentAt (or when SentAt is zero, taken
//     as recent), the original request is re-sent with the same idempotency
//     key: Stripe replays its stored answer, or, if the first request never
//     reached Stripe, performs it now, once. Either way the key yields at
//     most one charge, and the answer is definite.
//   - When the replay cannot tell (Stripe stores 5xx answers too) or the key
//     has expired, PaymentIntents are searched by the key in their metadata.
//     Nothing found past the window means the request never reached Stripe:
//     Declined with CodeChargeNotFound, no money taken. (Stripe's search is
//     not available in every region, and lags writes by up to a minute,
//     which is why it is the fallback and not the first try.)
func (g *Gateway) ChargeStatus(ctx context.Context, req gateway.StatusRequest) (gateway.ChargeResult, error) {
	if err := req.Validate(); err != nil {
		return gateway.ChargeResult{}, fmt.Errorf("stripe: charge status: %w", err)
	}
	if strings.HasPrefix(req.ChargeRef, "pi_") {
		params := &stripe.PaymentIntentRetrieveParams{}
		params.AddExpand("latest_charge.balance_transaction")
		pi, err := g.client.V1PaymentIntents.Retrieve(ctx, req.ChargeRef, params)
		if err != nil {
			res, err := chargeError(err)
			if err != nil {
				return gateway.ChargeResult{}, fmt.Errorf("stripe: charge status %s: %w", req.ChargeRef, err)
			}
			res.ChargeRef = req.ChargeRef
			return res, nil
		}
		return intentResult(pi), nil
	}

	recent := req.SentAt.IsZero() || g.now().Sub(req.SentAt) < ReplayWindow
	var replayed gateway.ChargeResult
	if recent {
		res, err := g.create(ctx, req.ChargeRequest)
		if err != nil {
			return gateway.ChargeResult{}, fmt.Errorf("stripe: charge status (replay): %w", err)
		}
		if res.Outcome != gateway.Unconfirmed || res.ChargeRef != "" {
			return res, nil
		}
		replayed = res
	}

	pi, err := g.findByKey(ctx, req.IdempotencyKey)
	switch {
	case err != nil:
		var se *stripe.Error
		if errors.As(err, &se) && !unknownOutcome(se) {
			return gateway.ChargeResult{}, fmt.Errorf("stripe: charge status (search): %w", requestError(err))
		}
		return gateway.ChargeResult{Outcome: gateway.Unconfirmed, Message: "Stripe could not be reached: " + err.Error()}, nil
	case pi != nil:
		return intentResult(pi), nil
	case recent:
		return replayed, nil
	default:
		return gateway.ChargeResult{
			Outcome:     gateway.Declined,
			DeclineCode: gateway.CodeChargeNotFound,
			Message:     "Stripe has no payment for this request; no money was taken.",
		}, nil
	}
}

// findByKey returns the PaymentIntent created under an idempotency key, or nil.
func (g *Gateway) findByKey(ctx context.Context, key string) (*stripe.PaymentIntent, error) {
	params := &stripe.PaymentIntentSearchParams{}
	params.Query = fmt.Sprintf("metadata['%s']:'%s'", MetaIdempotencyKey, searchEscaper.Replace(key))
	params.Limit = stripe.Int64(10)
	params.AddExpand("data.latest_charge.balance_transaction")
	for pi, err := range g.client.V1PaymentIntents.Search(ctx, params) {
		if err != nil {
			return nil, err
		}
		// Check the key ourselves rather than trust the query language.
		if pi.Metadata[MetaIdempotencyKey] == key {
			return pi, nil
		}
	}
	return nil, nil
}

var searchEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// Refund implements gateway.Gateway. ChargeRef may name a PaymentIntent (pi_,
// what Charge returns) or a Charge (ch_, py_).
func (g *Gateway) Refund(ctx context.Context, req gateway.RefundRequest) (gateway.RefundResult, error) {
	if err := req.Validate(); err != nil {
		return gateway.RefundResult{}, fmt.Errorf("stripe: refund: %w", err)
	}
	params := &stripe.RefundCreateParams{Amount: stripe.Int64(req.Amount)}
	if strings.HasPrefix(req.ChargeRef, "pi_") {
		params.PaymentIntent = stripe.String(req.ChargeRef)
	} else {
		params.Charge = stripe.String(req.ChargeRef)
	}
	switch stripe.RefundReason(req.Reason) {
	case "":
	case stripe.RefundReasonDuplicate, stripe.RefundReasonFraudulent, stripe.RefundReasonRequestedByCustomer:
		params.Reason = stripe.String(req.Reason)
	default: // Stripe accepts only its three reasons; keep ours anyway
		params.AddMetadata(MetaRefundReason, req.Reason)
	}
	params.SetIdempotencyKey(req.IdempotencyKey)

	r, err := g.client.V1Refunds.Create(ctx, params)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && !unknownOutcome(se) {
			return gateway.RefundResult{}, fmt.Errorf("stripe: refund %s: %w", req.ChargeRef, requestError(err))
		}
		return gateway.RefundResult{Outcome: gateway.Unconfirmed, Message: "Stripe could not be reached: " + err.Error()}, nil
	}
	out := gateway.RefundResult{RefundRef: r.ID}
	switch r.Status {
	case stripe.RefundStatusSucceeded, stripe.RefundStatusPending:
		// Pending refunds are accepted by Stripe and almost always succeed;
		// a later failure arrives as a charge.refund.updated event.
		out.Outcome, out.Message = gateway.Approved, "Refund "+string(r.Status)+"."
	case stripe.RefundStatusFailed, stripe.RefundStatusCanceled:
		out.Outcome = gateway.Declined
		out.Message = "Refund " + string(r.Status)
		if r.FailureReason != "" {
			out.Message += ": " + string(r.FailureReason)
		}
		out.Message += "."
	default: // requires_action
		out.Outcome, out.Message = gateway.Unconfirmed, "Refund "+string(r.Status)+"."
	}
	return out, nil
}

// intentResult maps a PaymentIntent to a charge result.
func intentResult(pi *stripe.PaymentIntent) gateway.ChargeResult {
	res := gateway.ChargeResult{ChargeRef: pi.ID, Source: intentSource(pi)}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		res.Outcome, res.Message = gateway.Approved, "Payment succeeded."
		if ch := pi.LatestCharge; ch != nil && ch.BalanceTransaction != nil {
			bt := ch.BalanceTransaction
			res.Fee = bt.Fee
			for _, fd := range bt.FeeDetails {
				res.FeeDetails = append(res.FeeDetails, fmt.Sprintf("%s: %s", fd.Description, formatMinor(fd.Amount, string(fd.Currency))))
			}
			if bt.AvailableOn > 0 {
				res.AvailableOn = time.Unix(bt.AvailableOn, 0).UTC()
			}
		}
	case stripe.PaymentIntentStatusProcessing:
		// ACH debits process for days; ChargeStatus with this ref resolves them.
		res.Outcome, res.Message = gateway.Unconfirmed, "The payment is processing."
	case stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusCanceled:
		res.Outcome = gateway.Declined
		res.DeclineCode, res.Message = gateway.CodeCardDeclined, "The payment was declined."
		if e := pi.LastPaymentError; e != nil {
			res.DeclineCode, res.Message = declineCode(e), firstNonEmpty(e.Msg, res.Message)
		}
	case stripe.PaymentIntentStatusRequiresAction:
		// Off-session there is no customer to authenticate.
		res.Outcome, res.DeclineCode = gateway.Declined, gateway.CodeAuthenticationRequired
		res.Message = "This payment requires the customer's authentication."
	default:
		// requires_confirmation/requires_capture cannot follow an automatic,
		// confirmed create; do not guess what they mean for the money.
		res.Outcome, res.Message = gateway.Unconfirmed, "Unexpected payment status "+string(pi.Status)+"."
	}
	return res
}

func intentSource(pi *stripe.PaymentIntent) string {
	var typ string
	switch {
	case pi.LatestCharge != nil && pi.LatestCharge.PaymentMethodDetails != nil:
		typ = string(pi.LatestCharge.PaymentMethodDetails.Type)
	case pi.PaymentMethod != nil:
		typ = string(pi.PaymentMethod.Type)
	}
	if typ == gateway.TypeUSBankAccount {
		return gateway.SourceBankAccount
	}
	return gateway.SourceCard
}

// chargeError maps a failed PaymentIntent create/retrieve. A decline is a
// result, an unknown effect is Unconfirmed, a bad request is an error.
func chargeError(err error) (gateway.ChargeResult, error) {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// Transport failure, timeout, unreadable answer: the request may
		// have been carried out.
		return gateway.ChargeResult{Outcome: gateway.Unconfirmed, Message: "Stripe could not be reached: " + err.Error()}, nil
	}
	switch {
	case se.Type == stripe.ErrorTypeCard || se.HTTPStatusCode == http.StatusPaymentRequired:
		res := gateway.ChargeResult{
			Outcome:     gateway.Declined,
			DeclineCode: declineCode(se),
			Message:     firstNonEmpty(se.Msg, "The payment was declined."),
			Source:      gateway.SourceCard,
		}
		if pi := se.PaymentIntent; pi != nil {
			res.ChargeRef, res.Source = pi.ID, intentSource(pi)
		}
		if se.PaymentMethod != nil && se.PaymentMethod.Type == stripe.PaymentMethodTypeUSBankAccount {
			res.Source = gateway.SourceBankAccount
		}
		return res, nil
	case unknownOutcome(se):
		res := gateway.ChargeResult{Outcome: gateway.Unconfirmed, DeclineCode: string(se.Code), Message: firstNonEmpty(se.Msg, "Stripe error.")}
		if se.Code == "" && se.Type == stripe.ErrorTypeAPI {
			res.DeclineCode = gateway.CodeProcessingError
		}
		return res, nil
	default:
		return gateway.ChargeResult{}, requestError(err)
	}
}

// unknownOutcome: Stripe failed, or declined to work now, in a way that
// leaves the effect of the request unknown or retryable under the same key.
func unknownOutcome(se *stripe.Error) bool {
	return se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 0 ||
		se.HTTPStatusCode == http.StatusTooManyRequests ||
		se.Type == stripe.ErrorTypeAPI ||
		se.Code == stripe.ErrorCodeIdempotencyKeyInUse
}

// requestError marks Stripe's refusals of a request (4xx) as
// gateway.ErrInvalidRequest; authentication and permission failures, a
// configuration problem rather than a bad request, stay plain errors.
func requestError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return err
	}
	if se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden || unknownOutcome(se) {
		return fmt.Errorf("%s (%d %s)", se.Msg, se.HTTPStatusCode, se.Type)
	}
	if se.Code == stripe.ErrorCodeResourceMissing && (se.Param == "payment_method" || strings.Contains(se.Msg, "PaymentMethod")) {
		return fmt.Errorf("%w: %w: %s", gateway.ErrNoSuchPaymentMethod, gateway.ErrInvalidRequest, se.Msg)
	}
	return fmt.Errorf("%w: %s", gateway.ErrInvalidRequest, se.Msg)
}

// tokenError is requestError for calls whose subject is the client's token,
// so "No such token/PaymentMethod" becomes gateway.ErrInvalidToken.
func tokenError(err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing {
		return fmt.Errorf("%w: %s", gateway.ErrInvalidToken, se.Msg)
	}
	return requestError(err)
}

// declineCode prefers Stripe's specific decline_code (insufficient_funds…)
// over its error code, except the catch-all generic_decline, which reads
// better as card_declined, as the sandbox says it.
func declineCode(se *stripe.Error) string {
	switch {
	case se.DeclineCode != "" && se.DeclineCode != "generic_decline":
		return string(se.DeclineCode)
	case se.Code != "":
		return string(se.Code)
	default:
		return gateway.CodeCardDeclined
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// formatMinor renders minor units in major units with the currency's digits:
// 59 usd → "0.59 USD", 29 jpy → "29 JPY".
func formatMinor(amount int64, cur string) string {
	code := strings.ToUpper(cur)
	digits, err := gateway.CurrencyDigits(code)
	if err != nil || digits == 0 {
		return strconv.FormatInt(amount, 10) + " " + code
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	s := strconv.FormatInt(amount, 10)
	for len(s) <= digits {
		s = "0" + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:] + " " + code
}
