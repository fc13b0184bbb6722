package billing

import (
	"errors"
	"fmt"

	"github.com/govalues/decimal"
)

// ErrOverflow reports an amount too large to compute exactly: decimal holds
// 19 significant digits, so with 4-place percentages the limit is around
// 10^13 minor units per line, far beyond any real invoice.
var ErrOverflow = errors.New("amount too large to compute exactly")

// mulDivHalfUp returns a × m / d rounded half away from zero to an integer.
// The product and the division are exact (quotient and remainder), so the
// rounding decision never depends on a truncated intermediate value.
func mulDivHalfUp(a int64, m, d decimal.Decimal) (int64, error) {
	q, r, err := mulQuoRem(a, m, d)
	if err != nil {
		return 0, err
	}
	// |r| ≥ |d|/2, tested as 2|r| ≥ |d| to stay in exact arithmetic.
	twiceR, err := r.Abs().Add(r.Abs())
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrOverflow, err)
	}
	if twiceR.Cmp(d.Abs()) >= 0 {
		step := decimal.One
		if r.IsNeg() {
			step = step.Neg()
		}
		if q, err = q.Add(step); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrOverflow, err)
		}
	}
	return toInt64(q)
}

// mulDivFloor returns ⌊a × m / d⌋ for non-negative operands, exactly.
func mulDivFloor(a int64, m, d decimal.Decimal) (int64, error) {
	q, _, err := mulQuoRem(a, m, d)
	if err != nil {
		return 0, err
	}
	return toInt64(q)
}

// mulQuoRem computes the integer quotient and remainder of a × m / d.
func mulQuoRem(a int64, m, d decimal.Decimal) (q, r decimal.Decimal, err error) {
	da, err := decimal.New(a, 0)
	if err != nil {
		return q, r, fmt.Errorf("%w: %v", ErrOverflow, err)
	}
	// MulExact with m's scale fails instead of silently rounding away digits.
	p, err := da.MulExact(m, m.Scale())
	if err != nil {
		return q, r, fmt.Errorf("%w: %v", ErrOverflow, err)
	}
	q, r, err = p.QuoRem(d)
	if err != nil {
		return q, r, fmt.Errorf("%w: %v", ErrOverflow, err)
	}
	return q, r, nil
}

func toInt64(q decimal.Decimal) (int64, error) {
	whole, frac, ok := q.Int64(0)
	if !ok || frac != 0 {
		return 0, fmt.Errorf("%w: %v does not fit in int64", ErrOverflow, q)
	}
	return whole, nil
}

// addInt64 adds with an overflow check; totals must never wrap around.
func addInt64(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, fmt.Errorf("%w: %d + %d overflows int64", ErrOverflow, a, b)
	}
	return s, nil
}
