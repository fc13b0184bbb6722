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

// RedactToken makes a token safe for error messages and logs: a token that
// is a card number (the sandbox takes test card numbers in place of tokens)
// keeps only its last four digits, and long input is cut.
func RedactToken(token string) string {
	out := RedactCardNumber(token)
	if r := []rune(out); len(r) > 64 {
		out = string(r[:64]) + "…"
	}
	return out
}

// RedactCardNumber returns "****" and the last four digits when the whole of
// s can be a card number: 12 to 19 digits, maybe grouped by spaces or
// dashes, that pass the Luhn check. Anything else is returned as it is: ids
// (cus_…, UUIDs) often hold runs of digits, and mangling them would make logs
// impossible to match to objects.
func RedactCardNumber(s string) string {
	digits := make([]byte, 0, 19)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(digits) == 19 {
				return s
			}
			digits = append(digits, c)
		case c == ' ' || c == '-':
		default:
			return s
		}
	}
	if len(digits) < 12 || !luhn(digits) {
		return s
	}
	return "****" + string(digits[len(digits)-4:])
}

// luhn reports whether digits pass the Luhn check every card number passes.
func luhn(digits []byte) bool {
	sum := 0
	for i := range digits {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
