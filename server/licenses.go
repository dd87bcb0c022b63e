package server

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"slices"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/licensefile"
)

// licenseInput holds what vendor staff set on a license. An amendment is
// decoded over the current license's values, so it names only what
// changes; null clears an optional field.
type licenseInput struct {
	OrgID            string                   `json:"org_id"`
	ProductID        string                   `json:"product_id"`
	Features         []freight.LicenseFeature `json:"features"`
	Seats            int                      `json:"seats"`
	HardwareIDs      []string                 `json:"hardware_ids"`
	NotBefore        *time.Time               `json:"not_before"`
	ExpiresAt        *time.Time               `json:"expires_at"`
	MaintenanceUntil *time.Time               `json:"maintenance_until"`
	// Secret, when set, encrypts the file for a customer who holds it
	// (licensefile.EncodeSecret form). It is used once and never stored;
	// an amendment of an encrypted license needs it again.
	Secret string `json:"secret"`
}

func licenseFields(l *freight.License) licenseInput {
	nb := l.NotBefore
	return licenseInput{OrgID: l.OrgID, ProductID: l.ProductID, Features: l.Features, Seats: l.Seats, HardwareIDs: l.HardwareIDs,
		NotBefore: &nb, ExpiresAt: l.ExpiresAt, MaintenanceUntil: l.MaintenanceUntil}
}

// issueLicense signs a license for in with key and stores it; supersedes
// names the license it amends, if any. It runs inside tx. The key is taken
// before the transaction: the keyring writes through the outer store when
// it creates the first key, which inside a SQLite transaction would wait
// for the transaction's own lock.
func (s *Server) issueLicense(ctx context.Context, tx freight.Store, key *freight.SigningKey, in licenseInput, supersedes string) (*freight.License, error) {
	org, err := tx.Organization(ctx, in.OrgID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil, freight.FieldError("org_id", "no such organization")
	} else if err != nil {
		return nil, err
	}
	prod, err := tx.Product(ctx, in.ProductID)
	if freight.ErrorCode(err) == freight.ENOTFOUND {
		return nil, freight.FieldError("product_id", "no such product")
	} else if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	l := &freight.License{
		ID: freight.NewID(freight.PrefixLicense, now), OrgID: org.ID, ProductID: prod.ID, Features: in.Features, Seats: in.Seats,
		HardwareIDs: in.HardwareIDs, NotBefore: now, ExpiresAt: in.ExpiresAt, MaintenanceUntil: in.MaintenanceUntil,
		State: freight.LicenseActive, SupersedesID: supersedes, CreatedBy: principal(ctx).Actor(),
	}
	if in.NotBefore != nil {
		l.NotBefore = *in.NotBefore
	}
	lf := &licensefile.License{
		ID: l.ID, Product: prod.Slug, Organization: licensefile.Organization{ID: org.ID, Name: org.Name},
		Seats: l.Seats, HardwareIDs: l.HardwareIDs, IssuedAt: now, NotBefore: l.NotBefore,
		ExpiresAt: l.ExpiresAt, MaintenanceUntil: l.MaintenanceUntil,
	}
	for _, f := range l.Features {
		lf.Features = append(lf.Features, licensefile.Feature{Name: f.Name, Value: f.Value, Limit: f.Limit})
	}
	var file []byte
	if in.Secret != "" {
		secret, serr := licensefile.ParseSecret(in.Secret)
		if serr != nil {
			return nil, freight.FieldError("secret", "must be a customer secret as licensefile.EncodeSecret writes it (43 base64url characters)")
		}
		file, err = licensefile.SignEncrypted(lf, key.ID, ed25519.PrivateKey(key.Private), secret)
	} else {
		file, err = licensefile.Sign(lf, key.ID, ed25519.PrivateKey(key.Private))
	}
	if err != nil {
		// The file format's rules are the stricter ones; say which field.
		return nil, freight.Errorf(freight.EINVALID, "the license cannot be issued: %v", err)
	}
	l.KeyID, l.File = key.ID, file
	if err := tx.CreateLicense(ctx, l); err != nil {
		return nil, err
	}
	return l, nil
}

// licenseIssued tells of a license just issued, on tx: the license.issued
// event to the webhooks that may see it, and a mail to the organization's
// admins.
func (s *Server) licenseIssued(r *http.Request, tx freight.Store, l *freight.License) error {
	if _, err := s.emitToOrg(r.Context(), tx, freight.EventLicenseIssued, licenseEvent{OrgID: l.OrgID, License: l}, l.OrgID); err != nil {
		return err
	}
	return s.queueLicenseMail(r, tx, l)
}

