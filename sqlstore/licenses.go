package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/freight-portal/freight"
)

// licenseColumns are the columns of a license but its file, which only
// License and UpdateLicense read: lists leave it out.
const licenseColumns = `id, org_id, product_id, features, seats, hardware_ids, not_before, expires_at, maintenance_until,
	key_id, state, supersedes_id, revoked_at, revoke_reason, created_by, created_at, updated_at`

// Limits of what a license holds.
const (
	maxFeatureName = 64
	maxHardwareID  = 128
	maxHardwareIDs = 1024
)

// storedFeature is a feature as the features column keeps it, in a type of
// its own so that the API's JSON can change without changing what is
// stored.
type storedFeature struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Limit *int64 `json:"limit,omitempty"`
}

// features encodes features as a JSON array; nil becomes [].
func features(fs []freight.LicenseFeature) string {
	out := make([]storedFeature, len(fs))
	for i, f := range fs {
		out[i] = storedFeature(f)
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	return string(b)
}

// featuresCol scans the features column; an empty list reads as nil.
type featuresCol struct{ p *[]freight.LicenseFeature }

func (c featuresCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.p = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlstore: cannot read features from %T", src)
	}
	var stored []storedFeature
	if err := json.Unmarshal(b, &stored); err != nil {
		return fmt.Errorf("sqlstore: cannot read features: %w", err)
	}
	if len(stored) == 0 {
		*c.p = nil
		return nil
	}
	out := make([]freight.LicenseFeature, len(stored))
	for i, f := range stored {
		out[i] = freight.LicenseFeature(f)
	}
	*c.p = out
	return nil
}

// licenseDest returns the scan destinations of licenseColumns.
func licenseDest(l *freight.License) []any {
	return []any{&l.ID, &l.OrgID, &l.ProductID, featuresCol{&l.Features}, &l.Seats, listCol[string]{&l.HardwareIDs},
		timeCol{&l.NotBefore}, nullTimeCol{&l.ExpiresAt}, nullTimeCol{&l.MaintenanceUntil},
		&l.KeyID, (*string)(&l.State), nullStringCol{&l.SupersedesID}, nullTimeCol{&l.RevokedAt}, &l.RevokeReason,
		&l.CreatedBy, timeCol{&l.CreatedAt}, timeCol{&l.UpdatedAt}}
}

func scanLicense(r scanner) (*freight.License, error) {
	var l freight.License
	if err := r.Scan(licenseDest(&l)...); err != nil {
		return nil, err
	}
	return &l, nil
}

func scanLicenseWithFile(r scanner) (*freight.License, error) {
	var l freight.License
	if err := r.Scan(append(licenseDest(&l), bytesCol{&l.File})...); err != nil {
		return nil, err
	}
	return &l, nil
}

func licenseErrs(l *freight.License) *errs {
	e := &errs{
		notFound:   "license not found",
		idConflict: fmt.Sprintf("a license with id %q already exists", l.ID),
		parents: []parent{
			{constraint: "licenses_org_id_fkey", table: "organizations", id: l.OrgID, notFound: "organization not found"},
			{constraint: "licenses_product_id_fkey", table: "products", id: l.ProductID, notFound: "product not found"},
		},
	}
	// An absent reference is NULL, which no foreign key checks, and
	// missingParent must not take it for the missing one.
	if l.SupersedesID != "" {
		e.parents = append(e.parents, parent{constraint: "licenses_supersedes_id_fkey", table: "licenses", id: l.SupersedesID, notFound: "license not found"})
	}
	return e
}

var errLicenseNotFound = &errs{notFound: "license not found"}

// cloneLicense returns a copy of l that shares nothing with it: lists,
// limits, times and the file are copied, so that neither the caller nor
// an updater function changes a license the store holds by changing what
// it was given.
func cloneLicense(l *freight.License) freight.License {
	c := *l
	if l.Features != nil {
		c.Features = make([]freight.LicenseFeature, len(l.Features))
		for i, f := range l.Features {
			if f.Limit != nil {
				f.Limit = new(*f.Limit)
			}
			c.Features[i] = f
		}
	}
	if l.HardwareIDs != nil {
		c.HardwareIDs = append([]string{}, l.HardwareIDs...)
	}
	if l.File != nil {
		c.File = append([]byte{}, l.File...)
	}
	c.ExpiresAt = clonePtr(l.ExpiresAt)
	c.MaintenanceUntil = clonePtr(l.MaintenanceUntil)
	c.RevokedAt = clonePtr(l.RevokedAt)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return new(*p)
}

