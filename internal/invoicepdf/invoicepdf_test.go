package invoicepdf

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
}

func seller() Party {
	return Party{
		Name:         "Acme Cloud Inc.",
		Email:        "billing@acme.example",
		Phone:        "+1 415 555 0100",
		AddressLines: []string{"500 Market Street", "San Francisco, CA 94105", "United States"},
	}
}

// usdDocument: two lines (one with quantity 3 and a service period), two
// exclusive tax rates, nothing paid yet.
func usdDocument() Document {
	period := []time.Time{date(2026, time.January, 1), date(2026, time.February, 1)}
	taxes := []string{"State tax 6.25%", "County tax 1.5%"}
	return Document{
		Number:     "ACME-0042",
		Status:     StatusOpen,
		Currency:   "USD",
		Created:    date(2026, time.January, 1),
		DueDate:    date(2026, time.January, 31),
		Seller:     seller(),
		BrandColor: "#4F46E5",
		Buyer: Party{
			Name:         "Globex Corporation",
			Email:        "ap@globex.example",
			AddressLines: []string{"1 Globex Way", "Springfield, OR 97477"},
		},
		Lines: []Line{
			{Description: "Pro plan (per seat)", Quantity: 3, UnitAmount: 4999, Amount: 14997,
				PeriodStart: period[0], PeriodEnd: period[1], TaxLabels: taxes},
			{Description: "Onboarding package", Quantity: 1, UnitAmount: 120000, Amount: 120000,
				TaxLabels: taxes},
		},
		Taxes: []TaxLine{
			{Label: "State tax 6.25%", Amount: 8437, TaxableAmount: 134997},
			{Label: "County tax 1.5%", Amount: 2025, TaxableAmount: 134997},
		},
		Subtotal:        134997,
		Tax:             10462,
		Total:           145459,
		AmountDue:       145459,
		AmountRemaining: 145459,
		Memo:            "Thank you for your business.\nPlease include the invoice number with your payment.",
		Footer:          "Acme Cloud Inc. · EIN 12-3456789 · acme.example",
	}
}

// jpyDocument: zero-decimal currency, inclusive tax, paid in full.
func jpyDocument() Document {
	return Document{
		Number:   "JP-2026-0007",
		Status:   StatusPaid,
		Currency: "JPY",
		Created:  date(2026, time.March, 1),
		DueDate:  date(2026, time.March, 15),
		PaidAt:   date(2026, time.March, 3),
		Seller:   Party{Name: "Kassa K.K.", AddressLines: []string{"1-1 Marunouchi, Chiyoda-ku", "Tokyo 100-0005", "Japan"}},
		Buyer:    Party{Name: "Taro Yamada", Email: "taro@example.jp"},
		Lines: []Line{
			{Description: "Standard plan", Quantity: 2, UnitAmount: 5000, Amount: 10000,
				TaxLabels: []string{"Consumption tax 10%"}},
			{Description: "Setup fee", Quantity: 1, UnitAmount: 1000, Amount: 1000,
				TaxLabels: []string{"Consumption tax 10%"}},
		},
		Taxes:      []TaxLine{{Label: "Consumption tax 10%", Inclusive: true, Amount: 1000, TaxableAmount: 10000}},
		Subtotal:   11000,
		Tax:        1000,
		Total:      11000,
		AmountPaid: 11000,
		AmountDue:  11000,
	}
}

// eurDocument: a voided invoice with a non-ASCII buyer name.
func eurDocument() Document {
	return Document{
		Number:   "EU-0003",
		Status:   StatusVoid,
		Currency: "eur",
		Created:  date(2026, time.May, 4),
		Seller:   Party{Name: "Kassa Démo SARL", AddressLines: []string{"12 rue de la Paix", "75002 Paris", "France"}},
		Buyer:    Party{Name: "Zoë Müller GmbH", AddressLines: []string{"Straße des 17. Juni 1", "10623 Berlin"}},
		Lines: []Line{
			{Description: "Starter plan", Quantity: 1, UnitAmount: 1250, Amount: 1250,
				PeriodStart: date(2026, time.May, 4), PeriodEnd: date(2026, time.June, 4),
				TaxLabels: []string{"VAT 20%"}},
		},
		Taxes:           []TaxLine{{Label: "VAT 20%", Amount: 250, TaxableAmount: 1250}},
		Subtotal:        1250,
		Tax:             250,
		Total:           1500,
		AmountDue:       1500,
		AmountRemaining: 1500,
	}
}

func render(t *testing.T, doc Document) []byte {
	t.Helper()
	pdf, err := Render(doc)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return pdf
}

// pdfText extracts the text layer with poppler's pdftotext. It skips the
// test when pdftotext is missing, unless KASSA_REQUIRE_PDFTOTEXT=1.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("KASSA_REQUIRE_PDFTOTEXT") == "1" {
			t.Fatal("pdftotext not found and KASSA_REQUIRE_PDFTOTEXT=1")
		}
		t.Skip("pdftotext not installed (poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func assertContains(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("extracted text:\n%s", text)
	}
}

