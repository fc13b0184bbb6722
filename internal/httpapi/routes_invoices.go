package httpapi

import (
	"bytes"
	"context"
	"net/http"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/id"
	"github.com/kassahq/kassa/internal/invoice"
	"github.com/kassahq/kassa/internal/listing"
	"github.com/kassahq/kassa/internal/payment"
)

func (s *Server) invoiceRoutes() {
	s.handle("GET /invoices", s.listInvoices)
	s.handle("POST /invoices", s.createInvoice)
	s.handle("GET /invoices/{id}", s.invoiceAction(s.Invoices.Get))
	s.handle("PUT /invoices/{id}", s.invoiceAction(s.Invoices.Pay))
	s.handle("POST /invoices/{id}/pay", s.invoiceAction(s.Invoices.Pay))
	s.handle("DELETE /invoices/{id}", s.invoiceAction(s.Invoices.Void))
	s.handle("POST /invoices/{id}/finalize", s.invoiceAction(s.Invoices.Finalize))
	s.handle("POST /invoices/{id}/write-off", s.invoiceAction(s.Invoices.WriteOff))
	s.handle("POST /invoices/{id}/mark-uncollectible", s.invoiceAction(s.Invoices.MarkUncollectible))
	s.handle("POST /invoices/{id}/payments", s.recordInvoicePayment)
	s.handle("GET /invoices/{id}/pdf", s.invoicePDF)
	s.handle("GET /invoices/{id}/transactions", s.listInvoiceTransactions)
	s.handle("GET /invoices/{id}/payment-attempts", s.listInvoiceAttempts)
	s.handle("GET /invoices/{id}/transactions/{transactionId}", s.getInvoiceTransaction)
}

// invoiceID reads the {id} path value; invoices have UUID ids (G-19).
func invoiceID(r *http.Request) (string, error) {
	v := r.PathValue("id")
	if !id.ValidUUID(v) {
		return "", apperr.NotFoundf("Invoice %s not found", v)
	}
	return v, nil
}

// noBody refuses a body with properties on an operation that takes none:
// like any other unknown property it is named in a 400. An empty body, null
// or {} is fine.
func (s *Server) noBody(r *http.Request) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	if b := bytes.TrimSpace(body); len(b) == 0 || string(b) == "null" {
		return nil
	}
	return decodeJSON(body, &struct{}{})
}

// invoiceAction serves an operation on one invoice that answers the invoice.
func (s *Server) invoiceAction(fn func(ctx context.Context, sc account.Scope, invoiceID string) (*invoice.Invoice, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		invID, err := invoiceID(r)
		if err != nil {
			return err
		}
		if r.Method != http.MethodGet {
			if err := s.noBody(r); err != nil {
				return err
			}
		}
		inv, err := fn(r.Context(), sc, invID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, inv)
		return nil
	}
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Invoices.List(r.Context(), sc, invoice.ListParams{Page: page, Search: search}))
}

func (s *Server) createInvoice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p invoice.CreateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.Invoices.Create(r.Context(), sc, p))
}

func (s *Server) recordInvoicePayment(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	invID, err := invoiceID(r)
	if err != nil {
		return err
	}
	var p invoice.ExternalPaymentParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Invoices.RecordExternalPayment(r.Context(), sc, invID, p))
}

func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	invID, err := invoiceID(r)
	if err != nil {
		return err
	}
	pdf, inv, err := s.Invoices.PDF(r.Context(), sc, invID)
	if err != nil {
		return err
	}
	name := "invoice-draft-" + inv.ID + ".pdf"
	if inv.Number != nil {
		name = "invoice-" + *inv.Number + ".pdf"
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(pdf)
	return nil
}

func (s *Server) listInvoiceTransactions(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	invID, err := invoiceID(r)
	if err != nil {
		return err
	}
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Invoices.Transactions(r.Context(), sc, invID, payment.TransactionListParams{Page: page, Search: search}))
}

func (s *Server) getInvoiceTransaction(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	invID, err := invoiceID(r)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Invoices.Transaction(r.Context(), sc, invID, r.PathValue("transactionId")))
}

func (s *Server) listInvoiceAttempts(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	invID, err := invoiceID(r)
	if err != nil {
		return err
	}
	page, err := listing.ParseParams(r.URL.Query())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Invoices.Attempts(r.Context(), sc, invID, page))
}
