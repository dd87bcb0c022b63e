package server

import (
	"net/http"

	"github.com/freight-portal/freight"
)

// listKeys lists the grant signing keys (public halves only).
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	if err := need(p, p.CanAdminister(), "see signing keys"); err != nil {
		return err
	}
	keys, err := s.store.SigningKeys(r.Context(), freight.KeyGrants)
	if err != nil {
		return err
	}
	writeList(w, keys, "")
	return nil
}

// rotateKey makes a new grant signing key current. URLs signed with older
// keys keep working until those keys are retired.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	if err := need(p, p.CanAdminister(), "rotate signing keys"); err != nil {
		return err
	}
	k, err := s.keys.Rotate(ctx)
	if err != nil {
		return err
	}
	if err := s.change(r, "key.rotate", "signing_key", func(freight.Store) (audited, error) {
		return audited{id: k.ID, details: k}, nil
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

// retireKey retires a grant signing key: URLs signed with it stop working.
func (s *Server) retireKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	if err := need(p, p.CanAdminister(), "retire signing keys"); err != nil {
		return err
	}
	k, err := s.keys.Retire(ctx, r.PathValue("key"))
	if err != nil {
		return err
	}
	if err := s.change(r, "key.retire", "signing_key", func(freight.Store) (audited, error) {
		return audited{id: k.ID, details: k}, nil
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}