func (s *Server) createLicense(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in licenseInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	key, err := s.licenseKeys.Current(ctx)
	if err != nil {
		return err
	}
	var l *freight.License
	err = s.change(r, "license.issue", "license", func(tx freight.Store) (audited, error) {
		var err error
		if l, err = s.issueLicense(ctx, tx, key, in, ""); err != nil {
			return audited{}, err
		}
		if err := s.licenseIssued(r, tx, l); err != nil {
			return audited{}, err
		}
		return audited{id: l.ID, orgID: l.OrgID, details: l}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusCreated, l)
	return nil
}

// amendLicense issues a new version of an active license; the old one is
// kept, superseded.
func (s *Server) amendLicense(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "license", freight.PrefixLicense, "license")
	if err != nil {
		return err
	}
	body, err := s.patchBody(w, r, &licenseInput{})
	if err != nil {
		return err
	}
	key, err := s.licenseKeys.Current(ctx)
	if err != nil {
		return err
	}
	var l *freight.License
	err = s.change(r, "license.amend", "license", func(tx freight.Store) (audited, error) {
		old, err := tx.UpdateLicense(ctx, id, func(l *freight.License) error {
			if l.State != freight.LicenseActive {
				return freight.Errorf(freight.ECONFLICT, "license %s is %s; only the active license can be amended", l.ID, l.State)
			}
			l.State = freight.LicenseSuperseded
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		in := licenseFields(old)
		if err := decodeBytes(body, &in); err != nil {
			return audited{}, err
		}
		if in.OrgID != old.OrgID || in.ProductID != old.ProductID {
			return audited{}, freight.Errorf(freight.EINVALID, "an amendment keeps the organization and the product; issue a new license instead")
		}
		if l, err = s.issueLicense(ctx, tx, key, in, old.ID); err != nil {
			return audited{}, err
		}
		if err := s.licenseIssued(r, tx, l); err != nil {
			return audited{}, err
		}
		return audited{id: l.ID, orgID: l.OrgID, details: diff{Before: old, After: l}}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusCreated, l)
	return nil
}

func (s *Server) revokeLicense(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "license", freight.PrefixLicense, "license")
	if err != nil {
		return err
	}
	var in yankInput
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		if err := decodeBytes(body, &in); err != nil {
			return err
		}
	}
	var l *freight.License
	err = s.change(r, "license.revoke", "license", func(tx freight.Store) (audited, error) {
		var err error
		l, err = tx.UpdateLicense(ctx, id, func(l *freight.License) error {
			if l.State == freight.LicenseRevoked {
				return freight.Errorf(freight.ECONFLICT, "license %s is revoked already", l.ID)
			}
			now := s.now()
			l.State, l.RevokedAt, l.RevokeReason = freight.LicenseRevoked, &now, in.Reason
			return nil
		})
		if err != nil {
			return audited{}, err
		}
		if _, err := s.emitToOrg(ctx, tx, freight.EventLicenseRevoked, licenseEvent{OrgID: l.OrgID, License: l}, l.OrgID); err != nil {
			return audited{}, err
		}
		return audited{id: l.ID, orgID: l.OrgID, details: l}, nil
	})
	if err != nil {
		return err
	}
	s.jobs.Notify()
	writeJSON(w, http.StatusOK, l)
	return nil
}

// licenseFor loads a license the caller may see: vendor staff see all,
// members of an organization their own; anything else is not found.
func (s *Server) licenseFor(r *http.Request) (*freight.License, error) {
	p := principal(r.Context())
	id, err := pathID(r, "license", freight.PrefixLicense, "license")
	if err != nil {
		return nil, err
	}
	l, err := s.store.License(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !p.CanRead() && (p.OrgID == "" || p.OrgID != l.OrgID) {
		return nil, freight.Errorf(freight.ENOTFOUND, "license not found")
	}
	return l, nil
}

func (s *Server) getLicense(w http.ResponseWriter, r *http.Request) error {
	l, err := s.licenseFor(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// licenseFile answers the signed license file, as issued, and records who
// took it.
func (s *Server) licenseFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	l, err := s.licenseFor(r)
	if err != nil {
		return err
	}
	name := "license.lic"
	if prod, err := s.store.Product(ctx, l.ProductID); err == nil {
		if org, err := s.store.Organization(ctx, l.OrgID); err == nil {
			name = prod.Slug + "-" + org.Slug + ".lic"
		}
	}
	if err := s.change(r, "license.download", "license", func(freight.Store) (audited, error) {
		return audited{id: l.ID, orgID: l.OrgID}, nil
	}); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(l.File)
	return nil
}

// listLicenses lists licenses: all for vendor staff, their organization's
// for its members.
func (s *Server) listLicenses(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principal(ctx)
	q := r.URL.Query()
	pg, err := page(q)
	if err != nil {
		return err
	}
	f := freight.LicenseFilter{Page: pg, OrgID: q.Get("org_id"), ProductID: q.Get("product_id"), State: freight.LicenseState(q.Get("state"))}
	if !p.CanRead() {
		if p.OrgID == "" || f.OrgID != "" && f.OrgID != p.OrgID {
			return freight.Errorf(freight.EFORBIDDEN, "you may see your own organization's licenses only")
		}
		f.OrgID = p.OrgID
	}
	ls, next, err := s.store.Licenses(ctx, f)
	if err != nil {
		return err
	}
	writeList(w, ls, next)
	return nil
}

// revocation is one entry of the revocation list.
type revocation struct {
	ID        string    `json:"id"`
	RevokedAt time.Time `json:"revoked_at"`
}

// licenseRevocations is the public list of revoked license ids, which
// online software checks; it names no organization.
func (s *Server) licenseRevocations(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	list := []revocation{}
	f := freight.LicenseFilter{State: freight.LicenseRevoked, Page: freight.Page{Limit: freight.MaxPageSize}}
	for {
		ls, next, err := s.store.Licenses(ctx, f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, l := range ls {
			if l.RevokedAt != nil {
				list = append(list, revocation{ID: l.ID, RevokedAt: *l.RevokedAt})
			}
		}
		if next == "" {
			break
		}
		f.After = next
	}
	slices.SortFunc(list, func(a, b revocation) int { return a.RevokedAt.Compare(b.RevokedAt) })
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{"revoked": list, "generated_at": s.now().UTC()})
}

// licensePublicKeys publishes the keys that verify license files.
func (s *Server) licensePublicKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.licenseKeys.PublicKeys(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}
