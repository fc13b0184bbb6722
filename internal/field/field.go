// Package field holds the small rules that request fields share across the
// domains: length limits, optional text, and the set-or-clear meaning of a
// text field in a partial update.
package field

import (
	"encoding/json"

	"github.com/kassahq/kassa/internal/apperr"
)

// CheckLen refuses a text longer than max characters, naming the field.
func CheckLen(name string, v *string, max int) error {
	if v != nil && len([]rune(*v)) > max {
		return apperr.Invalidf("%s must be shorter than or equal to %d characters", name, max)
	}
	return nil
}

// Optional returns a copy of v, or nil when v is nil or empty.
func Optional(v *string) *string {
	if v == nil || *v == "" {
		return nil
	}
	s := *v
	return &s
}

// SameText reports whether two optional texts are equal.
func SameText(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Clearable is a text field of a partial update. Absent (Set false), it
// leaves the value alone; JSON null or "" clears it; a string sets it.
type Clearable struct {
	Set   bool
	Value *string
}

// SetTo returns a Clearable that sets (or, with "", clears) a value.
func SetTo(v string) Clearable { return Clearable{Set: true, Value: &v} }

// UnmarshalJSON records that the field was sent, and its value.
func (c *Clearable) UnmarshalJSON(b []byte) error {
	c.Set, c.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err // a *json.UnmarshalTypeError the decoder names the field in
	}
	c.Value = &v
	return nil
}

// New is the value the update leaves: nil when it clears the field.
func (c Clearable) New() *string { return Optional(c.Value) }
