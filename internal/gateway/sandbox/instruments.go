package sandbox

import (
	"strings"

	"github.com/kassahq/kassa/internal/gateway"
)

// instrument is one test payment method and how charges on it behave.
type instrument struct {
	ref    string // canonical token, also the PaymentMethod.Ref
	number string // test card number accepted in place of the token
	typ    string
	brand  string
	last4  string
	bank   *gateway.BankAccount

	declineCode string // every charge declines with it
	message     string
	// unconfirmed: Charge answers Unconfirmed (the processor errored before
	// taking money); ChargeStatus then reports the decline.
	unconfirmed bool
}

// The test instruments, named and numbered as Stripe's test mode does so
// developers moving from Stripe find what they know.
var instruments = []instrument{
	{ref: "tok_visa", number: "4242424242424242", typ: gateway.TypeCard, brand: "visa", last4: "4242"},
	{ref: "tok_mastercard", number: "5555555555554444", typ: gateway.TypeCard, brand: "mastercard", last4: "4444"},
	{ref: "tok_amex", number: "378282246310005", typ: gateway.TypeCard, brand: "amex", last4: "0005"},
	{ref: "tok_chargeDeclined", number: "4000000000000002", typ: gateway.TypeCard, brand: "visa", last4: "0002",
		declineCode: gateway.CodeCardDeclined, message: "Your card was declined."},
	{ref: "tok_chargeDeclinedInsufficientFunds", number: "4000000000009995", typ: gateway.TypeCard, brand: "visa", last4: "9995",
		declineCode: gateway.CodeInsufficientFunds, message: "Your card has insufficient funds."},
	{ref: "tok_chargeDeclinedExpiredCard", number: "4000000000000069", typ: gateway.TypeCard, brand: "visa", last4: "0069",
		declineCode: gateway.CodeExpiredCard, message: "Your card has expired."},
	{ref: "tok_processingError", number: "4000000000000119", typ: gateway.TypeCard, brand: "visa", last4: "0119",
		declineCode: gateway.CodeProcessingError, unconfirmed: true,
		message: "An error occurred while processing your card. Try again in a little bit."},
	{ref: "tok_us_bank_account", typ: gateway.TypeUSBankAccount, bank: &gateway.BankAccount{
		BankName:          "STRIPE TEST BANK",
		Last4:             "6789",
		RoutingNumber:     "110000000",
		Fingerprint:       "LstWJFsCK7P349Bg",
		AccountHolderType: "individual",
		AccountType:       "checking",
	}},
}

// aliases maps other Stripe test names onto the canonical tokens.
var aliases = map[string]string{
	"tok_chargeDeclinedProcessingError": "tok_processingError",
	"pm_usBankAccount":                  "tok_us_bank_account",
}

// byRef finds an instrument by token, Stripe-style pm_card_… name or alias.
// Raw card numbers are not looked up here: see byToken.
func byRef(ref string) (instrument, bool) {
	if canon, ok := aliases[ref]; ok {
		ref = canon
	} else if name, ok := strings.CutPrefix(ref, "pm_card_"); ok {
		ref = "tok_" + name
	}
	for _, in := range instruments {
		if in.ref == ref {
			return in, true
		}
	}
	return instrument{}, false
}

// byToken also accepts a test card number, with or without spaces or dashes.
func byToken(token string) (instrument, bool) {
	if in, ok := byRef(token); ok {
		return in, true
	}
	number := strings.NewReplacer(" ", "", "-", "").Replace(token)
	for _, in := range instruments {
		if in.number != "" && in.number == number {
			return in, true
		}
	}
	return instrument{}, false
}

func (in instrument) source() string {
	if in.typ == gateway.TypeUSBankAccount {
		return gateway.SourceBankAccount
	}
	return gateway.SourceCard
}
