package billing

import (
	"errors"
	"fmt"
	"math/big"
)

// Ceilings on money, all in minor units of the amount's own currency:
// 99,999,999 is $999,999.99 in USD, ¥99,999,999 in JPY (no decimals) and
// KWD 99,999.999 in KWD (three). Like Stripe's, the ceilings count minor
// units and so are worth different sums in different currencies.
//
// They keep every figure Kassa computes or answers far below 2^53 (exact in
// a JavaScript number) and every sum of them far from int64 overflow: an
// invoice is at most MaxInvoiceTotal, a balance transaction at most
// MaxChargeAmount.
const (
	// MaxUnitAmount bounds a price's unit_amount (Stripe's price limit is
	// eight digits).
	MaxUnitAmount int64 = 99_999_999
	// MaxQuantity bounds the quantity of one line.
	MaxQuantity int64 = 1_000_000
	// MaxLineAmount bounds a line's amount, unit_amount × quantity.
	MaxLineAmount int64 = 99_999_999
	// MaxChargeAmount bounds one charge (Stripe's largest charge,
	// $999,999.99), and so one refund and one recorded payment.
	MaxChargeAmount int64 = 99_999_999
	// MaxInvoiceTotal bounds an invoice's total, taxes included: an invoice
	// must be payable by one charge.
	MaxInvoiceTotal = MaxChargeAmount
	// MaxTaxRatesPerLine bounds the tax rates of one line (Stripe's limit).
	MaxTaxRatesPerLine = 5
	// MaxSafeAmount is 2^53 − 1, the largest integer a JSON number keeps
	// exactly in JavaScript. No amount in an API answer goes beyond it.
	MaxSafeAmount int64 = 1<<53 - 1
)

var (
	// ErrAboveCeiling reports an amount or quantity above its ceiling.
	ErrAboveCeiling = errors.New("above its ceiling")
	// ErrTooManyRates reports more than MaxTaxRatesPerLine rates on a line.
	ErrTooManyRates = fmt.Errorf("a line may have at most %d tax rates", MaxTaxRatesPerLine)
)

// CeilingError names the figure that went beyond its ceiling, so that a
// caller can name the request field it came from.
type CeilingError struct {
	Field string // unit_amount, quantity, amount or total
	Value int64
	Max   int64
}

func (e *CeilingError) Error() string {
	return fmt.Sprintf("%s %d is greater than %d", e.Field, e.Value, e.Max)
}

// Unwrap makes errors.Is(err, ErrAboveCeiling) hold.
func (e *CeilingError) Unwrap() error { return ErrAboveCeiling }

func checkCeiling(field string, v, max int64) error {
	if v > max {
		return &CeilingError{Field: field, Value: v, Max: max}
	}
	return nil
}

// BoundedLineAmount is LineAmount within the ceilings: unit_amount,
// quantity and their product must each stay at or below theirs. A product
// beyond MaxLineAmount is reported as Field "amount".
func BoundedLineAmount(unitAmount, quantity int64) (int64, error) {
	if err := checkCeiling("unit_amount", unitAmount, MaxUnitAmount); err != nil {
		return 0, err
	}
	if err := checkCeiling("quantity", quantity, MaxQuantity); err != nil {
		return 0, err
	}
	amount, err := LineAmount(unitAmount, quantity)
	if err != nil {
		return 0, err
	}
	if err := checkCeiling("amount", amount, MaxLineAmount); err != nil {
		return 0, err
	}
	return amount, nil
}

// CheckTotal refuses invoice totals above MaxInvoiceTotal (Field "total").
func (t Totals) CheckTotal() error {
	return checkCeiling("total", t.Total, MaxInvoiceTotal)
}

// CheckCharge refuses a charge, refund or recorded payment above
// MaxChargeAmount (Field "amount").
func CheckCharge(amount int64) error {
	return checkCeiling("amount", amount, MaxChargeAmount)
}

// PartsDivisor splits an amount into a high part (amount / PartsDivisor,
// truncated) and a low part (amount % PartsDivisor, with amount's sign), as
// SQL computes them. Summing each part separately cannot overflow a 64-bit
// integer for fewer than 2^31 rows, whatever the rows hold, where a plain
// SUM fails (SQLite "integer overflow", PostgreSQL "bigint out of range").
const PartsDivisor = 1 << 32

// JoinParts returns hi × PartsDivisor + lo, the sum whose parts SQL added
// up, clamped to ±MaxSafeAmount so that it can be answered exactly.
// Within the ceilings a balance reaches the clamp only after some 90
// million maximal charges in one currency; rows written before the ceilings
// existed may reach it sooner.
func JoinParts(hi, lo int64) int64 {
	v := new(big.Int).Mul(big.NewInt(hi), big.NewInt(PartsDivisor))
	return clampSafe(v.Add(v, big.NewInt(lo)))
}

// AddSafe adds two amounts, clamping the sum to ±MaxSafeAmount.
func AddSafe(a, b int64) int64 {
	v := new(big.Int).Add(big.NewInt(a), big.NewInt(b))
	return clampSafe(v)
}

func clampSafe(v *big.Int) int64 {
	switch {
	case v.Cmp(big.NewInt(MaxSafeAmount)) > 0:
		return MaxSafeAmount
	case v.Cmp(big.NewInt(-MaxSafeAmount)) < 0:
		return -MaxSafeAmount
	}
	return v.Int64()
}
