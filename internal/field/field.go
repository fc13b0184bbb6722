// Package field holds the small rules that request fields share across the
// domains: length limits, optional text, and the set-or-clear meaning of a
// field in a partial update.
//
// The null rule, the same for every resource: null means "no value". In a
// create, a null optional field is the same as an absent one. In a partial
// update, an absent field is left alone and null clears the stored value
// (to null, or to the default the field has on create); update fields that
// can be cleared are a Clearable or a Patch. A field that can be neither
// null nor defaulted (a name, an amount, a flag) is tagged `null:"never"`
// when it may be absent, and the request decoder refuses null for it.
package field

import (
	"encoding/json"
	"reflect"

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

// Apply sets *dst to the update's value when the field was sent.
func (c Clearable) Apply(dst **string) {
	if c.Set {
		*dst = c.New()
	}
}

// JSONValueType tells the request decoder what a value of the field must be.
func (Clearable) JSONValueType() reflect.Type { return reflect.TypeFor[string]() }

// Patch is a field of a partial update that holds a T. Absent (Set false),
// it leaves the stored value alone; null (Set true, Value nil) clears it; a
// value replaces it.
type Patch[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON records that the field was sent, and its value.
func (p *Patch[T]) UnmarshalJSON(b []byte) error {
	p.Set, p.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.Value = &v
	return nil
}

// JSONValueType tells the request decoder what a value of the field must be,
// so that it checks properties and types inside it as for a plain T.
func (Patch[T]) JSONValueType() reflect.Type { return reflect.TypeFor[T]() }
