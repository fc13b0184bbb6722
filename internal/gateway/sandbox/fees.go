package sandbox

import (
	"fmt"

	"github.com/govalues/decimal"

	"github.com/kassahq/kassa/internal/gateway"
)

// Sandbox fee schedule, modelled on Stripe's US pricing.
//
// Card: 2.9% of the amount plus a fixed 0.30 of the currency's major unit,
// summed exactly and rounded half-up once to the minor unit. The fixed part
// scales with the currency's exponent (CLDR digits, via bojanz/currency):
// 30 cents in USD, 300 fils in KWD, and 0.3 yen in JPY, which the single
// rounding absorbs (¥1000 → 29.3 → ¥29). One rule for every currency beats a
// per-currency price list nobody can check in a sandbox.
//
// ACH (us_bank_account): 0.8% rounded half-up, capped at 5.00 major units
// (500 cents).
var (
	cardRate  = decimal.MustNew(29, 3) // 0.029
	cardFixed = decimal.MustNew(30, 2) // 0.30 major units
	achRate   = decimal.MustNew(8, 3)  // 0.008
	achCap    = decimal.MustNew(5, 0)  // 5.00 major units
	half      = decimal.MustNew(5, 1)
)

const (
	cardFeeDetail = "Card processing: 2.9%% + 0.30 %s"
	achFeeDetail  = "ACH Direct Debit: 0.8%%, capped at 5.00 %s"
)

// fee returns the processor fee for an approved charge and a description of
// each component.
func fee(source string, amount int64, currency string) (int64, []string, error) {
	digits, err := gateway.CurrencyDigits(currency)
	if err != nil {
		return 0, nil, err
	}
	scale, err := decimal.New(pow10(digits), 0) // minor units per major unit
	if err != nil {
		return 0, nil, fmt.Errorf("fee: %w", err)
	}
	amt, err := decimal.New(amount, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("fee: %w", err)
	}

	switch source {
	case gateway.SourceBankAccount:
		pct, err := amt.Mul(achRate)
		if err != nil {
			return 0, nil, fmt.Errorf("ach fee: %w", err)
		}
		limit, err := achCap.Mul(scale)
		if err != nil {
			return 0, nil, fmt.Errorf("ach fee: %w", err)
		}
		f, err := roundHalfUp(pct)
		if err != nil {
			return 0, nil, fmt.Errorf("ach fee: %w", err)
		}
		c, err := roundHalfUp(limit)
		if err != nil {
			return 0, nil, fmt.Errorf("ach fee: %w", err)
		}
		return min(f, c), []string{fmt.Sprintf(achFeeDetail, currency)}, nil
	default:
		fixed, err := cardFixed.Mul(scale)
		if err != nil {
			return 0, nil, fmt.Errorf("card fee: %w", err)
		}
		total, err := amt.Mul(cardRate)
		if err == nil {
			total, err = total.Add(fixed)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("card fee: %w", err)
		}
		f, err := roundHalfUp(total)
		if err != nil {
			return 0, nil, fmt.Errorf("card fee: %w", err)
		}
		return f, []string{fmt.Sprintf(cardFeeDetail, currency)}, nil
	}
}

// roundHalfUp rounds a non-negative decimal to a whole number of minor units,
// halves away from zero (decimal.Round is half-to-even).
func roundHalfUp(d decimal.Decimal) (int64, error) {
	up, err := d.Add(half)
	if err != nil {
		return 0, err
	}
	whole, _, ok := up.Floor(0).Int64(0)
	if !ok {
		return 0, fmt.Errorf("%s out of range", d)
	}
	return whole, nil
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
