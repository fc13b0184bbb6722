package httpapi

import (
	"net/http"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/customer"
)

func (s *Server) routes() {
	s.paymentRoutes()
	s.catalogRoutes()
	s.invoiceRoutes()
	s.webhookRoutes()
	s.subscriptionRoutes()
	s.handle("POST /customers", s.createCustomer)
	s.handle("GET /customers", s.listCustomers)
	s.handle("GET /customers/search", s.searchCustomers)
	s.handle("GET /customers/{externalKey}", s.getCustomer)
	s.handle("PATCH /customers/{externalKey}", s.updateCustomer)
	s.handle("DELETE /customers/{externalKey}", s.deleteCustomer)
	s.handle("GET /customers/{externalKey}/payment-methods", s.listCustomerPaymentMethods)
	s.handle("GET /customers/{externalKey}/payment-methods/{id}", s.getCustomerPaymentMethod)

	s.handle("POST /test-clock/advance", s.advanceTestClock)
}

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p customer.CreateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.Customers.Create(r.Context(), sc, p))
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, true)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	desc, field, err := customer.ParseSort(q.Get("order"), q.Get("sortingField"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Customers.List(r.Context(), sc, customer.ListParams{Page: page, Search: search, Descending: desc, SortingField: field}))
}

func (s *Server) searchCustomers(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Customers.Search(r.Context(), sc, r.URL.Query().Get("search")))
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Customers.Get(r.Context(), sc, r.PathValue("externalKey")))
}

func (s *Server) updateCustomer(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p customer.UpdateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	if _, err := s.Customers.Update(r.Context(), sc, r.PathValue("externalKey"), p); err != nil {
		return err
	}
	// The contract answers with the number of records updated.
	writeJSON(w, http.StatusOK, 1)
	return nil
}

func (s *Server) deleteCustomer(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	if err := s.noBody(r); err != nil {
		return err
	}
	if err := s.Customers.Delete(r.Context(), sc, r.PathValue("externalKey")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, 1)
	return nil
}

// advanceTestClock moves a test account's clock and runs the work that fell
// due, so the caller sees its effects when the call returns.
func (s *Server) advanceTestClock(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p account.ClockAdvance
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.TestClock.Advance(r.Context(), sc, p))
}