// normLicense brings what a caller set to what the database gives back:
// times in UTC at microseconds, empty lists and files as nil.
func normLicense(l *freight.License) {
	l.NotBefore = normTime(l.NotBefore)
	l.ExpiresAt = normTimePtr(l.ExpiresAt)
	l.MaintenanceUntil = normTimePtr(l.MaintenanceUntil)
	l.RevokedAt = normTimePtr(l.RevokedAt)
	if len(l.Features) == 0 {
		l.Features = nil
	}
	if len(l.HardwareIDs) == 0 {
		l.HardwareIDs = nil
	}
	if len(l.File) == 0 {
		l.File = nil
	}
}

func checkLicenseState(s freight.LicenseState) error {
	switch s {
	case freight.LicenseActive, freight.LicenseSuperseded, freight.LicenseRevoked:
		return nil
	}
	return freight.FieldError("state", "must be one of %s, %s, %s", freight.LicenseActive, freight.LicenseSuperseded, freight.LicenseRevoked)
}

// licenseTransition allows the life of a license: an active license is
// superseded by an amendment or revoked, a superseded one may still be
// revoked, and a revoked one stays revoked. Staying in a state is not a
// transition.
func licenseTransition(from, to freight.LicenseState) error {
	if from == to {
		return nil
	}
	switch {
	case from == freight.LicenseActive && (to == freight.LicenseSuperseded || to == freight.LicenseRevoked),
		from == freight.LicenseSuperseded && to == freight.LicenseRevoked:
		return nil
	case from == freight.LicenseRevoked:
		return freight.Errorf(freight.ECONFLICT, "the license is revoked and stays revoked; issue a new license")
	}
	return freight.Errorf(freight.ECONFLICT, "a %s license cannot become %s", from, to)
}

// validFeatureName: 1 to 64 bytes of A-Z a-z 0-9 . _ : -
func validFeatureName(s string) bool {
	if len(s) == 0 || len(s) > maxFeatureName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validText: valid UTF-8 without NUL, which PostgreSQL's text cannot hold
// and which JSON would not give back as written.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// printable: valid UTF-8 without control characters.
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError })
}

// validLicense checks what CreateLicense writes, after normLicense and
// with the state defaulted.
func validLicense(l *freight.License) error {
	if l.ID != "" {
		if err := checkID(freight.PrefixLicense, l.ID); err != nil {
			return err
		}
	}
	if !freight.ValidID(freight.PrefixOrganization, l.OrgID) {
		return freight.FieldError("org_id", "must be an organization id")
	}
	if !freight.ValidID(freight.PrefixProduct, l.ProductID) {
		return freight.FieldError("product_id", "must be a product id")
	}
	if err := checkOptionalID("supersedes_id", freight.PrefixLicense, l.SupersedesID); err != nil {
		return err
	}
	if l.ID != "" && l.SupersedesID == l.ID {
		return freight.FieldError("supersedes_id", "must name another license")
	}
	names := make(map[string]bool, len(l.Features))
	for i, f := range l.Features {
		if !validFeatureName(f.Name) {
			return freight.FieldError("features", "feature %d: the name %q must be 1 to %d characters of A-Z a-z 0-9 . _ : -", i+1, f.Name, maxFeatureName)
		}
		if names[f.Name] {
			return freight.FieldError("features", "the feature %q is listed twice", f.Name)
		}
		names[f.Name] = true
		if !validText(f.Value) {
			return freight.FieldError("features", "the value of the feature %q must be UTF-8 text without NUL", f.Name)
		}
		if f.Limit != nil && *f.Limit < 0 {
			return freight.FieldError("features", "the limit of the feature %q must not be negative", f.Name)
		}
	}
	if l.Seats < 0 {
		return freight.FieldError("seats", "must not be negative (0 is no limit)")
	}
	if len(l.HardwareIDs) > maxHardwareIDs {
		return freight.FieldError("hardware_ids", "has %d entries, more than %d", len(l.HardwareIDs), maxHardwareIDs)
	}
	hw := make(map[string]bool, len(l.HardwareIDs))
	for i, h := range l.HardwareIDs {
		if h == "" || len(h) > maxHardwareID || !printable(h) {
			return freight.FieldError("hardware_ids", "entry %d must be 1 to %d bytes of UTF-8 text without control characters", i+1, maxHardwareID)
		}
		if hw[h] {
			return freight.FieldError("hardware_ids", "%q is listed twice", h)
		}
		hw[h] = true
	}
	if l.NotBefore.IsZero() {
		return freight.FieldError("not_before", "is required")
	}
	if l.ExpiresAt != nil && !l.ExpiresAt.After(l.NotBefore) {
		return freight.FieldError("expires_at", "must be after not_before")
	}
	if l.KeyID == "" || len(l.KeyID) > maxKeyID || !printable(l.KeyID) {
		return freight.FieldError("key_id", "must be 1 to %d bytes of UTF-8 text without control characters", maxKeyID)
	}
	if err := checkLicenseState(l.State); err != nil {
		return err
	}
	if err := checkRevocation(l); err != nil {
		return err
	}
	if len(l.File) == 0 {
		return freight.FieldError("file", "is required: the signed license file")
	}
	if l.CreatedBy == "" || !validText(l.CreatedBy) {
		return freight.FieldError("created_by", "is required, UTF-8 text without NUL")
	}
	return nil
}

