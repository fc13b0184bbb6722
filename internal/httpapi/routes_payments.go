package httpapi

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/apperr"
	"github.com/kassahq/kassa/internal/gateway"
	"github.com/kassahq/kassa/internal/payment"
)

func (s *Server) paymentRoutes() {
	s.handle("GET /payment-methods", s.listPaymentMethods)
	s.handle("GET /payment-methods/{id}", s.redacting(s.getPaymentMethod))
	s.handle("POST /payment-methods/{id}/attach", s.redacting(s.attachPaymentMethod))
	s.handle("POST /payment-methods/{id}/detach", s.redacting(s.detachPaymentMethod))
	s.handle("POST /payment-methods/{id}/default", s.redacting(s.setDefaultPaymentMethod))
	s.handle("GET /transactions", s.listTransactions)
	s.handle("GET /transactions/{id}", s.redacting(s.getTransaction))
	s.handle("POST /transactions/{id}/refund", s.redacting(s.refundTransaction))
	s.handle("GET /balance", s.getBalance)
}

// redacting answers h's errors with the card numbers a path or query may
// hold redacted, in the error body's path and message alike: the sandbox
// takes test card numbers in place of tokens, and a number is never echoed.
// What can be a card number is gateway.RedactCardNumber's rule: a whole
// segment or value, never digits inside an id.
func (s *Server) redacting(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		err := h(w, r, sc)
		if err == nil {
			return nil
		}
		segs := strings.Split(r.URL.Path, "/")
		raw := make([]string, len(segs))
		var pairs []string // segment, redacted
		for i, seg := range segs {
			if red := gateway.RedactCardNumber(seg); red != seg {
				pairs = append(pairs, seg, red)
				segs[i] = red
			}
			// '*' may stay as it is in a path.
			raw[i] = strings.ReplaceAll(url.PathEscape(segs[i]), "%2A", "*")
		}
		query := safeQuery(r.URL.RawQuery)
		if len(pairs) == 0 && query == r.URL.RawQuery {
			return err
		}
		if ae, ok := apperr.As(err); ok && len(pairs) > 0 {
			safe := *ae
			safe.Message = strings.NewReplacer(pairs...).Replace(ae.Message)
			err = &safe
		}
		safe := r.Clone(r.Context())
		safe.URL.Path, safe.URL.RawPath, safe.URL.RawQuery = strings.Join(segs, "/"), strings.Join(raw, "/"), query
		s.writeError(w, safe, err)
		return nil
	}
}

func (s *Server) listPaymentMethods(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return s.writeMethodPage(w, r, sc, "")
}

func (s *Server) listCustomerPaymentMethods(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return s.redacting(func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		return s.writeMethodPage(w, r, sc, r.PathValue("externalKey"))
	})(w, r, sc)
}

func (s *Server) writeMethodPage(w http.ResponseWriter, r *http.Request, sc account.Scope, customerID string) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Payments.ListMethods(r.Context(), sc, payment.MethodListParams{Page: page, Search: search, CustomerID: customerID}))
}

func (s *Server) getPaymentMethod(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Payments.GetMethod(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) getCustomerPaymentMethod(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return s.redacting(func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		return reply(w, http.StatusOK)(s.Payments.GetCustomerMethod(r.Context(), sc, r.PathValue("externalKey"), r.PathValue("id")))
	})(w, r, sc)
}

// attachPaymentMethod answers 200 (the contract allows 200 or 201).
func (s *Server) attachPaymentMethod(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p payment.AttachParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Payments.Attach(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) detachPaymentMethod(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Payments.Detach(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) setDefaultPaymentMethod(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Payments.SetDefault(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Payments.ListTransactions(r.Context(), sc, payment.TransactionListParams{Page: page, Search: search}))
}

func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Payments.GetTransaction(r.Context(), sc, r.PathValue("id")))
}

// refundTransaction takes an optional body: none refunds what remains.
func (s *Server) refundTransaction(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	var p payment.RefundParams
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &p); err != nil {
			return err
		}
	}
	return reply(w, http.StatusOK)(s.Payments.Refund(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) getBalance(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Payments.Balance(r.Context(), sc))
}
