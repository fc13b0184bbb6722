package invoicepdf

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bojanz/currency"
	"github.com/johnfercher/maroto/v2/pkg/props"
)

// moneyFormatter formats minor-unit amounts of one currency.
type moneyFormatter struct {
	code string
	f    *currency.Formatter
}

func newMoneyFormatter(code string) (moneyFormatter, error) {
	if !currency.IsValid(code) {
		return moneyFormatter{}, fmt.Errorf("invoicepdf: unknown currency %q", code)
	}
	return moneyFormatter{code: code, f: currency.NewFormatter(currency.NewLocale("en"))}, nil
}

// format renders minor units with the currency's exponent and symbol,
// e.g. 123456 USD -> "$1,234.56", 1000 JPY -> "¥1,000".
func (m moneyFormatter) format(minor int64) string {
	a, err := currency.NewAmountFromInt64(minor, m.code)
	if err != nil {
		// Unreachable: the code was validated in newMoneyFormatter.
		return strconv.FormatInt(minor, 10) + " " + m.code
	}
	return m.f.Format(a)
}

// formatDate renders t as "Jan 2, 2006" in UTC, or "" for the zero time.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Jan 2, 2006")
}

// formatPeriod renders a service period such as "Jan 1, 2026 – Feb 1, 2026".
func formatPeriod(start, end time.Time) string {
	switch {
	case start.IsZero() && end.IsZero():
		return ""
	case start.IsZero():
		return "Until " + formatDate(end)
	case end.IsZero():
		return "From " + formatDate(start)
	}
	return formatDate(start) + " – " + formatDate(end)
}

// parseHexColor parses "#RRGGBB" (the "#" is optional) and returns fallback
// for anything else.
func parseHexColor(s string, fallback props.Color) props.Color {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(s) != 6 {
		return fallback
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return fallback
	}
	return props.Color{Red: int(v >> 16 & 0xff), Green: int(v >> 8 & 0xff), Blue: int(v & 0xff)}
}

// tint mixes c with white; amount 0 keeps c, 1 gives white.
func tint(c props.Color, amount float64) props.Color {
	mix := func(v int) int { return v + int(float64(255-v)*amount+0.5) }
	return props.Color{Red: mix(c.Red), Green: mix(c.Green), Blue: mix(c.Blue)}
}
