package invoicepdf

import (
	"strconv"
	"strings"

	"github.com/johnfercher/maroto/v2/pkg/components/col"
	"github.com/johnfercher/maroto/v2/pkg/components/line"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/johnfercher/maroto/v2/pkg/consts/align"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/props"
)

// Page geometry (mm) and type sizes (pt). The grid has 12 columns.
const (
	marginMM     = 15.0
	cellPad      = 1.5
	sizeSmall    = 7.5
	sizeBody     = 9.0
	sizeLarge    = 12.0
	sizeSeller   = 15.0
	sizeTitle    = 22.0
	sizeMarker   = 14.0
	sectionGap   = 7.0
	paragraphGap = 1.5
)

var (
	colorText    = props.Color{Red: 33, Green: 37, Blue: 41}
	colorMuted   = props.Color{Red: 108, Green: 117, Blue: 125}
	colorRule    = props.Color{Red: 214, Green: 218, Blue: 223}
	defaultBrand = props.Color{Red: 33, Green: 37, Blue: 41}
	colorPaid    = props.Color{Red: 25, Green: 135, Blue: 84}
	colorVoid    = props.Color{Red: 200, Green: 35, Blue: 51}
	colorDraft   = props.Color{Red: 108, Green: 117, Blue: 125}
)

// Column widths of the line-item table (sum 12).
const (
	colDesc   = 7
	colQty    = 1
	colUnit   = 2
	colAmount = 2
)

// Column widths of the tax table (sum 12).
const (
	colTaxLabel   = 5
	colTaxKind    = 2
	colTaxTaxable = 3
	colTaxAmount  = 2
)

// Column widths of the totals block: an empty gutter, label, value.
const (
	colTotalsGutter = 6
	colTotalsLabel  = 4
	colTotalsValue  = 2
)

// --- small building blocks -------------------------------------------------

func body() props.Text {
	return props.Text{Size: sizeBody, Color: &colorText}
}

func muted() props.Text {
	return props.Text{Size: sizeBody, Color: &colorMuted}
}

func bold(p props.Text) props.Text {
	p.Style = fontstyle.Bold
	return p
}

func right(p props.Text) props.Text {
	p.Align = align.Right
	return p
}

func sized(p props.Text, size float64) props.Text {
	p.Size = size
	return p
}

func colored(p props.Text, c props.Color) props.Text {
	p.Color = &c
	return p
}

// cell pads a text style for use inside a table cell.
func cell(p props.Text) props.Text {
	p.Top, p.Bottom, p.Left, p.Right = cellPad, cellPad, cellPad, cellPad
	return p
}

func spacer(h float64) core.Row { return row.New(h) }

// rule is a thin horizontal line spanning the columns after gutter.
func rule(gutter int, c props.Color, thickness float64) core.Row {
	l := line.NewCol(12-gutter, props.Line{Color: &c, Thickness: thickness, SizePercent: 100, OffsetPercent: 50})
	if gutter == 0 {
		return row.New(2).Add(l)
	}
	return row.New(2).Add(col.New(gutter), l)
}

// textCol is a column holding s, or an empty column when s is blank
// (maroto gives blank text no height).
func textCol(size int, s string, p props.Text) core.Col {
	if strings.TrimSpace(s) == "" {
		return col.New(size)
	}
	return text.NewCol(size, s, p)
}

// paragraphs splits s on newlines into one auto-height row per paragraph;
// maroto's text component does not break on "\n" itself.
func paragraphs(s string, p props.Text) []core.Row {
	var rows []core.Row
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(para) == "" {
			rows = append(rows, spacer(paragraphGap))
			continue
		}
		rows = append(rows, row.New().Add(text.NewCol(12, para, p)))
	}
	return rows
}

// --- sections --------------------------------------------------------------

