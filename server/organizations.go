package server

import (
	"net/http"

	"github.com/freight-portal/freight"
)

// organizationInput holds the fields a caller may set on an organization.
type organizationInput struct {
	Slug       *string `json:"slug"`
	Name       *string `json:"name"`
	RequireMFA *bool   `json:"require_mfa"`
	Region     *string `json:"region"`
}

func (in organizationInput) apply(o *freight.Organization) {
	if in.Slug != nil {
		o.Slug = *in.Slug
	}
	if in.Name != nil {
		o.Name = *in.Name
	}
	if in.RequireMFA != nil {
		o.RequireMFA = *in.RequireMFA
	}
	if in.Region != nil {
		o.Region = *in.Region
	}
}

func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r.URL.Query())
	if err != nil {
		return err
	}
	orgs, next, err := s.store.Organizations(r.Context(), freight.OrganizationFilter{Page: pg})
	if err != nil {
		return err
	}
	writeList(w, orgs, next)
	return nil
}

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request) error {
	var in organizationInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	var o freight.Organization
	in.apply(&o)
	if err := o.Validate(); err != nil {
		return err
	}
	err := s.change(r, "organization.create", "organization", func(tx freight.Store) (audited, error) {
		if err := tx.CreateOrganization(r.Context(), &o); err != nil {
			return audited{}, err
		}
		return audited{id: o.ID, orgID: o.ID, details: &o}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &o)
	return nil
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) error {
	o, err := organizationRef(r.Context(), s.store, r.PathValue("org"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request) error {
	body, err := s.patchBody(w, r, &organizationInput{})
	if err != nil {
		return err
	}
	var updated *freight.Organization
	err = s.change(r, "organization.update", "organization", func(tx freight.Store) (audited, error) {
		o, err := organizationRef(r.Context(), tx, r.PathValue("org"))
		if err != nil {
			return audited{}, err
		}
		updated, err = tx.UpdateOrganization(r.Context(), o.ID, func(o *freight.Organization) error {
			var in organizationInput
			if err := decodeBytes(body, &in); err != nil {
				return err
			}
			in.apply(o)
			return o.Validate()
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: o.ID, orgID: o.ID, details: diff{Before: o, After: updated}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, updated)
	return nil
}

func (s *Server) deleteOrganization(w http.ResponseWriter, r *http.Request) error {
	err := s.change(r, "organization.delete", "organization", func(tx freight.Store) (audited, error) {
		o, err := organizationRef(r.Context(), tx, r.PathValue("org"))
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteOrganization(r.Context(), o.ID); err != nil {
			return audited{}, err
		}
		return audited{id: o.ID, orgID: o.ID, details: o}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
