// Package billing holds Kassa's money maths: currencies, percentages, tax and
// fees. It is pure: no I/O, no clock, no globals that change.
//
// # Amounts
//
// Every amount is an int64 count of the currency's minor units (cents for USD,
// yen for JPY, fils for KWD). Floats never appear; percentages are
// [decimal.Decimal] values and all intermediate results are exact.
//
// # Ceilings
//
// Every ceiling on money (unit amounts, quantities, lines, invoice totals,
// charges) is a constant in limits.go, in minor units. Within them no figure
// passes 2^53, so JSON numbers stay exact for JavaScript clients.
//
// # The rounding rule
//
// There is exactly one rounding rule in the product and it lives here:
//
//   - Tax is computed exactly and then rounded half-up (a half goes away from
//     zero) to a whole number of minor units.
//   - Rounding happens once per line per tax rate, on the line amount
//     (unit_amount × quantity), never per unit.
//   - Sums (invoice totals, per-rate totals) are exact sums of the rounded line
//     values and are never rounded again.
//
// Exclusive rates add tax on top: tax = round(amount × p / 100) for each rate.
// Inclusive rates carve tax out of the amount the customer already pays:
// net = round(amount / (1 + Σp/100)) and tax = amount − net; with several
// inclusive rates that tax is split in proportion to the percentages.
// The rate's inclusive flag decides which behaviour applies; a price's
// tax_behavior must agree with it (see [CheckBehavior]).
package billing
