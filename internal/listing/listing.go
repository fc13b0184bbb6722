// Package listing implements the contract's list machinery: page/take
// pagination, the {data, meta} envelope and the JSON `search` filter, plus a
// small WHERE-clause builder the domain stores share.
package listing

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/strictjson"
)

// Params are the page and page size of a list request.
type Params struct {
	Page int
	Take int
}

// Offset is the number of rows to skip. A page too far out to count
// skips everything rather than wrapping around to a negative offset.
func (p Params) Offset() int {
	if p.Take > 0 && p.Page-1 > math.MaxInt64/p.Take {
		return math.MaxInt64
	}
	return (p.Page - 1) * p.Take
}

// ParseParams reads page (≥ 1, default 1) and take (1..50, default 10).
func ParseParams(q url.Values) (Params, error) {
	p := Params{Page: 1, Take: 10}
	var err error
	if p.Page, err = intParam(q, "page", 1, 1, 0); err != nil {
		return p, err
	}
	if p.Take, err = intParam(q, "take", 10, 1, 50); err != nil {
		return p, err
	}
	return p, nil
}

func intParam(q url.Values, name string, def, min, max int) (int, error) {
	raw := q.Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, apperr.Invalidf("%s must be an integer number", name)
	}
	if n < min {
		return 0, apperr.Invalidf("%s must not be less than %d", name, min)
	}
	if max > 0 && n > max {
		return 0, apperr.Invalidf("%s must not be greater than %d", name, max)
	}
	return n, nil
}

// Meta describes a page.
type Meta struct {
	Page       int `json:"page"`
	Take       int `json:"take"`
	ItemsTotal int `json:"itemsTotal"`
	PagesTotal int `json:"pagesTotal"`
}

// Page is the list envelope.
type Page[T any] struct {
	Data []T  `json:"data"`
	Meta Meta `json:"meta"`
}

// NewPage wraps items (never nil in JSON) with their meta.
func NewPage[T any](items []T, total int, p Params) Page[T] {
	if items == nil {
		items = []T{}
	}
	pages := 0
	if total > 0 {
		pages = (total + p.Take - 1) / p.Take
	}
	return Page[T]{Data: items, Meta: Meta{Page: p.Page, Take: p.Take, ItemsTotal: total, PagesTotal: pages}}
}

// Search is a parsed `search` filter: a JSON object, or free text.
type Search struct {
	Text   string
	fields map[string]any
}

// ParseSearch parses the search parameter. With allowText, a value that is
// not a JSON object is free text; otherwise it must be a JSON object (or empty).
func ParseSearch(raw string, allowText bool) (Search, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Search{}, nil
	}
	if json.Valid([]byte(raw)) {
		// strictjson refuses duplicate keys and invalid text, which
		// encoding/json would let through.
		v, err := strictjson.Parse([]byte(raw), "search")
		if err != nil {
			return Search{}, err
		}
		switch v := v.(type) {
		case map[string]any:
			return Search{fields: v}, nil
		case nil:
			return Search{}, nil
		}
	}
	if allowText && !strings.HasPrefix(raw, "{") {
		if !utf8.ValidString(raw) {
			return Search{}, apperr.Invalidf("search must be valid UTF-8 text")
		}
		return Search{Text: raw}, nil
	}
	return Search{}, apperr.Invalidf("search must be a JSON object")
}

// String returns a string-valued key (numbers are given as their text).
func (s Search) String(key string) (string, bool, error) {
	v, ok := s.fields[key]
	if !ok || v == nil {
		return "", false, nil
	}
	switch t := v.(type) {
	case string:
		if t == "" {
			return "", false, nil
		}
		return t, true, nil
	case json.Number:
		return t.String(), true, nil
	}
	return "", false, apperr.Invalidf("search.%s must be a string", key)
}

// List returns a key whose value is a comma- or |-separated list (or a JSON array).
func (s Search) List(key string) ([]string, error) {
	v, ok := s.fields[key]
	if !ok || v == nil {
		return nil, nil
	}
	var parts []string
	switch t := v.(type) {
	case string:
		parts = strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == '|' })
	case []any:
		for _, e := range t {
			str, ok := e.(string)
			if !ok {
				return nil, apperr.Invalidf("search.%s must be a list of strings", key)
			}
			parts = append(parts, str)
		}
	default:
		return nil, apperr.Invalidf("search.%s must be a string", key)
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// Bool returns a boolean key; "true"/"false" strings are accepted too.
func (s Search) Bool(key string) (value, present bool, err error) {
	v, ok := s.fields[key]
	if !ok || v == nil {
		return false, false, nil
	}
	switch t := v.(type) {
	case bool:
		return t, true, nil
	case string:
		b, err := strconv.ParseBool(t)
		if err == nil {
			return b, true, nil
		}
	}
	return false, false, apperr.Invalidf("search.%s must be a boolean", key)
}

// Int returns an integer key.
func (s Search) Int(key string) (int64, bool, error) {
	v, ok := s.fields[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
	case string:
		text = t
	default:
		return 0, false, apperr.Invalidf("search.%s must be an integer", key)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, false, apperr.Invalidf("search.%s must be an integer", key)
	}
	return n, true, nil
}

// Range adds column comparisons for key[gt|gte|lt|lte] (e.g. created[gte]).
func (s Search) Range(w *Where, key, column string) error {
	for _, op := range []struct{ suffix, sql string }{{"gt", ">"}, {"gte", ">="}, {"lt", "<"}, {"lte", "<="}} {
		k := key + "[" + op.suffix + "]"
		n, ok, err := s.Int(k)
		if err != nil {
			return err
		}
		if ok {
			w.Add(column+" "+op.sql+" ?", n)
		}
	}
	// Also accept the nested form {"created": {"gte": 1}}.
	if nested, ok := s.fields[key].(map[string]any); ok {
		inner := Search{fields: map[string]any{}}
		for k, v := range nested {
			inner.fields[key+"["+k+"]"] = v
		}
		return inner.Range(w, key, column)
	}
	return nil
}

// Where builds an AND-ed WHERE clause; conditions use ? and are numbered $n.
type Where struct {
	conds []string
	Args  []any
}

// Add appends a condition with its arguments.
func (w *Where) Add(cond string, args ...any) {
	var b strings.Builder
	ai := 0
	for i := 0; i < len(cond); i++ {
		if cond[i] == '?' && ai < len(args) {
			w.Args = append(w.Args, args[ai])
			ai++
			fmt.Fprintf(&b, "$%d", len(w.Args))
			continue
		}
		b.WriteByte(cond[i])
	}
	w.conds = append(w.conds, b.String())
}

// In appends "column IN (...)" for values.
func (w *Where) In(column string, values []string) {
	if len(values) == 0 {
		return
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(values)), ",")
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	w.Add(column+" IN ("+marks+")", args...)
}

// SQL returns " WHERE ..." (or "").
func (w *Where) SQL() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Next returns the placeholder number after the current arguments.
func (w *Where) Next() int { return len(w.Args) + 1 }

// LimitOffset returns " LIMIT $n OFFSET $m" appending their arguments.
func (w *Where) LimitOffset(p Params) string {
	w.Args = append(w.Args, p.Take, p.Offset())
	return fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(w.Args)-1, len(w.Args))
}