func TestRenderProducesPDF(t *testing.T) {
	for name, doc := range map[string]Document{"usd": usdDocument(), "jpy": jpyDocument(), "eur": eurDocument(), "empty": {Currency: "USD"}} {
		t.Run(name, func(t *testing.T) {
			pdf := render(t, doc)
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
				t.Fatalf("output does not start with %%PDF-: %q", pdf[:min(len(pdf), 16)])
			}
		})
	}
}

func TestRenderRejectsUnknownCurrency(t *testing.T) {
	doc := usdDocument()
	doc.Currency = "XYZ"
	if _, err := Render(doc); err == nil {
		t.Fatal("expected an error for an unknown currency")
	}
}

func TestRenderUSDText(t *testing.T) {
	text := pdfText(t, render(t, usdDocument()))
	assertContains(t, text,
		"Acme Cloud Inc.", "Invoice", "ACME-0042", "Open",
		"Jan 1, 2026", "Jan 31, 2026", "Jan 1, 2026 – Feb 1, 2026",
		"Globex Corporation", "ap@globex.example", "1 Globex Way",
		"Pro plan (per seat)", "$49.99", "$149.97",
		"Onboarding package", "$1,200.00",
		"State tax 6.25%", "$84.37", "County tax 1.5%", "$20.25", "$1,349.97",
		"Subtotal", "$1,454.59", "Amount due",
		"$1,454.59 due Jan 31, 2026",
		"Thank you for your business.", "EIN 12-3456789", "Page 1 of 1",
	)
	if !regexp.MustCompile(`Pro plan \(per seat\)\s+3\s+\$49\.99\s+\$149\.97`).MatchString(text) {
		t.Errorf("line 1 row not laid out as description, qty 3, unit price, amount:\n%s", text)
	}
	for _, absent := range []string{"PAID", "VOID", "Amount remaining"} {
		if strings.Contains(text, absent) {
			t.Errorf("open invoice text unexpectedly contains %q", absent)
		}
	}
}

func TestRenderJPYText(t *testing.T) {
	text := pdfText(t, render(t, jpyDocument()))
	assertContains(t, text,
		"JP-2026-0007", "PAID", "Taro Yamada", "Kassa K.K.",
		"Standard plan", "¥5,000", "¥10,000", "Setup fee", "¥1,000",
		"Consumption tax 10%", "Inclusive", "Consumption tax 10% (included)", "Total excluding tax", "¥10,000",
		"¥11,000", "Amount paid", "Amount remaining", "¥0",
		"¥11,000 paid on Mar 3, 2026", "Mar 3, 2026",
	)
	if strings.Contains(text, "¥1,000.00") || strings.Contains(text, "¥11,000.00") {
		t.Error("JPY amounts must have no decimals")
	}
}

// totalsBlock reads the label/amount rows of the totals block, from
// "Subtotal" on, as pdftotext -layout prints them (USD amounts).
func totalsBlock(t *testing.T, text string) (labels []string, cents map[string]int64) {
	t.Helper()
	row := regexp.MustCompile(`^\s+(\S.*?)\s{2,}\$([\d,]+)\.(\d\d)\s*$`)
	cents = map[string]int64{}
	in := false
	for _, l := range strings.Split(text, "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == "Subtotal" {
			in = true
		}
		if !in {
			continue
		}
		var v int64
		for _, c := range strings.ReplaceAll(m[2], ",", "") + m[3] {
			v = v*10 + int64(c-'0')
		}
		labels = append(labels, m[1])
		cents[m[1]] = v
	}
	return labels, cents
}

