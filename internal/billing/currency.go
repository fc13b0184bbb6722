package billing

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bojanz/currency"
	"github.com/govalues/decimal"
)

// NormalizeCurrency returns code as an upper-case ISO 4217 currency code, so
// that "usd" and "USD" name the same currency everywhere downstream.
func NormalizeCurrency(code string) (string, error) {
	upper := strings.ToUpper(code)
	// currency.IsValid treats "" as valid (it means "no currency" there);
	// for us a missing currency is an error like any other unknown code.
	if upper == "" || !currency.IsValid(upper) {
		return "", fmt.Errorf("unknown currency %q: must be an ISO 4217 code", code)
	}
	return upper, nil
}

// MinorUnits returns the ISO 4217 exponent of code: how many decimal places
// its minor unit has (USD 2, JPY 0, KWD 3). The code is matched
// case-insensitively. It returns -1 for an unknown code, so that a caller that
// skipped NormalizeCurrency gets an obviously wrong value rather than a
// plausible one.
func MinorUnits(code string) int {
	digits, ok := currency.GetDigits(strings.ToUpper(code))
	if !ok {
		return -1
	}
	return int(digits)
}

// invoiceFormatter renders amounts the way invoices and receipts show them.
// A Formatter is only read after construction, so sharing one is safe.
var invoiceFormatter = currency.NewFormatter(currency.NewLocale("en"))

// FormatAmount renders an amount of minor units for people, in the "en"
// locale: "$10.00", "¥1,000", "KWD 1.234" (the space is a no-break space, as
// CLDR specifies). An unknown currency falls back to the plain number followed
// by the code, so that a bad code never hides the amount.
func FormatAmount(amount int64, code string) string {
	upper := strings.ToUpper(code)
	a, err := currency.NewAmountFromInt64(amount, upper)
	if err != nil || upper == "" {
		return strings.TrimSpace(MajorString(amount, code) + " " + code)
	}
	return invoiceFormatter.Format(a)
}

// MajorString renders an amount of minor units as a plain decimal number of
// major units, with exactly the currency's number of decimals and no symbol
// or grouping: "10.00" (USD), "1000" (JPY), "1.234" (KWD). An unknown currency
// is rendered as the bare integer.
func MajorString(amount int64, code string) string {
	digits := MinorUnits(code)
	if digits < 0 {
		return strconv.FormatInt(amount, 10)
	}
	d, err := decimal.New(amount, digits)
	if err != nil {
		// Only reachable for amounts with more digits than the decimal type
		// holds (19); the integer form is still exact.
		return strconv.FormatInt(amount, 10)
	}
	return d.String()
}