// headerRows: seller name on the left; "Invoice" and any status marker on
// the right.
func (r *renderer) headerRows() []core.Row {
	name := colored(bold(sized(body(), sizeSeller)), r.brand)
	name.Top = 2.4 // share the title's baseline
	seller := textCol(7, r.doc.Seller.Name, name)
	title := col.New(5).Add(text.New("Invoice", right(bold(sized(body(), sizeTitle)))))
	if label, c, ok := statusMarker(r.doc.Status); ok {
		p := colored(right(bold(sized(body(), sizeMarker))), c)
		p.Top = 11
		title.Add(text.New(label, p))
	}
	return []core.Row{row.New().Add(seller, title), spacer(sectionGap)}
}

// statusMarker returns the stamp shown for paid, void and draft invoices.
func statusMarker(status string) (string, props.Color, bool) {
	switch strings.ToLower(status) {
	case StatusPaid:
		return "PAID", colorPaid, true
	case StatusVoid:
		return "VOID", colorVoid, true
	case StatusDraft:
		return "DRAFT", colorDraft, true
	}
	return "", props.Color{}, false
}

// metaRows: invoice number, status and dates as label/value pairs.
func (r *renderer) metaRows() []core.Row {
	pairs := [][2]string{
		{"Invoice number", r.doc.Number},
		{"Status", statusText(r.doc.Status)},
		{"Date of issue", formatDate(r.doc.Created)},
		{"Date due", formatDate(r.doc.DueDate)},
		{"Date paid", formatDate(r.doc.PaidAt)},
	}
	var rows []core.Row
	for _, kv := range pairs {
		if kv[1] == "" {
			continue
		}
		p := body()
		p.Bottom = 1
		rows = append(rows, row.New().Add(
			text.NewCol(2, kv[0], muted()),
			text.NewCol(4, kv[1], p),
		))
	}
	return append(rows, spacer(sectionGap))
}

