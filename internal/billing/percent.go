package billing

import (
	"errors"
	"fmt"

	"github.com/govalues/decimal"
)

// MaxPercentDecimals is the finest precision a percentage may have. Four
// places cover every published sales-tax and VAT rate (e.g. 8.875, 7.0625) and
// keep every product with an amount well inside decimal's 19 digits.
const MaxPercentDecimals = 4

// ErrInvalidPercentage reports a percentage outside 0–100 or with more than
// MaxPercentDecimals decimal places.
var ErrInvalidPercentage = errors.New("invalid percentage")

// ParsePercentage parses a percentage given as JSON number text ("7.25",
// "17", "8.875"). It must lie within 0–100 and have at most
// MaxPercentDecimals significant decimal places; trailing zeros do not count,
// and are dropped from the result.
func ParsePercentage(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, fmt.Errorf("%w: percentage must not be empty", ErrInvalidPercentage)
	}
	d, err := decimal.Parse(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w: %q is not a number", ErrInvalidPercentage, s)
	}
	d = d.Trim(0)
	if err := checkPercentage(d); err != nil {
		return decimal.Decimal{}, err
	}
	return d, nil
}

// checkPercentage enforces the same bounds as ParsePercentage on values that
// did not come through it (rates loaded from storage, built in code).
func checkPercentage(p decimal.Decimal) error {
	switch {
	case p.IsNeg():
		return fmt.Errorf("%w: percentage must not be negative", ErrInvalidPercentage)
	case p.Cmp(decimal.Hundred) > 0:
		return fmt.Errorf("%w: percentage must not be greater than 100", ErrInvalidPercentage)
	case p.Trim(0).Scale() > MaxPercentDecimals:
		return fmt.Errorf("%w: percentage must not have more than %d decimal places", ErrInvalidPercentage, MaxPercentDecimals)
	}
	return nil
}
