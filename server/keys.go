package server

import (
	"net/http"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/signing"
)

// listKeys lists the grant signing keys (public halves only).
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	_, purpose, err := s.keyringOf(r)
	if err != nil {
		return err
	}
	keys, err := s.store.SigningKeys(r.Context(), purpose)
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
	kr, _, err := s.keyringOf(r)
	if err != nil {
		return err
	}
	k, err := kr.Rotate(ctx)
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
	kr, _, err := s.keyringOf(r)
	if err != nil {
		return err
	}
	k, err := kr.Retire(ctx, r.PathValue("key"))
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

// keyringOf picks the keyring named by ?purpose=: grants (the default) or
// licenses.
func (s *Server) keyringOf(r *http.Request) (*signing.Keyring, string, error) {
	switch r.URL.Query().Get("purpose") {
	case "", freight.KeyGrants:
		return s.keys, freight.KeyGrants, nil
	case freight.KeyLicenses:
		return s.licenseKeys, freight.KeyLicenses, nil
	}
	return nil, "", freight.FieldError("purpose", "must be grants or licenses")
}
