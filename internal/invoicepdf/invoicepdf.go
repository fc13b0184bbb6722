// Package invoicepdf renders invoices as PDF documents.
//
// The package knows nothing about storage: callers fill in a Document and
// call Render. Amounts are int64 minor units of Document.Currency and are
// formatted with the currency's own exponent and symbol (USD "$1,234.56",
// JPY "¥1,000", KWD "KWD 1.234"). Text is set in an embedded DejaVu Sans
// font, so currency symbols (€ £ ¥ ₪ ₹ …) and Latin, Greek, Cyrillic and
// Hebrew text render correctly. DejaVu has no CJK glyphs: Chinese, Japanese
// and Korean text stays in the text layer but is drawn as blank boxes.
package invoicepdf

import (
	"fmt"
	"strings"
	"time"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/config"
	"github.com/johnfercher/maroto/v2/pkg/consts/pagesize"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/core/entity"
	"github.com/johnfercher/maroto/v2/pkg/props"
)

// Invoice statuses understood by Render. Any other value is printed as is.
const (
	StatusDraft = "draft"
	StatusOpen  = "open"
	StatusPaid  = "paid"
	StatusVoid  = "void"
)

// Party is the seller or the buyer of an invoice.
type Party struct {
	Name         string
	Email        string
	Phone        string
	AddressLines []string
}

// TaxLine is one tax rate applied to the invoice, summed over all lines.
type TaxLine struct {
	Label         string // e.g. "Sales tax 7.25%"
	Inclusive     bool   // the tax is included in the line prices
	Amount        int64  // tax amount, minor units
	TaxableAmount int64  // amount the rate was applied to, minor units
}

// Line is one invoice line item.
type Line struct {
	Description string
	Quantity    int64
	UnitAmount  int64 // minor units
	Amount      int64 // minor units, as charged (before exclusive taxes)
	PeriodStart time.Time
	PeriodEnd   time.Time // zero if the line has no service period
	TaxLabels   []string  // labels of the tax rates applied to this line
}

// Document is everything printed on an invoice.
//
// The totals follow the usual billing semantics: Subtotal is the sum of the
// line amounts (which include inclusive tax); Total = Subtotal plus
// exclusive tax; Tax is all tax, inclusive and exclusive, and is printed
// per rate from Taxes when there are any; AmountDue is what the buyer owes
// after credits (normally equal to Total); AmountRemaining = AmountDue -
// AmountPaid.
type Document struct {
	Number   string
	Status   string // draft, open, paid or void
	Currency string // ISO 4217 code, e.g. "USD"

	Created time.Time // zero = absent
	DueDate time.Time // zero = absent
	PaidAt  time.Time // zero = absent

	Seller     Party
	BrandColor string // "#RRGGBB", optional; invalid values are ignored
	Buyer      Party

	Lines []Line
	Taxes []TaxLine

	Subtotal        int64
	Tax             int64
	Total           int64
	AmountPaid      int64
	AmountDue       int64
	AmountRemaining int64

	Memo   string
	Footer string
}

// Render lays out doc and returns the PDF bytes.
func Render(doc Document) ([]byte, error) {
	doc.Currency = strings.ToUpper(strings.TrimSpace(doc.Currency))
	money, err := newMoneyFormatter(doc.Currency)
	if err != nil {
		return nil, err
	}
	fonts, err := loadFonts()
	if err != nil {
		return nil, err
	}

	r := &renderer{
		doc:   doc,
		money: money,
		brand: parseHexColor(doc.BrandColor, defaultBrand),
	}
	m := maroto.New(r.config(fonts))
	if err := r.build(m); err != nil {
		return nil, err
	}
	out, err := m.Generate()
	if err != nil {
		return nil, fmt.Errorf("invoicepdf: generate: %w", err)
	}
	return out.GetBytes(), nil
}

// renderer holds the per-document state shared by the section builders.
type renderer struct {
	doc   Document
	money moneyFormatter
	brand props.Color
}

func (r *renderer) config(fonts []*entity.CustomFont) *entity.Config {
	title := "Invoice"
	if r.doc.Number != "" {
		title += " " + r.doc.Number
	}
	b := config.NewBuilder().
		WithPageSize(pagesize.A4).
		WithLeftMargin(marginMM).
		WithRightMargin(marginMM).
		WithTopMargin(marginMM).
		WithBottomMargin(marginMM).
		WithCustomFonts(fonts).
		WithDefaultFont(&props.Font{Family: fontFamily, Size: sizeBody, Color: &colorText}).
		WithPageNumber(props.PageNumber{
			Pattern: "Page {current} of {total}",
			Place:   props.RightBottom,
			Size:    sizeSmall,
			Color:   &colorMuted,
		}).
		WithTitle(title, true).
		WithCreator("Kassa", true).
		WithCompression(true)
	if r.doc.Seller.Name != "" {
		b = b.WithAuthor(r.doc.Seller.Name, true)
	}
	if !r.doc.Created.IsZero() {
		// Date the file by the invoice rather than by the moment of rendering.
		b = b.WithCreationDate(r.doc.Created.UTC())
	}
	return b.Build()
}

// build adds every section of the invoice to m, top to bottom.
func (r *renderer) build(m core.Maroto) error {
	if err := r.addFooter(m); err != nil {
		return err
	}
	m.AddRows(r.headerRows()...)
	m.AddRows(r.metaRows()...)
	m.AddRows(r.partyRows()...)
	m.AddRows(r.summaryRows()...)
	m.AddRows(r.lineRows()...)
	m.AddRows(r.taxRows()...)
	m.AddRows(r.totalRows()...)
	m.AddRows(r.memoRows()...)
	return nil
}
