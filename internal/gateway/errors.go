package gateway

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/bojanz/currency"
)

// Sentinel errors; gateways wrap them with context, callers test with errors.Is.
var (
	// ErrInvalidToken: the token is unknown to the processor or malformed
	// (the API answers 400 "No such token").
	ErrInvalidToken = errors.New("no such token")
	// ErrNoSuchPaymentMethod: the payment method ref is unknown to the processor.
	ErrNoSuchPaymentMethod = errors.New("no such payment method")
	// ErrInvalidRequest: the request breaks a rule before or at the processor
	// (missing key, bad amount or currency, …). No money moved.
	ErrInvalidRequest = errors.New("invalid gateway request")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

var (
	maskedCardRe = regexp.MustCompile(`^\d{4,6}\*{2,}\d{4}$`)
	cardExpRe    = regexp.MustCompile(`^(0[1-9]|1[0-2])\d{2}$`)
)

// Validate checks an AttachRequest before it reaches a processor.
func (r AttachRequest) Validate() error {
	if strings.TrimSpace(r.Token) == "" {
		return invalid("token is required")
	}
	if r.CardNumberMasked != "" && !maskedCardRe.MatchString(r.CardNumberMasked) {
		// Never echo the value: it may be a full card number.
		return invalid("card number must be masked (e.g. 411111******1111)")
	}
	if r.CardExp != "" && !cardExpRe.MatchString(r.CardExp) {
		return invalid("card expiry %q must be MMYY", r.CardExp)
	}
	switch r.WalletType {
	case "", WalletApplePay, WalletGooglePay:
	default:
		return invalid("wallet type %q must be %s or %s", r.WalletType, WalletApplePay, WalletGooglePay)
	}
	return nil
}

// Validate checks a ChargeRequest before it reaches a processor.
func (r ChargeRequest) Validate() error {
	if r.Amount <= 0 {
		return invalid("amount must be positive, got %d", r.Amount)
	}
	if err := ValidateCurrency(r.Currency); err != nil {
		return err
	}
	if r.PaymentMethodRef == "" {
		return invalid("payment method is required")
	}
	return validateKey(r.IdempotencyKey)
}

// Validate checks a RefundRequest before it reaches a processor.
func (r RefundRequest) Validate() error {
	if r.ChargeRef == "" {
		return invalid("charge ref is required")
	}
	if r.Amount <= 0 {
		return invalid("refund amount must be positive, got %d", r.Amount)
	}
	if err := ValidateCurrency(r.Currency); err != nil {
		return err
	}
	return validateKey(r.IdempotencyKey)
}

// Stripe's limit; holding every gateway to it keeps keys portable.
const maxKeyLen = 255

func validateKey(key string) error {
	if key == "" {
		return invalid("idempotency key is required")
	}
	if len(key) > maxKeyLen {
		return invalid("idempotency key longer than %d bytes", maxKeyLen)
	}
	return nil
}

// ValidateCurrency accepts an upper-case ISO 4217 code.
func ValidateCurrency(code string) error {
	if len(code) != 3 || code != strings.ToUpper(code) || !currency.IsValid(code) {
		return invalid("currency %q is not an upper-case ISO 4217 code", code)
	}
	return nil
}

// CurrencyDigits is the number of minor-unit digits of a valid currency
// (2 for USD, 0 for JPY, 3 for KWD), per CLDR.
func CurrencyDigits(code string) (int, error) {
	if err := ValidateCurrency(code); err != nil {
		return 0, err
	}
	d, _ := currency.GetDigits(code)
	return int(d), nil
}

// RedactToken makes a token safe for error messages and logs: any run of
// eight or more digits (a card or account number, maybe with spaces or
// dashes) keeps only its last four digits, and long input is cut.
func RedactToken(token string) string {
	out := digitRunRe.ReplaceAllStringFunc(token, func(run string) string {
		d := strings.NewReplacer(" ", "", "-", "").Replace(run)
		return "****" + d[len(d)-4:]
	})
	if r := []rune(out); len(r) > 64 {
		out = string(r[:64]) + "…"
	}
	return out
}

var digitRunRe = regexp.MustCompile(`\d(?:[ -]?\d){7,}`)
