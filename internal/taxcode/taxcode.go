// Package taxcode is the catalogue of product tax codes (txcd_...) a product
// may carry. The codes classify products only; they drive no tax
// calculation. The table ships inside the binary (codes.tsv) so validation
// never depends on a network call or a database row.
package taxcode

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// Default is the code a product gets when none is given: nontaxable.
const Default = "txcd_00000000"

// Code is one catalogue entry: the code and its category name.
type Code struct {
	Code string
	Name string
}

//go:embed codes.tsv
var codesTSV string

var (
	// all keeps the contract's order, which the API lists codes in.
	all []Code
	// names indexes all by code.
	names map[string]string
	// lowered holds lower-cased "code name" per entry, in all's order, so
	// Search does not re-lower 637 strings on every call.
	lowered []string
)

func init() {
	entries, err := parse(codesTSV)
	if err != nil {
		// The table is compiled in; a bad table is a build defect that the
		// package tests catch, so failing loudly at start-up is right.
		panic("taxcode: " + err.Error())
	}
	all = make([]Code, len(entries))
	names = make(map[string]string, len(entries))
	lowered = make([]string, len(entries))
	for i, e := range entries {
		all[i] = e.Code
		names[e.Code.Code] = e.Code.Name
		lowered[i] = strings.ToLower(e.Code.Code + " " + e.Code.Name)
	}
}

// Name returns the category name of code, and whether code is in the
// catalogue. Codes are matched exactly (they are lower-case identifiers).
func Name(code string) (string, bool) {
	name, ok := names[code]
	return name, ok
}

// Valid reports whether code is one of the allowed product tax codes.
func Valid(code string) bool {
	_, ok := names[code]
	return ok
}

// All returns every code in contract order. The slice is a copy, so callers
// may sort or modify it freely.
func All() []Code {
	return append([]Code(nil), all...)
}

// Search returns the codes whose code or name contains q, ignoring case, in
// contract order. An empty (or all-blank) q returns every code. The result is
// never nil, so it encodes as an empty JSON collection rather than null.
func Search(q string) []Code {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return All()
	}
	found := []Code{}
	for i, s := range lowered {
		if strings.Contains(s, q) {
			found = append(found, all[i])
		}
	}
	return found
}

// entry is one parsed row of codes.tsv, including where its name came from.
type entry struct {
	Code
	// Source is "stripe" for the published Stripe Tax name, or "derived" for
	// a code whose name was not published and was taken from its parent
	// category.
	Source string
}

var codePattern = regexp.MustCompile(`^txcd_[0-9]{8}$`)

// parse reads codes.tsv: lines of code<TAB>name<TAB>source; blank lines and
// lines starting with # are ignored.
func parse(text string) ([]entry, error) {
	var entries []entry
	seen := make(map[string]bool)
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			return nil, fmt.Errorf("codes.tsv line %d: want 3 tab-separated fields, got %d", i+1, len(fields))
		}
		e := entry{Code: Code{Code: fields[0], Name: fields[1]}, Source: fields[2]}
		switch {
		case !codePattern.MatchString(e.Code.Code):
			return nil, fmt.Errorf("codes.tsv line %d: malformed code %q", i+1, e.Code.Code)
		case seen[e.Code.Code]:
			return nil, fmt.Errorf("codes.tsv line %d: duplicate code %s", i+1, e.Code.Code)
		case e.Name == "" || strings.TrimSpace(e.Name) != e.Name:
			return nil, fmt.Errorf("codes.tsv line %d: %s has an empty or unpadded name %q", i+1, e.Code.Code, e.Name)
		case e.Source != "stripe" && e.Source != "derived":
			return nil, fmt.Errorf("codes.tsv line %d: unknown source %q", i+1, e.Source)
		}
		seen[e.Code.Code] = true
		entries = append(entries, e)
	}
	return entries, nil
}
