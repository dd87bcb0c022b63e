package client

import (
	"context"
	"net/url"
	"time"

	"github.com/freight-portal/freight"
)

// LicenseTerms are what a license grants: the terms of a new license, or
// every term of an amendment.
type LicenseTerms struct {
	OrgID       string                   `json:"org_id"`
	ProductID   string                   `json:"product_id"`
	Features    []freight.LicenseFeature `json:"features"`
	Seats       int                      `json:"seats"` // 0: no limit
	HardwareIDs []string                 `json:"hardware_ids"`
	// NotBefore nil starts the license when it is issued; ExpiresAt and
	// MaintenanceUntil nil mean no end.
	NotBefore        *time.Time `json:"not_before"`
	ExpiresAt        *time.Time `json:"expires_at"`
	MaintenanceUntil *time.Time `json:"maintenance_until"`
	// Secret, when set, encrypts the file for the customer who holds it
	// (licensefile.EncodeSecret form). The portal does not keep it: an
	// amendment of an encrypted license needs it again.
	Secret string `json:"secret,omitempty"`
}

// TermsOf returns the terms of an issued license, to amend from.
func TermsOf(l *freight.License) LicenseTerms {
	nb := l.NotBefore
	return LicenseTerms{OrgID: l.OrgID, ProductID: l.ProductID, Features: l.Features, Seats: l.Seats, HardwareIDs: l.HardwareIDs,
		NotBefore: &nb, ExpiresAt: l.ExpiresAt, MaintenanceUntil: l.MaintenanceUntil}
}

// Licenses lists one page of licenses (a member sees its organization's).
func (c *Client) Licenses(ctx context.Context, f freight.LicenseFilter) (List[*freight.License], error) {
	q := url.Values{}
	for k, v := range map[string]string{"org_id": f.OrgID, "product_id": f.ProductID, "state": string(f.State)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var l List[*freight.License]
	return l, c.Do(ctx, "GET", listPath("/api/v1/licenses", q, f.Page), nil, &l)
}

// License returns a license by id (a member, its organization's only).
func (c *Client) License(ctx context.Context, id string) (*freight.License, error) {
	var l freight.License
	return &l, c.Do(ctx, "GET", "/api/v1/licenses/"+url.PathEscape(id), nil, &l)
}

// IssueLicense signs and stores a new license; the organization's admins
// are told by mail.
func (c *Client) IssueLicense(ctx context.Context, t LicenseTerms) (*freight.License, error) {
	var l freight.License
	return &l, c.Do(ctx, "POST", "/api/v1/licenses", t, &l)
}

// AmendLicense issues a new version of an active license with terms t,
// which replace every term of the old one (start from TermsOf); the old
// license is kept, superseded. The organization and the product stay.
func (c *Client) AmendLicense(ctx context.Context, id string, t LicenseTerms) (*freight.License, error) {
	var l freight.License
	return &l, c.Do(ctx, "POST", "/api/v1/licenses/"+url.PathEscape(id)+"/amend", t, &l)
}

// RevokeLicense revokes a license, which then appears in the revocation
// list; reason may be empty.
func (c *Client) RevokeLicense(ctx context.Context, id, reason string) (*freight.License, error) {
	var in any
	if reason != "" {
		in = map[string]string{"reason": reason}
	}
	var l freight.License
	return &l, c.Do(ctx, "POST", "/api/v1/licenses/"+url.PathEscape(id)+"/revoke", in, &l)
}

// LicenseFile returns the signed license file as issued, which
// licensefile.Verify checks offline.
func (c *Client) LicenseFile(ctx context.Context, id string) ([]byte, error) {
	return c.getBody(ctx, "/api/v1/licenses/"+url.PathEscape(id)+"/file")
}

// Revocation is one entry of the license revocation list.
type Revocation struct {
	ID        string    `json:"id"`
	RevokedAt time.Time `json:"revoked_at"`
}

// Revocations is the public list of revoked licenses.
type Revocations struct {
	Revoked     []Revocation `json:"revoked"`
	GeneratedAt time.Time    `json:"generated_at"`
}

// LicenseRevocations answers the public list of revoked license ids, which
// online software checks; it needs no token.
func (c *Client) LicenseRevocations(ctx context.Context) (*Revocations, error) {
	var r Revocations
	return &r, c.Do(ctx, "GET", "/api/v1/license-revocations", nil, &r)
}
