package taxcode

import (
	"regexp"
	"strings"
	"testing"
)

func TestCatalogueShape(t *testing.T) {
	codes := All()
	if len(codes) != 637 {
		t.Fatalf("catalogue has %d codes, want 637", len(codes))
	}
	pattern := regexp.MustCompile(`^txcd_[0-9]{8}$`)
	seen := make(map[string]bool, len(codes))
	for _, c := range codes {
		if !pattern.MatchString(c.Code) {
			t.Errorf("malformed code %q", c.Code)
		}
		if seen[c.Code] {
			t.Errorf("duplicate code %s", c.Code)
		}
		seen[c.Code] = true
		if c.Name == "" || strings.TrimSpace(c.Name) != c.Name || strings.Contains(c.Name, "  ") {
			t.Errorf("%s has a badly formed name %q", c.Code, c.Name)
		}
	}
}

// The contract lists the four general codes first, then the rest by number,
// ending with shipping.
func TestContractOrder(t *testing.T) {
	codes := All()
	wantFirst := []string{"txcd_99999999", "txcd_20030000", "txcd_10000000", "txcd_00000000"}
	for i, want := range wantFirst {
		if codes[i].Code != want {
			t.Errorf("code %d is %s, want %s", i, codes[i].Code, want)
		}
	}
	if last := codes[len(codes)-1].Code; last != "txcd_92010001" {
		t.Errorf("last code is %s, want txcd_92010001", last)
	}
	for i := len(wantFirst) + 1; i < len(codes); i++ {
		if codes[i-1].Code >= codes[i].Code {
			t.Errorf("codes out of order: %s before %s", codes[i-1].Code, codes[i].Code)
		}
	}
}

func TestName(t *testing.T) {
	tests := []struct{ code, want string }{
		{"txcd_00000000", "Nontaxable"},
		{"txcd_10000000", "General - Electronically Supplied Services"},
		{"txcd_20030000", "General - Services"},
		{"txcd_92010001", "Shipping"},
		{"txcd_99999999", "General - Tangible Goods"},
		{"txcd_10103001", "Software as a service (SaaS) - business use"},
		{"txcd_30011000", "Clothing & Footwear"},
	}
	for _, tt := range tests {
		got, ok := Name(tt.code)
		if !ok || got != tt.want {
			t.Errorf("Name(%q) = %q, %v; want %q, true", tt.code, got, ok, tt.want)
		}
	}
	for _, code := range []string{"", "txcd_12345678", "TXCD_00000000", "txcd_0000000", " txcd_00000000"} {
		if name, ok := Name(code); ok || name != "" {
			t.Errorf("Name(%q) = %q, %v; want not found", code, name, ok)
		}
		if Valid(code) {
			t.Errorf("Valid(%q) = true", code)
		}
	}
}

func TestDefaultIsValid(t *testing.T) {
	if name, ok := Name(Default); !ok || name != "Nontaxable" {
		t.Fatalf("Default %s: Name = %q, %v", Default, name, ok)
	}
}

func TestValidAgreesWithAll(t *testing.T) {
	for _, c := range All() {
		if !Valid(c.Code) {
			t.Errorf("Valid(%s) = false for a listed code", c.Code)
		}
	}
}

func TestAllReturnsACopy(t *testing.T) {
	codes := All()
	codes[0] = Code{Code: "txcd_mutated", Name: "mutated"}
	if All()[0].Code != "txcd_99999999" {
		t.Fatal("mutating the result of All changed the catalogue")
	}
}

func TestSearch(t *testing.T) {
	if got := len(Search("")); got != 637 {
		t.Errorf("Search(\"\") returned %d codes, want 637", got)
	}
	if got := len(Search("   ")); got != 637 {
		t.Errorf("Search(blank) returned %d codes, want 637", got)
	}

	tests := []struct {
		q        string
		mustHave []string
	}{
		{"shipping", []string{"txcd_92010001"}},
		{"SHIPPING", []string{"txcd_92010001"}},
		{"nontaxable", []string{"txcd_00000000"}},
		{"TXCD_1010", []string{"txcd_10101000", "txcd_10103000", "txcd_10103001"}},
		{"saas", []string{"txcd_10103000", "txcd_10103001", "txcd_10103100", "txcd_10103101"}},
		{"92010001", []string{"txcd_92010001"}},
	}
	for _, tt := range tests {
		got := Search(tt.q)
		have := make(map[string]bool, len(got))
		for _, c := range got {
			have[c.Code] = true
			if !strings.Contains(strings.ToLower(c.Code+" "+c.Name), strings.ToLower(strings.TrimSpace(tt.q))) {
				t.Errorf("Search(%q) returned non-matching %s %q", tt.q, c.Code, c.Name)
			}
		}
		for _, code := range tt.mustHave {
			if !have[code] {
				t.Errorf("Search(%q) misses %s", tt.q, code)
			}
		}
	}

	if got := Search("no such category anywhere"); got == nil || len(got) != 0 {
		t.Errorf("Search(no match) = %#v, want an empty non-nil slice", got)
	}
}

// Results keep contract order so API listings are stable.
func TestSearchKeepsOrder(t *testing.T) {
	got := Search("digital")
	index := make(map[string]int)
	for i, c := range All() {
		index[c.Code] = i
	}
	for i := 1; i < len(got); i++ {
		if index[got[i-1].Code] >= index[got[i].Code] {
			t.Fatalf("Search results out of order: %s before %s", got[i-1].Code, got[i].Code)
		}
	}
}

func TestEmbeddedTableProvenance(t *testing.T) {
	entries, err := parse(codesTSV)
	if err != nil {
		t.Fatal(err)
	}
	var derived []string
	for _, e := range entries {
		if e.Source == "derived" {
			derived = append(derived, e.Code.Code)
		}
	}
	// Only codes missing from the published catalogue may carry a derived
	// name; keep this list short and explicit.
	want := []string{"txcd_36010006", "txcd_36010007"}
	if strings.Join(derived, ",") != strings.Join(want, ",") {
		t.Errorf("derived names for %v, want exactly %v", derived, want)
	}
}

func TestParseRejectsBadTables(t *testing.T) {
	bad := map[string]string{
		"two fields":     "txcd_00000000\tNontaxable\n",
		"bad code":       "txcd_0000\tNontaxable\tstripe\n",
		"duplicate":      "txcd_00000000\tA\tstripe\ntxcd_00000000\tB\tstripe\n",
		"empty name":     "txcd_00000000\t\tstripe\n",
		"padded name":    "txcd_00000000\t Nontaxable\tstripe\n",
		"unknown source": "txcd_00000000\tNontaxable\tguess\n",
	}
	for name, table := range bad {
		if _, err := parse(table); err == nil {
			t.Errorf("%s: parse accepted %q", name, table)
		}
	}
	if _, err := parse("# comment\n\ntxcd_00000000\tNontaxable\tstripe\r\n"); err != nil {
		t.Errorf("parse rejected a valid table: %v", err)
	}
}