func statusText(status string) string {
	s := strings.TrimSpace(status)
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// partyRows: "From" (seller) and "Bill to" (buyer) blocks side by side.
func (r *renderer) partyRows() []core.Row {
	seller, buyer := partyLines(r.doc.Seller), partyLines(r.doc.Buyer)
	heading := bold(sized(muted(), sizeSmall))
	heading.Bottom = 1.5
	rows := []core.Row{row.New().Add(
		text.NewCol(6, "FROM", heading),
		text.NewCol(6, "BILL TO", heading),
	)}
	for i := 0; i < max(len(seller), len(buyer)); i++ {
		rows = append(rows, row.New().Add(
			partyCell(seller, i),
			partyCell(buyer, i),
		))
	}
	return append(rows, spacer(sectionGap))
}

// partyLines lists what is printed for a party, name first.
func partyLines(p Party) []string {
	var out []string
	for _, s := range append(append([]string{p.Name}, p.AddressLines...), p.Email, p.Phone) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func partyCell(lines []string, i int) core.Col {
	if i >= len(lines) {
		return col.New(6)
	}
	p := body()
	p.Right = 4
	p.Bottom = 0.8
	if i == 0 {
		p = bold(p)
	}
	return text.NewCol(6, lines[i], p)
}

// summaryRows: the one-line headline, e.g. "$107.75 due Feb 1, 2026".
func (r *renderer) summaryRows() []core.Row {
	s := r.summary()
	if s == "" {
		return nil
	}
	return []core.Row{
		row.New().Add(text.NewCol(12, s, bold(sized(body(), sizeLarge)))),
		spacer(sectionGap - 2),
	}
}

func (r *renderer) summary() string {
	d := r.doc
	switch strings.ToLower(d.Status) {
	case StatusVoid:
		return "This invoice has been voided"
	case StatusPaid:
		s := r.money.format(d.AmountPaid) + " paid"
		if !d.PaidAt.IsZero() {
			s += " on " + formatDate(d.PaidAt)
		}
		return s
	}
	amount := d.AmountDue
	if d.AmountPaid != 0 {
		amount = d.AmountRemaining
	}
	s := r.money.format(amount) + " due"
	if !d.DueDate.IsZero() {
		s += " " + formatDate(d.DueDate)
	}
	return s
}

// tableHeader is a shaded header row; cols are (size, label) pairs and
// every label but the first is right-aligned.
func (r *renderer) tableHeader(sizes []int, labels []string) core.Row {
	cols := make([]core.Col, len(sizes))
	for i := range sizes {
		p := cell(bold(sized(muted(), sizeSmall)))
		if i > 0 {
			p = right(p)
		}
		cols[i] = text.NewCol(sizes[i], labels[i], p)
	}
	bg := tint(r.brand, 0.9)
	return row.New().Add(cols...).WithStyle(&props.Cell{BackgroundColor: &bg})
}

// lineRows: the line-item table.
func (r *renderer) lineRows() []core.Row {
	rows := []core.Row{r.tableHeader(
		[]int{colDesc, colQty, colUnit, colAmount},
		[]string{"DESCRIPTION", "QTY", "UNIT PRICE", "AMOUNT"},
	)}
	if len(r.doc.Lines) == 0 {
		rows = append(rows, row.New().Add(text.NewCol(12, "No line items", cell(muted()))))
	}
	for _, l := range r.doc.Lines {
		rows = append(rows, r.lineItemRows(l)...)
	}
	return append(rows, spacer(sectionGap-2))
}

func (r *renderer) lineItemRows(l Line) []core.Row {
	num := right(cell(body()))
	main := cell(body())
	details := lineDetails(l)
	if details != "" {
		main.Bottom = 0.5
	}
	rows := []core.Row{row.New().Add(
		textCol(colDesc, l.Description, main),
		text.NewCol(colQty, strconv.FormatInt(l.Quantity, 10), num),
		text.NewCol(colUnit, r.money.format(l.UnitAmount), num),
		text.NewCol(colAmount, r.money.format(l.Amount), num),
	)}
	if details != "" {
		p := cell(sized(muted(), sizeSmall))
		p.Top = 0
		rows = append(rows, row.New().Add(text.NewCol(colDesc, details, p)))
	}
	return append(rows, rule(0, colorRule, 0.2))
}

// lineDetails is the small print under a line: service period and taxes.
func lineDetails(l Line) string {
	var parts []string
	if p := formatPeriod(l.PeriodStart, l.PeriodEnd); p != "" {
		parts = append(parts, p)
	}
	if len(l.TaxLabels) > 0 {
		parts = append(parts, strings.Join(l.TaxLabels, ", "))
	}
	return strings.Join(parts, " · ")
}

// taxRows: one row per tax rate with its taxable base.
func (r *renderer) taxRows() []core.Row {
	if len(r.doc.Taxes) == 0 {
		return nil
	}
	rows := []core.Row{r.tableHeader(
		[]int{colTaxLabel, colTaxKind, colTaxTaxable, colTaxAmount},
		[]string{"TAX", "TYPE", "TAXABLE AMOUNT", "TAX AMOUNT"},
	)}
	num := right(cell(body()))
	for _, t := range r.doc.Taxes {
		kind := "Exclusive"
		if t.Inclusive {
			kind = "Inclusive"
		}
		rows = append(rows,
			row.New().Add(
				textCol(colTaxLabel, t.Label, cell(body())),
				text.NewCol(colTaxKind, kind, num),
				text.NewCol(colTaxTaxable, r.money.format(t.TaxableAmount), num),
				text.NewCol(colTaxAmount, r.money.format(t.Amount), num),
			),
			rule(0, colorRule, 0.2),
		)
	}
	return append(rows, spacer(sectionGap-2))
}

// totalRows: subtotal, tax per rate, total and what is paid / still due.
//
// The printed figures add up: the line amounts sum to "Subtotal"; when some
// tax is included in the prices, "Total excluding tax" is the subtotal less
// that tax (as Stripe prints it), and that plus every rate's row is "Total".
// Included rates say so in their label. Without included tax, Subtotal plus
// the rates' rows is Total.
//
// When nothing has been paid the last line is "Amount due". Otherwise the
// block shows "Amount due" (only if credits made it differ from the total),
// "Amount paid" and, emphasised, "Amount remaining". A void invoice stops
// after "Total" (plus "Amount paid" if anything was paid): nothing is due.
func (r *renderer) totalRows() []core.Row {
	d := r.doc
	rows := []core.Row{r.totalRow("Subtotal", d.Subtotal, false)}
	var included int64
	for _, t := range d.Taxes {
		if t.Inclusive {
			included += t.Amount
		}
	}
	if included != 0 {
		rows = append(rows, r.totalRow("Total excluding tax", d.Subtotal-included, false))
	}
	for _, t := range d.Taxes {
		rows = append(rows, r.totalRow(taxTotalLabel(t), t.Amount, false))
	}
	if len(d.Taxes) == 0 && d.Tax != 0 {
		rows = append(rows, r.totalRow("Tax", d.Tax, false))
	}
	rows = append(rows,
		rule(colTotalsGutter, colorRule, 0.2),
		r.totalRow("Total", d.Total, true),
	)
	if strings.EqualFold(d.Status, StatusVoid) {
		if d.AmountPaid != 0 {
			rows = append(rows, r.totalRow("Amount paid", d.AmountPaid, false))
		}
		return rows
	}
	if d.AmountPaid == 0 {
		rows = append(rows, rule(colTotalsGutter, colorRule, 0.2), r.emphasisRow("Amount due", d.AmountDue))
		return rows
	}
	if d.AmountDue != d.Total {
		rows = append(rows, r.totalRow("Amount due", d.AmountDue, false))
	}
	return append(rows,
		r.totalRow("Amount paid", d.AmountPaid, false),
		rule(colTotalsGutter, colorRule, 0.2),
		r.emphasisRow("Amount remaining", d.AmountRemaining),
	)
}

// taxTotalLabel names a rate's row in the totals, noting tax that is
// already part of the line prices.
func taxTotalLabel(t TaxLine) string {
	label := strings.TrimSpace(t.Label)
	if label == "" {
		label = "Tax"
	}
	if t.Inclusive {
		label += " (included)"
	}
	return label
}

func (r *renderer) totalRow(label string, amount int64, strong bool) core.Row {
	p := body()
	p.Top, p.Bottom = 1, 1
	if strong {
		p = bold(p)
	}
	return row.New().Add(
		col.New(colTotalsGutter),
		text.NewCol(colTotalsLabel, label, p),
		text.NewCol(colTotalsValue, r.money.format(amount), right(p)),
	)
}

func (r *renderer) emphasisRow(label string, amount int64) core.Row {
	p := colored(bold(sized(body(), sizeLarge-1)), r.brand)
	p.Top, p.Bottom = 1, 1
	return row.New().Add(
		col.New(colTotalsGutter),
		text.NewCol(colTotalsLabel, label, p),
		text.NewCol(colTotalsValue, r.money.format(amount), right(p)),
	)
}

// memoRows: free-text notes for the buyer.
func (r *renderer) memoRows() []core.Row {
	if strings.TrimSpace(r.doc.Memo) == "" {
		return nil
	}
	heading := bold(sized(muted(), sizeSmall))
	heading.Bottom = 1.5
	rows := []core.Row{spacer(sectionGap), row.New().Add(text.NewCol(12, "NOTES", heading))}
	return append(rows, paragraphs(r.doc.Memo, body())...)
}

// addFooter registers the footer text to repeat at the bottom of each page.
func (r *renderer) addFooter(m core.Maroto) error {
	if strings.TrimSpace(r.doc.Footer) == "" {
		return nil
	}
	p := sized(muted(), sizeSmall)
	p.Align = align.Center
	p.Right = 25 // keep clear of the page number
	p.Left = 25
	rows := append([]core.Row{rule(0, colorRule, 0.2)}, paragraphs(r.doc.Footer, p)...)
	return m.RegisterFooter(rows...)
}
