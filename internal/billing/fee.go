package billing

import (
	"fmt"

	"github.com/govalues/decimal"
)

// PercentFee returns percent % of amount, rounded half away from zero like
// tax: the percentage part of a gateway fee such as 2.9% + 30. A negative
// amount (a refund) gives the mirror-image fee.
//
// It panics if amount × percent needs more than decimal's 19 significant
// digits (beyond ~10^13 minor units at 4 decimal places): gateway amounts are
// capped far below that, so reaching it is a programming error.
func PercentFee(amount int64, percent decimal.Decimal) int64 {
	fee, err := mulDivHalfUp(amount, percent, decimal.Hundred)
	if err != nil {
		panic(fmt.Sprintf("billing.PercentFee(%d, %v): %v", amount, percent, err))
	}
	return fee
}
