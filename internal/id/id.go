// Package id generates the public identifiers of Kassa's objects.
//
// Prefixed ids are `<prefix>_` followed by 24 characters of [A-Za-z0-9], as
// the Chaching contract shows them (cus_, prod_, price_, txr_, sub_, txn_,
// pm_, evt_ ...). Invoices use UUIDs, as the contract has them.
package id

import (
	"crypto/rand"
	"regexp"

	"github.com/google/uuid"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Object id prefixes.
const (
	Company       = "co"
	Account       = "acct"
	APIKey        = "key"
	Customer      = "cus"
	Product       = "prod"
	Price         = "price"
	TaxRate       = "txr"
	Subscription  = "sub"
	Transaction   = "txn"
	PaymentMethod = "pm"
	Event         = "evt"
	Attempt       = "pa"
	LineItem      = "il"
	Destination   = "we"
	Delivery      = "whl"
	WebhookSecret = "whsec"
)

// New returns prefix + "_" + 24 random base62 characters.
func New(prefix string) string { return prefix + "_" + Random(24) }

// Random returns n random characters of [A-Za-z0-9].
func Random(n int) string {
	out := make([]byte, n)
	buf := make([]byte, n+n/2)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic("id: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps the distribution uniform.
			if b >= 248 {
				continue
			}
			out[i] = alphabet[int(b)%62]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out)
}

// UUID returns a random (version 4) UUID string.
func UUID() string { return uuid.NewString() }

var prefixed = regexp.MustCompile(`^[a-z]+_[a-zA-Z0-9]+$`)

// ValidPrefixed reports whether s has the shape of a prefixed id. Imported ids
// (say, Stripe's) keep working as long as they have this shape.
func ValidPrefixed(s string) bool { return len(s) <= 255 && prefixed.MatchString(s) }

// ValidUUID reports whether s is a UUID in canonical form.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