// Mixed inclusive and exclusive tax: every printed figure adds up, the
// included tax is labelled as such, each rate has its row.
func TestRenderMixedTaxTotalsAddUp(t *testing.T) {
	doc := usdDocument()
	doc.Lines = []Line{
		{Description: "Annual plan (VAT included)", Quantity: 1, UnitAmount: 1914, Amount: 1914, TaxLabels: []string{"VAT 20%"}},
		{Description: "Support hours", Quantity: 2, UnitAmount: 3041, Amount: 6082, TaxLabels: []string{"Sales tax 9.24%"}},
	}
	doc.Taxes = []TaxLine{
		{Label: "VAT 20%", Inclusive: true, Amount: 319, TaxableAmount: 1595},
		{Label: "Sales tax 9.24%", Amount: 562, TaxableAmount: 6082},
	}
	doc.Subtotal, doc.Tax, doc.Total, doc.AmountDue, doc.AmountRemaining = 7996, 881, 8558, 8558, 8558
	text := pdfText(t, render(t, doc))
	labels, got := totalsBlock(t, text)
	want := []string{"Subtotal", "Total excluding tax", "VAT 20% (included)", "Sales tax 9.24%", "Total", "Amount due"}
	if strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Fatalf("totals rows %q, want %q:\n%s", labels, want, text)
	}
	if got["Subtotal"] != 1914+6082 {
		t.Errorf("Subtotal %d is not the sum of the lines", got["Subtotal"])
	}
	if got["Subtotal"]-got["VAT 20% (included)"] != got["Total excluding tax"] {
		t.Errorf("Subtotal %d less included tax %d is not Total excluding tax %d", got["Subtotal"], got["VAT 20% (included)"], got["Total excluding tax"])
	}
	if got["Total excluding tax"]+got["VAT 20% (included)"]+got["Sales tax 9.24%"] != got["Total"] || got["Total"] != 8558 {
		t.Errorf("Total excluding tax + taxes ≠ Total: %v", got)
	}
	if strings.Contains(text, "$8.81") {
		t.Errorf("the mixed tax sum is printed as if it were added:\n%s", text)
	}

	// Exclusive only: no "Total excluding tax"; Subtotal + each rate = Total.
	labels, got = totalsBlock(t, pdfText(t, render(t, usdDocument())))
	want = []string{"Subtotal", "State tax 6.25%", "County tax 1.5%", "Total", "Amount due"}
	if strings.Join(labels, "|") != strings.Join(want, "|") ||
		got["Subtotal"]+got["State tax 6.25%"]+got["County tax 1.5%"] != got["Total"] {
		t.Errorf("exclusive totals %q %v", labels, got)
	}
}

func TestRenderEURText(t *testing.T) {
	text := pdfText(t, render(t, eurDocument()))
	assertContains(t, text,
		"EU-0003", "VOID", "This invoice has been voided",
		"Zoë Müller GmbH", "Straße des 17. Juni 1", "Kassa Démo SARL",
		"Starter plan", "€12.50", "May 4, 2026 – Jun 4, 2026",
		"VAT 20%", "Exclusive", "€2.50", "€15.00",
	)
	if strings.Contains(text, "Amount due") {
		t.Error("a void invoice must not show an amount due")
	}
}

// TestRenderSymbolsText covers symbols outside Latin-1 and a
// three-decimal currency.
func TestRenderSymbolsText(t *testing.T) {
	for _, c := range []struct {
		code  string
		minor int64
		want  string
	}{
		{"ILS", 9990, "₪99.90"},
		{"KWD", 1234, "KWD 1.234"}, // formatted with U+00A0; pdftotext prints a space
		{"GBP", 100000, "£1,000.00"},
		{"INR", 123456789, "₹1,234,567.89"},
	} {
		t.Run(c.code, func(t *testing.T) {
			doc := Document{
				Number: "SYM-1", Status: StatusOpen, Currency: c.code,
				Buyer:    Party{Name: "Buyer"},
				Lines:    []Line{{Description: "Item", Quantity: 1, UnitAmount: c.minor, Amount: c.minor}},
				Subtotal: c.minor, Total: c.minor, AmountDue: c.minor, AmountRemaining: c.minor,
			}
			assertContains(t, pdfText(t, render(t, doc)), c.want)
		})
	}
}

func TestMoneyFormat(t *testing.T) {
	cases := []struct {
		code  string
		minor int64
		want  string
	}{
		{"USD", 123456, "$1,234.56"},
		{"USD", 5, "$0.05"},
		{"USD", -1999, "-$19.99"},
		{"JPY", 1000, "¥1,000"},
		{"EUR", 1250, "€12.50"},
		{"ILS", 9990, "₪99.90"},
		{"KWD", 1234, "KWD\u00a01.234"},
	}
	for _, c := range cases {
		m, err := newMoneyFormatter(c.code)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.format(c.minor); got != c.want {
			t.Errorf("%s %d = %q, want %q", c.code, c.minor, got, c.want)
		}
	}
}

func TestParseHexColor(t *testing.T) {
	fb := defaultBrand
	if c := parseHexColor("#4F46E5", fb); c.Red != 0x4f || c.Green != 0x46 || c.Blue != 0xe5 {
		t.Errorf("got %+v", c)
	}
	for _, bad := range []string{"", "#fff", "#GGGGGG", "red"} {
		if c := parseHexColor(bad, fb); c != fb {
			t.Errorf("%q: got %+v, want fallback", bad, c)
		}
	}
}

// TestWriteSample writes the USD sample to $INVOICEPDF_SAMPLE for eyeballing,
// e.g. INVOICEPDF_SAMPLE=/tmp/sample-invoice.pdf go test -run WriteSample.
func TestWriteSample(t *testing.T) {
	out := os.Getenv("INVOICEPDF_SAMPLE")
	if out == "" {
		t.Skip("set INVOICEPDF_SAMPLE=path to write a sample invoice")
	}
	if err := os.WriteFile(out, render(t, usdDocument()), 0o644); err != nil {
		t.Fatal(err)
	}
}
