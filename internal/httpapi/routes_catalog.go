package httpapi

import (
	"net/http"

	"github.com/kassahq/kassa/internal/account"
	"github.com/kassahq/kassa/internal/catalog"
	"github.com/kassahq/kassa/internal/taxrate"
)

// catalogRoutes mounts products, prices, tax codes and tax rates.
func (s *Server) catalogRoutes() {
	s.handle("GET /products/taxCodes", s.listTaxCodes)
	s.handle("GET /products", s.listProducts)
	s.handle("POST /products", s.createProduct)
	s.handle("GET /products/{id}", s.getProduct)
	s.handle("PATCH /products/{id}", s.updateProduct)
	s.handle("DELETE /products/{id}", s.deleteProduct)
	s.handle("POST /products/{id}/deactivate", s.setProductActive(false))
	s.handle("POST /products/{id}/activate", s.setProductActive(true))

	s.handle("GET /prices", s.listPrices)
	s.handle("GET /prices/{id}", s.getPrice)
	s.handle("POST /prices/{id}", s.createPrice) // {id} is the product
	s.handle("DELETE /prices/{id}", s.deletePrice)
	s.handle("PATCH /prices/{id}/inactive", s.updateInactivePrice)
	s.handle("PATCH /prices/{id}/active", s.updateActivePrice)
	s.handle("POST /prices/{id}/deactivate", s.setPriceActive(false))
	s.handle("POST /prices/{id}/activate", s.setPriceActive(true))

	s.handle("GET /taxRates", s.listTaxRates)
	s.handle("POST /taxRates", s.createTaxRate)
	s.handle("GET /taxRates/{id}", s.getTaxRate)
	s.handle("PATCH /taxRates/{id}", s.updateTaxRate)
}

func (s *Server) listTaxCodes(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	writeJSON(w, http.StatusOK, catalog.TaxCodes(r.URL.Query().Get("search")))
	return nil
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Catalog.ListProducts(r.Context(), sc, catalog.ProductListParams{Page: page, Search: search}))
}

func (s *Server) createProduct(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p catalog.CreateProductParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.Catalog.CreateProduct(r.Context(), sc, p))
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Catalog.GetProduct(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) updateProduct(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p catalog.UpdateProductParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Catalog.UpdateProduct(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) deleteProduct(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	id := r.PathValue("id")
	if err := s.Catalog.DeleteProduct(r.Context(), sc, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, catalog.Deleted{ID: id, Deleted: true})
	return nil
}

func (s *Server) setProductActive(active bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		out, err := s.Catalog.SetProductActive(r.Context(), sc, r.PathValue("id"), active)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Server) listPrices(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Catalog.ListPrices(r.Context(), sc, catalog.PriceListParams{Page: page, Search: search}))
}

func (s *Server) getPrice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.Catalog.GetPrice(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) createPrice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p catalog.PriceParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.Catalog.CreatePrice(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) deletePrice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	id := r.PathValue("id")
	if err := s.Catalog.DeletePrice(r.Context(), sc, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, catalog.Deleted{ID: id, Deleted: true})
	return nil
}

func (s *Server) updateInactivePrice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p catalog.PriceParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Catalog.UpdateInactivePrice(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) updateActivePrice(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p catalog.ActivePriceParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.Catalog.UpdateActivePrice(r.Context(), sc, r.PathValue("id"), p))
}

func (s *Server) setPriceActive(active bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
		out, err := s.Catalog.SetPriceActive(r.Context(), sc, r.PathValue("id"), active)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Server) listTaxRates(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	page, search, err := listQuery(r, false)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.TaxRates.List(r.Context(), sc, taxrate.ListParams{Page: page, Search: search}))
}

func (s *Server) createTaxRate(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p taxrate.CreateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusCreated)(s.TaxRates.Create(r.Context(), sc, p))
}

func (s *Server) getTaxRate(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	return reply(w, http.StatusOK)(s.TaxRates.Get(r.Context(), sc, r.PathValue("id")))
}

func (s *Server) updateTaxRate(w http.ResponseWriter, r *http.Request, sc account.Scope) error {
	var p taxrate.UpdateParams
	if err := s.decode(r, &p); err != nil {
		return err
	}
	return reply(w, http.StatusOK)(s.TaxRates.Update(r.Context(), sc, r.PathValue("id"), p))
}