// checkRevocation: only a revoked license has a revocation time and a
// reason. A revoked license without a time gets it from the caller.
func checkRevocation(l *freight.License) error {
	if l.State != freight.LicenseRevoked {
		if l.RevokedAt != nil {
			return freight.FieldError("revoked_at", "must be empty unless the license is revoked")
		}
		if l.RevokeReason != "" {
			return freight.FieldError("revoke_reason", "must be empty unless the license is revoked")
		}
	}
	if !validText(l.RevokeReason) {
		return freight.FieldError("revoke_reason", "must be UTF-8 text without NUL")
	}
	return nil
}

// CreateLicense stores l, in the state it has (active when none), giving
// it an id if it has none, and sets its created and updated times. A
// revoked license without a revocation time is revoked now. Empty lists
// are stored, and read back, as nil. SupersedesID only records which
// license this one amends: marking that one superseded is the caller's
// UpdateLicense, in the same transaction. ENOTFOUND when the organization,
// the product or the superseded license does not exist.
func (s *store) CreateLicense(ctx context.Context, l *freight.License) error {
	c := cloneLicense(l)
	if c.State == "" {
		c.State = freight.LicenseActive
	}
	normLicense(&c)
	if err := validLicense(&c); err != nil {
		return err
	}
	now := s.db.now()
	if c.ID == "" {
		c.ID = s.db.newID(freight.PrefixLicense, now)
	}
	if c.State == freight.LicenseRevoked && c.RevokedAt == nil {
		c.RevokedAt = &now
	}
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.exec(ctx, `INSERT INTO licenses (`+licenseColumns+`, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.OrgID, c.ProductID, features(c.Features), c.Seats, list(c.HardwareIDs), c.NotBefore, c.ExpiresAt, c.MaintenanceUntil,
		c.KeyID, string(c.State), nullString(c.SupersedesID), c.RevokedAt, c.RevokeReason, c.CreatedBy, c.CreatedAt, c.UpdatedAt, c.File)
	if err != nil {
		return s.fail(ctx, err, licenseErrs(&c))
	}
	*l = cloneLicense(&c)
	return nil
}

// License returns the license with its file.
func (s *store) License(ctx context.Context, id string) (*freight.License, error) {
	return s.license(ctx, id, false)
}

func (s *store) license(ctx context.Context, id string, lock bool) (*freight.License, error) {
	q := `SELECT ` + licenseColumns + `, file FROM licenses WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	l, err := scanLicenseWithFile(s.queryRow(ctx, q, id))
	if err != nil {
		return nil, s.fail(ctx, err, errLicenseNotFound)
	}
	return l, nil
}

// Licenses lists licenses newest first by their created time, then id,
// as AuditEvents lists events; the cursor holds the time and the id of the
// last license returned. The licenses come without their files (File is
// nil): read one with License. A filter that names an organization or a
// product that does not exist is ENOTFOUND, as for other lists; an unknown
// state is EINVALID.
func (s *store) Licenses(ctx context.Context, f freight.LicenseFilter) ([]*freight.License, string, error) {
	var c conds
	if f.After != "" {
		at, id, err := parseTimeIDCursor(freight.PrefixLicense, f.After)
		if err != nil {
			return nil, "", err
		}
		c.add(`(created_at < ? OR (created_at = ? AND id < ?))`, at, at, id)
	}
	if f.OrgID != "" {
		c.add(`org_id = ?`, f.OrgID)
	}
	if f.ProductID != "" {
		c.add(`product_id = ?`, f.ProductID)
	}
	if f.State != "" {
		if err := checkLicenseState(f.State); err != nil {
			return nil, "", err
		}
		c.add(`state = ?`, string(f.State))
	}
	return listPage(ctx, s, `SELECT `+licenseColumns+` FROM licenses`+c.String()+` ORDER BY created_at DESC, id DESC`, c.args, f.Size(),
		named(orgNamed(f.OrgID), productNamed(f.ProductID)),
		scanLicense, func(l *freight.License) string { return l.CreatedAt.UTC().Format(timeLayout) + "/" + l.ID })
}

// UpdateLicense locks the license, passes a copy of it (file included) to
// fn and writes the state fields fn sets: State, RevokedAt, RevokeReason.
// What was issued cannot change: a change fn makes to any other field,
// the id, the times and the file included, is EINVALID naming the field.
// Lists compare nil and empty alike, times by instant. The state moves
// from active to superseded or revoked, and from superseded to revoked
// (ECONFLICT otherwise); a revoked license does not change at all
// (ECONFLICT), not even its revocation time or reason. Only a revoked
// license has a revocation time and reason (EINVALID otherwise); revoking
// without a time revokes now. When fn changes nothing, nothing is written
// and the license comes back as it was, UpdatedAt included.
func (s *store) UpdateLicense(ctx context.Context, id string, fn func(*freight.License) error) (*freight.License, error) {
	var out *freight.License
	err := s.inTx(ctx, func(s *store) error {
		old, err := s.license(ctx, id, true)
		if err != nil {
			return err
		}
		c := cloneLicense(old)
		if err := fn(&c); err != nil {
			return err
		}
		normLicense(&c)
		if err := licenseUnchanged(old, &c); err != nil {
			return err
		}
		if err := checkLicenseState(c.State); err != nil {
			return err
		}
		same := c.State == old.State && timePtrEqual(c.RevokedAt, old.RevokedAt) && c.RevokeReason == old.RevokeReason
		if old.State == freight.LicenseRevoked && !same {
			return freight.Errorf(freight.ECONFLICT, "the license is revoked and stays revoked, with its revocation time and reason; issue a new license")
		}
		if err := licenseTransition(old.State, c.State); err != nil {
			return err
		}
		if err := checkRevocation(&c); err != nil {
			return err
		}
		if same {
			l := cloneLicense(old)
			out = &l
			return nil
		}
		now := s.db.now()
		if c.State == freight.LicenseRevoked && c.RevokedAt == nil {
			c.RevokedAt = &now
		}
		l := cloneLicense(old)
		l.State, l.RevokedAt, l.RevokeReason, l.UpdatedAt = c.State, c.RevokedAt, c.RevokeReason, now
		_, err = s.exec(ctx, `UPDATE licenses SET state = ?, revoked_at = ?, revoke_reason = ?, updated_at = ? WHERE id = ?`,
			string(l.State), l.RevokedAt, l.RevokeReason, l.UpdatedAt, l.ID)
		if err != nil {
			return s.fail(ctx, err, errLicenseNotFound)
		}
		out = &l
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// licenseUnchanged refuses, naming the field, a change to what was issued:
// everything but State, RevokedAt and RevokeReason. c has been through
// normLicense; old is as read.
func licenseUnchanged(old, c *freight.License) error {
	for _, f := range []struct {
		field string
		same  bool
	}{
		{"id", c.ID == old.ID},
		{"org_id", c.OrgID == old.OrgID},
		{"product_id", c.ProductID == old.ProductID},
		{"features", featuresEqual(c.Features, old.Features)},
		{"seats", c.Seats == old.Seats},
		{"hardware_ids", slices.Equal(c.HardwareIDs, old.HardwareIDs)},
		{"not_before", c.NotBefore.Equal(old.NotBefore)},
		{"expires_at", timePtrEqual(c.ExpiresAt, old.ExpiresAt)},
		{"maintenance_until", timePtrEqual(c.MaintenanceUntil, old.MaintenanceUntil)},
		{"key_id", c.KeyID == old.KeyID},
		{"supersedes_id", c.SupersedesID == old.SupersedesID},
		{"created_by", c.CreatedBy == old.CreatedBy},
		{"created_at", c.CreatedAt.Equal(old.CreatedAt)},
		{"updated_at", c.UpdatedAt.Equal(old.UpdatedAt)},
		{"file", bytes.Equal(c.File, old.File)},
	} {
		if !f.same {
			return freight.FieldError(f.field, "cannot change: an issued license is immutable but for its state; issue a new license that supersedes it")
		}
	}
	return nil
}

func featuresEqual(a, b []freight.LicenseFeature) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value || !int64PtrEqual(a[i].Limit, b[i].Limit) {
			return false
		}
	}
	return true
}

func int64PtrEqual(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func timePtrEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
