package server

import (
	"net/http"
	"time"

	"github.com/freight-portal/freight"
)

// entitlementInput holds the fields a caller sets on an entitlement. A PATCH
// body is decoded over the current values, so a field set to null clears
// it and an absent field keeps its value. The organization and the product
// are fixed at creation.
type entitlementInput struct {
	OrgID            string                 `json:"org_id"`
	ProductID        string                 `json:"product_id"`
	Channels         []freight.Channel      `json:"channels"`
	VersionRange     string                 `json:"version_range"`
	MaintenanceUntil *time.Time             `json:"maintenance_until"`
	NotBefore        *time.Time             `json:"not_before"`
	NotAfter         *time.Time             `json:"not_after"`
	Platforms        []string               `json:"platforms"`
	Arches           []string               `json:"arches"`
	Limits           freight.DownloadLimits `json:"limits"`
}

func entitlementFields(e *freight.Entitlement) entitlementInput {
	return entitlementInput{
		OrgID: e.OrgID, ProductID: e.ProductID, Channels: e.Channels, VersionRange: e.VersionRange,
		MaintenanceUntil: e.MaintenanceUntil, NotBefore: e.NotBefore, NotAfter: e.NotAfter,
		Platforms: e.Platforms, Arches: e.Arches, Limits: e.Limits,
	}
}

func (in entitlementInput) apply(e *freight.Entitlement) {
	e.Channels, e.VersionRange = in.Channels, in.VersionRange
	e.MaintenanceUntil, e.NotBefore, e.NotAfter = in.MaintenanceUntil, in.NotBefore, in.NotAfter
	e.Platforms, e.Arches, e.Limits = in.Platforms, in.Arches, in.Limits
}

func (s *Server) listEntitlements(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.EntitlementFilter{Page: pg}
	if f.OrgID, err = queryID(q, "org_id", freight.PrefixOrganization); err != nil {
		return err
	}
	if f.ProductID, err = queryID(q, "product_id", freight.PrefixProduct); err != nil {
		return err
	}
	es, next, err := s.store.Entitlements(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, es, next)
	return nil
}

func (s *Server) createEntitlement(w http.ResponseWriter, r *http.Request) error {
	var in entitlementInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if !freight.ValidID(freight.PrefixOrganization, in.OrgID) {
		return freight.FieldError("org_id", "must be an organization id")
	}
	if !freight.ValidID(freight.PrefixProduct, in.ProductID) {
		return freight.FieldError("product_id", "must be a product id")
	}
	e := freight.Entitlement{OrgID: in.OrgID, ProductID: in.ProductID}
	in.apply(&e)
	if err := e.Validate(); err != nil {
		return err
	}
	err := s.change(r, "entitlement.create", "entitlement", func(tx freight.Store) (audited, error) {
		if err := tx.CreateEntitlement(r.Context(), &e); err != nil {
			return audited{}, err
		}
		return audited{id: e.ID, orgID: e.OrgID, details: &e}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, &e)
	return nil
}

func (s *Server) getEntitlement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "entitlement", freight.PrefixEntitlement, "entitlement")
	if err != nil {
		return err
	}
	e, err := s.store.Entitlement(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) updateEntitlement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "entitlement", freight.PrefixEntitlement, "entitlement")
	if err != nil {
		return err
	}
	body, err := s.patchBody(w, r, &entitlementInput{})
	if err != nil {
		return err
	}
	var before, after *freight.Entitlement
	err = s.change(r, "entitlement.update", "entitlement", func(tx freight.Store) (audited, error) {
		var err error
		after, err = tx.UpdateEntitlement(r.Context(), id, func(e *freight.Entitlement) error {
			b := *e
			before = &b
			in := entitlementFields(e)
			if err := decodeBytes(body, &in); err != nil {
				return err
			}
			if in.OrgID != e.OrgID {
				return freight.FieldError("org_id", "cannot change; create an entitlement for the other organization")
			}
			if in.ProductID != e.ProductID {
				return freight.FieldError("product_id", "cannot change; create an entitlement for the other product")
			}
			in.apply(e)
			return e.Validate()
		})
		if err != nil {
			return audited{}, err
		}
		return audited{id: id, orgID: after.OrgID, details: diff{Before: before, After: after}}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, after)
	return nil
}

func (s *Server) deleteEntitlement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "entitlement", freight.PrefixEntitlement, "entitlement")
	if err != nil {
		return err
	}
	err = s.change(r, "entitlement.delete", "entitlement", func(tx freight.Store) (audited, error) {
		e, err := tx.Entitlement(r.Context(), id)
		if err != nil {
			return audited{}, err
		}
		if err := tx.DeleteEntitlement(r.Context(), id); err != nil {
			return audited{}, err
		}
		return audited{id: id, orgID: e.OrgID, details: e}, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
