package server

import (
	"net/http"

	"github.com/freight-portal/freight"
)

type productInput struct {
	Slug          *string `json:"slug"`
	Name          *string `json:"name"`
	Description   *string `json:"description"`
	PrefetchEdges *bool   `json:"prefetch_edges"`
}

func (in productInput) apply(p *freight.Product) {
	if in.Slug != nil {
		p.Slug = *in.Slug
	}
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.PrefetchEdges != nil {
		p.PrefetchEdges = *in.PrefetchEdges
	}
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	ps, next, err := s.store.Products(r.Context(), freight.ProductFilter{Page: pg})
	if err != nil {
		return err
	}
	writeList(w, ps, next)
	return nil
}

func (s *Server) createProduct(w http.ResponseWriter, r *http.Request) error {
	var in productInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var prod freight.Product
	in.apply(&prod)
	if err := prod.Validate(); err != nil {
		return err
	}
	err := s.change(r, "product.create", "product", func(tx freight.Store) (audited, error) {
		if err := tx.CreateProduct(r.Context(), &prod); err != nil {
			return audited{}, err
		}
		return audited{id: prod.ID, details: &prod}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &prod)
	return nil
}

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) error {
	prod, err := productRef(r.Context(), s.store, r.PathValue("product"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, prod)
	return nil
}

func (s *Server) updateProduct(w http.ResponseWriter, r *http.Request) error {
	body, err := s.patchBody(w, r, &productInput{})
	if err != nil {
		return err
	}
	var updated *freight.Product
	err = s.change(r, "product.update", "product", func(tx freight.Store) (audited, error) {
		prod, err := productRef(r.Context(), tx, r.PathValue("product"))
		if err != nil {
			return audited{}, err
		}
		updated, err = tx.UpdateProduct(r.Context(), prod.ID, func(p *freight.Product) error {
			var in productInput
			if err := decodeBytes(body, &in); err != nil {
				return err
			}
			in.apply(p)
			return p.Validate()
		})
		if err != nil {
			return audited{}, err
		}
		// Turned on, the product's recent releases are to be prefetched;
		// turned off, their rows go.
		if updated.PrefetchEdges != prod.PrefetchEdges {
			if err := s.queueEdgePrefetch(r.Context(), tx, freight.EdgePrefetchScope{ProductID: prod.ID}); err != nil {
				return audited{}, err
			}
		}
		return audited{id: prod.ID, details: diff{Before: prod, After: updated}}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusOK, updated)
	return nil
}

func (s *Server) deleteProduct(w http.ResponseWriter, r *http.Request) error {
	err := s.change(r, "product.delete", "product", func(tx freight.Store) (audited, error) {
		prod, err := productRef(r.Context(), tx, r.PathValue("product"))
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteProduct(r.Context(), prod.ID); err != nil {
			return audited{}, err
		}
		return audited{id: prod.ID, details: prod}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
