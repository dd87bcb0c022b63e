package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var licenseTests = []subtest{
	{"CreateGet", testLicenseCreateGet},
	{"EmptyAndAbsentFields", testLicenseEmptyAndAbsentFields},
	{"NoSharing", testLicenseNoSharing},
	{"ChosenID", testLicenseChosenID},
	{"DuplicateID", testLicenseDuplicateID},
	{"CreateInState", testLicenseCreateInState},
	{"Invalid", testLicenseInvalid},
	{"Limits", testLicenseLimits},
	{"MissingParents", testLicenseMissingParents},
	{"NotFound", testLicenseNotFound},
	{"ListWithoutFile", testLicenseListWithoutFile},
	{"Pagination", testLicensePagination},
	{"NewestByCreatedTime", testLicenseNewestByCreatedTime},
	{"Filters", testLicenseFilters},
	{"FilterNamesMissingObject", testLicenseFilterMissing},
	{"Revoke", testLicenseRevoke},
	{"RevokeNow", testLicenseRevokeNow},
	{"Supersede", testLicenseSupersede},
	{"UpdateImmutable", testLicenseUpdateImmutable},
	{"UpdateSameValues", testLicenseUpdateSameValues},
	{"UpdateFnError", testLicenseUpdateFnError},
	{"StateTransitions", testLicenseStateTransitions},
	{"RevocationFields", testLicenseRevocationFields},
	{"DeleteOrganizationWithLicenses", testLicenseDeleteOrganization},
	{"DeleteProductWithLicenses", testLicenseDeleteProduct},
	{"ConcurrentSupersede", testLicenseConcurrentSupersede},
}

// testLicenseFile stands for a signed license file: bytes of every value,
// so that a store that keeps it as text would show.
var testLicenseFile = append([]byte("-----BEGIN FREIGHT LICENSE-----\n\x00\xff\xfe\r\n"), bytes.Repeat([]byte{0x80, 0x00, 0x7f}, 100)...)

// newLicense returns a minimal valid license of the organization for the
// product: one feature, five seats, no expiry.
func newLicense(orgID, productID string) *freight.License {
	return &freight.License{
		OrgID: orgID, ProductID: productID,
		Features:  []freight.LicenseFeature{{Name: "core"}},
		Seats:     5,
		NotBefore: ts(0),
		KeyID:     "licenses-2025",
		CreatedBy: "usr_test",
		File:      bytes.Clone(testLicenseFile),
	}
}

// fullLicense returns a license with every field set, times in other zones
// and below the microsecond.
func fullLicense(orgID, productID, supersedesID string) *freight.License {
	ist := time.FixedZone("IST", 5*3600+1800)
	return &freight.License{
		OrgID: orgID, ProductID: productID,
		Features: []freight.LicenseFeature{
			{Name: "export", Value: "pdf,svg", Limit: ptr(int64(0))},
			{Name: "core"},
			{Name: "api:calls.per-day_v2", Limit: ptr(int64(1) << 40)},
			{Name: "edition", Value: "Pro — ünïcode <&> \"quoted\" \u2028"},
		},
		Seats:            250,
		HardwareIDs:      []string{"dongle-B17", "mac:00:1a:2b:3c:4d:5e", "Dongle-Ä1", "a b"},
		NotBefore:        ts(-24 * time.Hour).Add(789 * time.Nanosecond).In(ist),
		ExpiresAt:        ptr(ts(365 * 24 * time.Hour).In(ist)),
		MaintenanceUntil: ptr(ts(180 * 24 * time.Hour).Add(1)),
		KeyID:            "licenses-2025",
		SupersedesID:     supersedesID,
		CreatedBy:        "usr_01hzzzzzzzzzzzzzzzzzzzzzzz",
		File:             bytes.Clone(testLicenseFile),
	}
}

// MustCreateLicense creates l or fails the test.
func MustCreateLicense(t testing.TB, s freight.Store, l *freight.License) *freight.License {
	t.Helper()
	if err := s.CreateLicense(t.Context(), l); err != nil {
		t.Fatalf("CreateLicense(%s, %s): %v", l.OrgID, l.ProductID, err)
	}
	return l
}

func licenseList(t testing.TB, s freight.Store, f freight.LicenseFilter) listFunc[*freight.License] {
	return func(p freight.Page) ([]*freight.License, string, error) {
		f.Page = p
		return s.Licenses(t.Context(), f)
	}
}

func licenseID(l *freight.License) string { return l.ID }

// storedLicense reads a license or fails the test.
func storedLicense(t testing.TB, s freight.Store, id string) *freight.License {
	t.Helper()
	l, err := s.License(t.Context(), id)
	if err != nil {
		t.Fatalf("License(%s): %v", id, err)
	}
	return l
}

// setState moves a license to a state through UpdateLicense or fails the
// test; a revoked license gets a time and a reason.
func setState(t testing.TB, s freight.Store, id string, st freight.LicenseState) *freight.License {
	t.Helper()
	l, err := s.UpdateLicense(t.Context(), id, func(c *freight.License) error {
		c.State = st
		if st == freight.LicenseRevoked {
			c.RevokedAt, c.RevokeReason = ptr(ts(time.Hour)), "chargeback"
		}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateLicense(%s → %s): %v", id, st, err)
	}
	return l
}

// Every field comes back as written: lists in their order, the limits of
// features set or not, times in UTC at microseconds, the file byte for
// byte. The store sets the id, the state (active) and the times.
func testLicenseCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	first := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	l := fullLicense(o.ID, p.ID, first.ID)
	if err := s.CreateLicense(ctx, l); err != nil {
		t.Fatalf("CreateLicense: %v", err)
	}
	checkCreated(t, "CreateLicense", freight.PrefixLicense, l.ID, l.CreatedAt, &l.UpdatedAt)
	if l.State != freight.LicenseActive {
		t.Errorf("State after create = %q, want %q", l.State, freight.LicenseActive)
	}
	if !l.NotBefore.Equal(ts(-24*time.Hour)) || !l.MaintenanceUntil.Equal(ts(180*24*time.Hour)) {
		t.Errorf("NotBefore, MaintenanceUntil after create = %v, %v; want %v, %v (microseconds)", l.NotBefore, *l.MaintenanceUntil, ts(-24*time.Hour), ts(180*24*time.Hour))
	}
	checkUTCMicro(t, l)
	got := storedLicense(t, s, l.ID)
	checkSame(t, "License(id)", got, l)
	checkUTCMicro(t, got)
	want := freight.License{
		ID: l.ID, OrgID: o.ID, ProductID: p.ID,
		Features: []freight.LicenseFeature{
			{Name: "export", Value: "pdf,svg", Limit: ptr(int64(0))},
			{Name: "core"},
			{Name: "api:calls.per-day_v2", Limit: ptr(int64(1) << 40)},
			{Name: "edition", Value: "Pro — ünïcode <&> \"quoted\" \u2028"},
		},
		Seats:       250,
		HardwareIDs: []string{"dongle-B17", "mac:00:1a:2b:3c:4d:5e", "Dongle-Ä1", "a b"},
		NotBefore:   ts(-24 * time.Hour), ExpiresAt: ptr(ts(365 * 24 * time.Hour)), MaintenanceUntil: ptr(ts(180 * 24 * time.Hour)),
		KeyID: "licenses-2025", State: freight.LicenseActive, SupersedesID: first.ID,
		CreatedBy: "usr_01hzzzzzzzzzzzzzzzzzzzzzzz", CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
		File: testLicenseFile,
	}
	checkSame(t, "License(id) field by field", got, &want)
	// checkSame follows pointers: say plainly which limits are set.
	for i, wantSet := range []bool{true, false, true, false} {
		if set := got.Features[i].Limit != nil; set != wantSet {
			t.Errorf("Features[%d].Limit set = %v, want %v", i, set, wantSet)
		}
	}
	if got.RevokedAt != nil || got.RevokeReason != "" {
		t.Errorf("RevokedAt, RevokeReason = %v, %q; want nil, empty", got.RevokedAt, got.RevokeReason)
	}
	if first.ID == l.ID {
		t.Errorf("two licenses got the same id %q", l.ID)
	}
}

// Absent times are nil and set ones set; empty lists come back as nil,
// from Create and from every read, whether they were given nil or empty;
// a first issue supersedes nothing.
func testLicenseEmptyAndAbsentFields(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	for name, mod := range map[string]func(*freight.License){
		"nil lists":   func(l *freight.License) { l.Features, l.HardwareIDs = nil, nil },
		"empty lists": func(l *freight.License) { l.Features, l.HardwareIDs = []freight.LicenseFeature{}, []string{} },
	} {
		l := newLicense(o.ID, p.ID)
		l.Seats = 0
		mod(l)
		MustCreateLicense(t, s, l)
		check := func(what string, got *freight.License) {
			t.Helper()
			if got.Features != nil || got.HardwareIDs != nil {
				t.Errorf("%s with %s: Features, HardwareIDs = %#v, %#v; want nil, nil", what, name, got.Features, got.HardwareIDs)
			}
			if got.ExpiresAt != nil || got.MaintenanceUntil != nil || got.RevokedAt != nil {
				t.Errorf("%s with %s: ExpiresAt, MaintenanceUntil, RevokedAt = %v, %v, %v; want nil", what, name, got.ExpiresAt, got.MaintenanceUntil, got.RevokedAt)
			}
			if got.SupersedesID != "" || got.RevokeReason != "" || got.Seats != 0 {
				t.Errorf("%s with %s: SupersedesID, RevokeReason, Seats = %q, %q, %d; want empty", what, name, got.SupersedesID, got.RevokeReason, got.Seats)
			}
		}
		check("CreateLicense", l)
		got := storedLicense(t, s, l.ID)
		checkSame(t, "License with "+name, got, l)
		check("License", got)
		for _, listed := range listAll(t, licenseList(t, s, freight.LicenseFilter{})) {
			if listed.ID == l.ID {
				check("Licenses", listed)
			}
		}
		upd, err := s.UpdateLicense(ctx, l.ID, func(c *freight.License) error { c.State = freight.LicenseSuperseded; return nil })
		noErr(t, "UpdateLicense", err)
		check("UpdateLicense", upd)
	}

	// One optional time at a time.
	for name, mod := range map[string]func(*freight.License){
		"ExpiresAt only":        func(l *freight.License) { l.ExpiresAt = ptr(ts(time.Hour)) },
		"MaintenanceUntil only": func(l *freight.License) { l.MaintenanceUntil = ptr(ts(time.Hour)) },
	} {
		l := newLicense(o.ID, p.ID)
		mod(l)
		MustCreateLicense(t, s, l)
		got := storedLicense(t, s, l.ID)
		checkSame(t, "License with "+name, got, l)
		if (got.ExpiresAt != nil) != (l.ExpiresAt != nil) || (got.MaintenanceUntil != nil) != (l.MaintenanceUntil != nil) {
			t.Errorf("License with %s: ExpiresAt, MaintenanceUntil = %v, %v; want %v, %v", name, got.ExpiresAt, got.MaintenanceUntil, l.ExpiresAt, l.MaintenanceUntil)
		}
	}
}

// The store keeps its own copy: changing the caller's license after
// Create, or what a read returned, changes nothing stored.
func testLicenseNoSharing(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, fullLicense(o.ID, p.ID, ""))
	want := storedLicense(t, s, l.ID)
	mutate := func(c *freight.License) {
		c.File[0] ^= 0xff
		c.Features[0].Name = "changed"
		*c.Features[0].Limit = 99
		c.HardwareIDs[0] = "changed"
		*c.ExpiresAt = c.ExpiresAt.Add(time.Hour)
	}
	mutate(l)
	mutate(storedLicense(t, s, l.ID))
	checkSame(t, "License after changing the caller's copies", storedLicense(t, s, l.ID), want)
}

func testLicenseChosenID(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	id := freight.NewID(freight.PrefixLicense, time.Now())
	l := newLicense(o.ID, p.ID)
	l.ID = id
	MustCreateLicense(t, s, l)
	if l.ID != id {
		t.Errorf("ID after create = %q, want the id given %q", l.ID, id)
	}
	checkSame(t, "License(chosen id)", storedLicense(t, s, id), l)
}

func testLicenseDuplicateID(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	first := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	dup := newLicense(o.ID, p.ID)
	dup.ID, dup.Seats = first.ID, 1
	wantCode(t, "CreateLicense with a taken id", s.CreateLicense(t.Context(), dup), freight.ECONFLICT)
	checkSame(t, "the first license after the conflict", storedLicense(t, s, first.ID), first)
}

// A license may be recorded in any state (an import of licenses issued
// elsewhere); a revoked one without a time is revoked now.
func testLicenseCreateInState(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	sup := newLicense(o.ID, p.ID)
	sup.State = freight.LicenseSuperseded
	MustCreateLicense(t, s, sup)
	checkSame(t, "License(created superseded)", storedLicense(t, s, sup.ID), sup)
	if sup.State != freight.LicenseSuperseded {
		t.Errorf("State = %q, want %q", sup.State, freight.LicenseSuperseded)
	}

	rev := newLicense(o.ID, p.ID)
	rev.State, rev.RevokedAt, rev.RevokeReason = freight.LicenseRevoked, ptr(ts(time.Hour).Add(1)), "fraud"
	MustCreateLicense(t, s, rev)
	got := storedLicense(t, s, rev.ID)
	checkSame(t, "License(created revoked)", got, rev)
	if got.State != freight.LicenseRevoked || got.RevokedAt == nil || !got.RevokedAt.Equal(ts(time.Hour)) || got.RevokeReason != "fraud" {
		t.Errorf("State, RevokedAt, RevokeReason = %q, %v, %q; want %q, %v, %q", got.State, got.RevokedAt, got.RevokeReason, freight.LicenseRevoked, ts(time.Hour), "fraud")
	}

	now := newLicense(o.ID, p.ID)
	now.State = freight.LicenseRevoked
	MustCreateLicense(t, s, now)
	if now.RevokedAt == nil {
		t.Fatalf("RevokedAt of a license created revoked without a time = nil, want now")
	}
	checkRecent(t, "RevokedAt of a license created revoked without a time", *now.RevokedAt)
	checkSame(t, "License(created revoked now)", storedLicense(t, s, now.ID), now)
}

// The store validates what it writes; nothing invalid is stored.
func testLicenseInvalid(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	mk := func(mod func(*freight.License)) *freight.License {
		l := newLicense(o.ID, p.ID)
		mod(l)
		return l
	}
	self := freight.NewID(freight.PrefixLicense, time.Now())
	many := make([]string, 1025)
	for i := range many {
		many[i] = fmt.Sprintf("hw-%d", i)
	}
	for name, l := range map[string]*freight.License{
		"id of another type":              mk(func(l *freight.License) { l.ID = missingID(freight.PrefixGrant) }),
		"malformed id":                    mk(func(l *freight.License) { l.ID = "lic_1" }),
		"no organization":                 mk(func(l *freight.License) { l.OrgID = "" }),
		"organization id of another type": mk(func(l *freight.License) { l.OrgID = p.ID }),
		"no product":                      mk(func(l *freight.License) { l.ProductID = "" }),
		"product id of another type":      mk(func(l *freight.License) { l.ProductID = o.ID }),
		"supersedes id of another type":   mk(func(l *freight.License) { l.SupersedesID = o.ID }),
		"superseding itself":              mk(func(l *freight.License) { l.ID, l.SupersedesID = self, self }),
		"feature without a name":          mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Value: "x"}} }),
		"feature name of 65 characters":   mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: strings.Repeat("a", 65)}} }),
		"feature name with a space":       mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "pdf export"}} }),
		"feature name with a slash":       mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "pdf/export"}} }),
		"feature name with an umlaut":     mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "exportä"}} }),
		"duplicate feature": mk(func(l *freight.License) {
			l.Features = []freight.LicenseFeature{{Name: "a"}, {Name: "b"}, {Name: "a", Value: "2"}}
		}),
		"feature value not UTF-8":       mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "a", Value: "\xff"}} }),
		"negative feature limit":        mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "a", Limit: ptr(int64(-1))}} }),
		"negative seats":                mk(func(l *freight.License) { l.Seats = -1 }),
		"empty hardware id":             mk(func(l *freight.License) { l.HardwareIDs = []string{"a", ""} }),
		"hardware id of 129 bytes":      mk(func(l *freight.License) { l.HardwareIDs = []string{strings.Repeat("h", 129)} }),
		"hardware id with a newline":    mk(func(l *freight.License) { l.HardwareIDs = []string{"dongle\n1"} }),
		"hardware id with NUL":          mk(func(l *freight.License) { l.HardwareIDs = []string{"dongle\x001"} }),
		"hardware id not UTF-8":         mk(func(l *freight.License) { l.HardwareIDs = []string{"dongle\xff"} }),
		"1025 hardware ids":             mk(func(l *freight.License) { l.HardwareIDs = many }),
		"duplicate hardware id":         mk(func(l *freight.License) { l.HardwareIDs = []string{"a", "b", "a"} }),
		"no not before":                 mk(func(l *freight.License) { l.NotBefore = time.Time{} }),
		"expiry = not before":           mk(func(l *freight.License) { l.ExpiresAt = ptr(l.NotBefore) }),
		"expiry before not before":      mk(func(l *freight.License) { l.ExpiresAt = ptr(l.NotBefore.Add(-time.Hour)) }),
		"no key id":                     mk(func(l *freight.License) { l.KeyID = "" }),
		"key id of 65 bytes":            mk(func(l *freight.License) { l.KeyID = strings.Repeat("k", 65) }),
		"key id with a tab":             mk(func(l *freight.License) { l.KeyID = "key\t1" }),
		"unknown state":                 mk(func(l *freight.License) { l.State = "expired" }),
		"active with a revocation time": mk(func(l *freight.License) { l.RevokedAt = ptr(ts(0)) }),
		"active with a revoke reason":   mk(func(l *freight.License) { l.RevokeReason = "fraud" }),
		"superseded with a revoke time": mk(func(l *freight.License) { l.State, l.RevokedAt = freight.LicenseSuperseded, ptr(ts(0)) }),
		"no file":                       mk(func(l *freight.License) { l.File = nil }),
		"empty file":                    mk(func(l *freight.License) { l.File = []byte{} }),
		"no creator":                    mk(func(l *freight.License) { l.CreatedBy = "" }),
		"time out of range":             mk(func(l *freight.License) { l.MaintenanceUntil = ptr(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) }),
	} {
		wantCode(t, "CreateLicense with "+name, s.CreateLicense(t.Context(), l), freight.EINVALID)
	}
	checkKeys(t, "Licenses after invalid creates", licenseList(t, s, freight.LicenseFilter{}), licenseID, []string{})
}

// The bounds themselves are valid.
func testLicenseLimits(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	mk := func(mod func(*freight.License)) *freight.License {
		l := newLicense(o.ID, p.ID)
		mod(l)
		return l
	}
	most := make([]string, 1024)
	for i := range most {
		most[i] = fmt.Sprintf("%0128d", i)
	}
	for name, l := range map[string]*freight.License{
		"no features":                   mk(func(l *freight.License) { l.Features = nil }),
		"feature name of 64 characters": mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: strings.Repeat("Az09._:-", 8)}} }),
		"feature name of 1 character":   mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "x"}} }),
		"zero limit":                    mk(func(l *freight.License) { l.Features = []freight.LicenseFeature{{Name: "x", Limit: ptr(int64(0))}} }),
		"no seat limit":                 mk(func(l *freight.License) { l.Seats = 0 }),
		"1024 hardware ids of 128":      mk(func(l *freight.License) { l.HardwareIDs = most }),
		"expiry a microsecond later":    mk(func(l *freight.License) { l.ExpiresAt = ptr(l.NotBefore.Add(time.Microsecond)) }),
		"maintenance before not before": mk(func(l *freight.License) { l.MaintenanceUntil = ptr(l.NotBefore.Add(-time.Hour)) }),
		"key id of 64 bytes":            mk(func(l *freight.License) { l.KeyID = strings.Repeat("k", 64) }),
		"file of one byte":              mk(func(l *freight.License) { l.File = []byte{0} }),
	} {
		if err := s.CreateLicense(t.Context(), l); err != nil {
			t.Errorf("CreateLicense with %s: %v, want success", name, err)
			continue
		}
		checkSame(t, "License with "+name, storedLicense(t, s, l.ID), l)
	}
}

func testLicenseMissingParents(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	for name, mod := range map[string]func(*freight.License){
		"organization":       func(l *freight.License) { l.OrgID = missingID(freight.PrefixOrganization) },
		"product":            func(l *freight.License) { l.ProductID = missingID(freight.PrefixProduct) },
		"superseded license": func(l *freight.License) { l.SupersedesID = missingID(freight.PrefixLicense) },
	} {
		l := newLicense(o.ID, p.ID)
		mod(l)
		wantCode(t, "CreateLicense(missing "+name+")", s.CreateLicense(ctx, l), freight.ENOTFOUND)
	}
	checkKeys(t, "Licenses after the refused creates", licenseList(t, s, freight.LicenseFilter{}), licenseID, []string{})
	// Inside a transaction the answer is the same, and the transaction
	// goes on.
	var kept *freight.License
	err := s.Tx(ctx, func(tx freight.Store) error {
		l := newLicense(o.ID, p.ID)
		l.SupersedesID = missingID(freight.PrefixLicense)
		wantCode(t, "CreateLicense(missing superseded license) in a Tx", tx.CreateLicense(ctx, l), freight.ENOTFOUND)
		kept = MustCreateLicense(t, tx, newLicense(o.ID, p.ID))
		return nil
	})
	noErr(t, "Tx", err)
	checkKeys(t, "Licenses after the Tx", licenseList(t, s, freight.LicenseFilter{}), licenseID, []string{kept.ID})
}

func testLicenseNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	keep := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	for _, id := range []string{missingID(freight.PrefixLicense), "nonsense", o.ID} {
		got, err := s.License(ctx, id)
		wantCode(t, "License("+id+")", err, freight.ENOTFOUND)
		if got != nil {
			t.Errorf("License(%s) = %+v, want nil", id, got)
		}
		called := false
		got, err = s.UpdateLicense(ctx, id, func(*freight.License) error { called = true; return nil })
		wantCode(t, "UpdateLicense("+id+")", err, freight.ENOTFOUND)
		if got != nil || called {
			t.Errorf("UpdateLicense(%s) = %+v, fn called %v; want nil, false", id, got, called)
		}
	}
	checkSame(t, "the other license", storedLicense(t, s, keep.ID), keep)
}

// Lists leave the file out (license.go); License returns it.
func testLicenseListWithoutFile(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, fullLicense(o.ID, p.ID, ""))
	listed := listAll(t, licenseList(t, s, freight.LicenseFilter{}))
	if len(listed) != 1 {
		t.Fatalf("Licenses = %d, want 1", len(listed))
	}
	if listed[0].File != nil {
		t.Errorf("Licenses[0].File = %d bytes, want nil: lists leave the file out", len(listed[0].File))
	}
	want := *l
	want.File = nil
	checkSame(t, "Licenses[0]", listed[0], &want)
	if got := storedLicense(t, s, l.ID); !bytes.Equal(got.File, testLicenseFile) {
		t.Errorf("License(id).File = %x, want %x", got.File, testLicenseFile)
	}
}

// Licenses are listed newest first, across pages.
func testLicensePagination(t *testing.T, s freight.Store) {
	list := licenseList(t, s, freight.LicenseFilter{})
	checkPaging(t, "Licenses of an empty store", list, licenseID, nil)
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	var created []string
	for range 7 {
		created = append(created, MustCreateLicense(t, s, newLicense(o.ID, p.ID)).ID)
		settle()
	}
	checkPaging(t, "Licenses", list, licenseID, reversed(created))

	for _, after := range []string{"nonsense", created[0], ts(0).Format("2006-01-02T15:04:05.000000Z") + "/" + o.ID, "yesterday/" + created[0]} {
		_, _, err := s.Licenses(t.Context(), freight.LicenseFilter{Page: freight.Page{After: after}})
		wantCode(t, "Licenses(After "+after+")", err, freight.EINVALID)
	}
}

// "Newest" is the time the store created the license, not the order of
// ids: an id the caller chose may sort anywhere.
func testLicenseNewestByCreatedTime(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	late := newLicense(o.ID, p.ID)
	late.ID = freight.NewID(freight.PrefixLicense, time.Now().Add(time.Hour)) // sorts after every id made now
	MustCreateLicense(t, s, late)
	settle()
	early := newLicense(o.ID, p.ID)
	early.ID = freight.NewID(freight.PrefixLicense, time.Now().Add(-time.Hour))
	MustCreateLicense(t, s, early)
	settle()
	plain := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	if !(early.ID < plain.ID && plain.ID < late.ID) {
		t.Fatalf("the test's own ids are not in the order it needs: %s, %s, %s", early.ID, plain.ID, late.ID)
	}
	checkPaging(t, "Licenses", licenseList(t, s, freight.LicenseFilter{}), licenseID, []string{plain.ID, early.ID, late.ID})
}

func testLicenseFilters(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	lonely := MustCreateOrganization(t, s, newOrg("lonely"))
	widget := MustCreateProduct(t, s, newProduct("widget"))
	gadget := MustCreateProduct(t, s, newProduct("gadget"))
	unsold := MustCreateProduct(t, s, newProduct("unsold"))
	var all []*freight.License
	for i, x := range []struct {
		o  *freight.Organization
		p  *freight.Product
		st freight.LicenseState
	}{
		{acme, widget, freight.LicenseActive},
		{acme, widget, freight.LicenseSuperseded},
		{globex, widget, freight.LicenseActive},
		{acme, gadget, freight.LicenseRevoked},
		{globex, gadget, freight.LicenseActive},
		{acme, widget, freight.LicenseRevoked},
		{globex, widget, freight.LicenseSuperseded},
		{acme, gadget, freight.LicenseActive},
		{acme, widget, freight.LicenseActive},
	} {
		l := newLicense(x.o.ID, x.p.ID)
		l.Seats = i
		MustCreateLicense(t, s, l)
		settle()
		// Move the state after creating, so that the filter sees states
		// written by UpdateLicense too.
		if x.st != freight.LicenseActive {
			l = setState(t, s, l.ID, x.st)
		}
		all = append(all, l)
	}
	match := func(keep func(*freight.License) bool) []string {
		var ids []string
		for _, l := range reversed(all) {
			if keep(l) {
				ids = append(ids, l.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    freight.LicenseFilter
		keep func(*freight.License) bool
	}{
		{"all", freight.LicenseFilter{}, func(*freight.License) bool { return true }},
		{"org acme", freight.LicenseFilter{OrgID: acme.ID}, func(l *freight.License) bool { return l.OrgID == acme.ID }},
		{"org globex", freight.LicenseFilter{OrgID: globex.ID}, func(l *freight.License) bool { return l.OrgID == globex.ID }},
		{"product widget", freight.LicenseFilter{ProductID: widget.ID}, func(l *freight.License) bool { return l.ProductID == widget.ID }},
		{"product gadget", freight.LicenseFilter{ProductID: gadget.ID}, func(l *freight.License) bool { return l.ProductID == gadget.ID }},
		{"active", freight.LicenseFilter{State: freight.LicenseActive}, func(l *freight.License) bool { return l.State == freight.LicenseActive }},
		{"superseded", freight.LicenseFilter{State: freight.LicenseSuperseded}, func(l *freight.License) bool { return l.State == freight.LicenseSuperseded }},
		{"revoked", freight.LicenseFilter{State: freight.LicenseRevoked}, func(l *freight.License) bool { return l.State == freight.LicenseRevoked }},
		{"acme, widget", freight.LicenseFilter{OrgID: acme.ID, ProductID: widget.ID},
			func(l *freight.License) bool { return l.OrgID == acme.ID && l.ProductID == widget.ID }},
		{"acme, widget, active", freight.LicenseFilter{OrgID: acme.ID, ProductID: widget.ID, State: freight.LicenseActive},
			func(l *freight.License) bool {
				return l.OrgID == acme.ID && l.ProductID == widget.ID && l.State == freight.LicenseActive
			}},
		{"globex, revoked", freight.LicenseFilter{OrgID: globex.ID, State: freight.LicenseRevoked}, func(*freight.License) bool { return false }},
		{"gadget, revoked", freight.LicenseFilter{ProductID: gadget.ID, State: freight.LicenseRevoked},
			func(l *freight.License) bool { return l.ProductID == gadget.ID && l.State == freight.LicenseRevoked }},
		{"org without licenses", freight.LicenseFilter{OrgID: lonely.ID}, func(*freight.License) bool { return false }},
		{"product without licenses", freight.LicenseFilter{ProductID: unsold.ID}, func(*freight.License) bool { return false }},
	} {
		want := match(tc.keep)
		checkPaging(t, "Licenses("+tc.name+")", licenseList(t, s, tc.f), licenseID, want)
	}
	// The listed licenses are the stored ones, states included.
	for _, l := range listAll(t, licenseList(t, s, freight.LicenseFilter{})) {
		i := slices.IndexFunc(all, func(x *freight.License) bool { return x.ID == l.ID })
		if i < 0 {
			t.Errorf("Licenses lists %s, which the test did not create", l.ID)
			continue
		}
		want := *all[i]
		want.File = nil
		checkSame(t, "listed license "+l.ID, l, &want)
	}
	_, _, err := s.Licenses(t.Context(), freight.LicenseFilter{State: "expired"})
	wantCode(t, "Licenses(State expired)", err, freight.EINVALID)
}

// A filter naming an organization or a product that does not exist is
// ENOTFOUND, as for other lists (store.go), not an empty list.
func testLicenseFilterMissing(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	for name, f := range map[string]freight.LicenseFilter{
		"missing organization":              {OrgID: missingID(freight.PrefixOrganization)},
		"missing product":                   {ProductID: missingID(freight.PrefixProduct)},
		"organization and missing product":  {OrgID: o.ID, ProductID: missingID(freight.PrefixProduct)},
		"missing organization, and a state": {OrgID: missingID(freight.PrefixOrganization), State: freight.LicenseActive},
	} {
		got, _, err := s.Licenses(t.Context(), f)
		wantCode(t, "Licenses("+name+")", err, freight.ENOTFOUND)
		if got != nil {
			t.Errorf("Licenses(%s) = %v, want nil with the error", name, got)
		}
	}
}

// Revoking writes the state, the time and the reason, and nothing else;
// fn sees the whole license, file included.
func testLicenseRevoke(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, fullLicense(o.ID, p.ID, ""))
	zone := time.FixedZone("UTC-3", -3*3600)
	var seen freight.License
	calls := 0
	got, err := s.UpdateLicense(ctx, l.ID, func(c *freight.License) error {
		calls++
		seen = *c
		c.State = freight.LicenseRevoked
		c.RevokedAt = ptr(ts(2 * time.Hour).Add(999).In(zone))
		c.RevokeReason = "chargeback"
		return nil
	})
	noErr(t, "UpdateLicense(revoke)", err)
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	checkSame(t, "the license passed to fn", &seen, l)
	want := *l
	want.State, want.RevokedAt, want.RevokeReason, want.UpdatedAt = freight.LicenseRevoked, ptr(ts(2*time.Hour)), "chargeback", got.UpdatedAt
	checkSame(t, "UpdateLicense result", got, &want)
	checkUpdated(t, "UpdateLicense", got.CreatedAt, got.UpdatedAt, l.CreatedAt, l.UpdatedAt)
	checkUTCMicro(t, got)
	stored := storedLicense(t, s, l.ID)
	checkSame(t, "License after revoking", stored, &want)
	checkKeys(t, "Licenses(revoked)", licenseList(t, s, freight.LicenseFilter{State: freight.LicenseRevoked}), licenseID, []string{l.ID})
	checkKeys(t, "Licenses(active)", licenseList(t, s, freight.LicenseFilter{State: freight.LicenseActive}), licenseID, []string{})
}

// Revoking without a time revokes now.
func testLicenseRevokeNow(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	got, err := s.UpdateLicense(t.Context(), l.ID, func(c *freight.License) error { c.State = freight.LicenseRevoked; return nil })
	noErr(t, "UpdateLicense(revoke without a time)", err)
	if got.RevokedAt == nil {
		t.Fatalf("RevokedAt after revoking without a time = nil, want now")
	}
	checkRecent(t, "RevokedAt after revoking without a time", *got.RevokedAt)
	checkSame(t, "License after revoking now", storedLicense(t, s, l.ID), got)
}

// An amendment is a new license that supersedes the old one, issued in one
// transaction with the old one's move to superseded; a failing
// transaction keeps neither change.
func testLicenseSupersede(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	v1 := MustCreateLicense(t, s, newLicense(o.ID, p.ID))

	amend := func(tx freight.Store) (*freight.License, error) {
		v2 := newLicense(o.ID, p.ID)
		v2.Seats, v2.SupersedesID = 50, v1.ID
		if err := tx.CreateLicense(ctx, v2); err != nil {
			return nil, err
		}
		_, err := tx.UpdateLicense(ctx, v1.ID, func(c *freight.License) error {
			if c.State != freight.LicenseActive {
				return fmt.Errorf("license %s is %s", c.ID, c.State)
			}
			c.State = freight.LicenseSuperseded
			return nil
		})
		return v2, err
	}
	err := s.Tx(ctx, func(tx freight.Store) error {
		if _, err := amend(tx); err != nil {
			return err
		}
		return errSentinel
	})
	wantSentinel(t, "Tx amending and failing", err)
	checkSame(t, "the old license after a rolled back amendment", storedLicense(t, s, v1.ID), v1)
	checkKeys(t, "Licenses after a rolled back amendment", licenseList(t, s, freight.LicenseFilter{}), licenseID, []string{v1.ID})

	var v2 *freight.License
	err = s.Tx(ctx, func(tx freight.Store) error {
		var err error
		v2, err = amend(tx)
		return err
	})
	noErr(t, "Tx amending", err)
	old := storedLicense(t, s, v1.ID)
	if old.State != freight.LicenseSuperseded {
		t.Errorf("old license State = %q, want %q", old.State, freight.LicenseSuperseded)
	}
	checkSame(t, "the amendment", storedLicense(t, s, v2.ID), v2)
	if v2.SupersedesID != v1.ID {
		t.Errorf("SupersedesID = %q, want %q", v2.SupersedesID, v1.ID)
	}
	checkKeys(t, "Licenses(active)", licenseList(t, s, freight.LicenseFilter{State: freight.LicenseActive}), licenseID, []string{v2.ID})
	checkKeys(t, "Licenses(superseded)", licenseList(t, s, freight.LicenseFilter{State: freight.LicenseSuperseded}), licenseID, []string{v1.ID})
}

// What was issued cannot change: UpdateLicense refuses a change to any
// field but State, RevokedAt and RevokeReason with EINVALID naming the
// field, whether fn replaces a value or changes it in place, and writes
// nothing, not even a state change made along with it.
func testLicenseUpdateImmutable(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	o2 := MustCreateOrganization(t, s, newOrg("globex"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	p2 := MustCreateProduct(t, s, newProduct("gadget"))
	base := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	l := MustCreateLicense(t, s, fullLicense(o.ID, p.ID, base.ID))
	other := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	for _, tc := range []struct {
		field string
		fn    func(*freight.License)
	}{
		{"id", func(c *freight.License) { c.ID = missingID(freight.PrefixLicense) }},
		{"org_id", func(c *freight.License) { c.OrgID = o2.ID }},
		{"product_id", func(c *freight.License) { c.ProductID = p2.ID }},
		{"features", func(c *freight.License) { c.Features = append(c.Features, freight.LicenseFeature{Name: "extra"}) }},
		{"features", func(c *freight.License) { c.Features = c.Features[1:] }},
		{"features", func(c *freight.License) { c.Features = nil }},
		{"features", func(c *freight.License) { c.Features[0].Name = "import" }},
		{"features", func(c *freight.License) { c.Features[0].Value = "pdf" }},
		{"features", func(c *freight.License) { *c.Features[0].Limit = 1 }},
		{"features", func(c *freight.License) { c.Features[0].Limit = nil }},
		{"features", func(c *freight.License) { c.Features[1].Limit = ptr(int64(0)) }},
		{"seats", func(c *freight.License) { c.Seats++ }},
		{"hardware_ids", func(c *freight.License) { c.HardwareIDs = nil }},
		{"hardware_ids", func(c *freight.License) { c.HardwareIDs[0] = "dongle-X" }},
		{"hardware_ids", func(c *freight.License) { slices.Reverse(c.HardwareIDs) }},
		{"not_before", func(c *freight.License) { c.NotBefore = c.NotBefore.Add(time.Microsecond) }},
		{"expires_at", func(c *freight.License) { c.ExpiresAt = nil }},
		{"expires_at", func(c *freight.License) { *c.ExpiresAt = c.ExpiresAt.Add(time.Hour) }},
		{"maintenance_until", func(c *freight.License) { c.MaintenanceUntil = nil }},
		{"key_id", func(c *freight.License) { c.KeyID = "licenses-2026" }},
		{"supersedes_id", func(c *freight.License) { c.SupersedesID = other.ID }},
		{"supersedes_id", func(c *freight.License) { c.SupersedesID = "" }},
		{"created_by", func(c *freight.License) { c.CreatedBy = "someone else" }},
		{"created_at", func(c *freight.License) { c.CreatedAt = c.CreatedAt.Add(-time.Hour) }},
		{"updated_at", func(c *freight.License) { c.UpdatedAt = c.UpdatedAt.Add(time.Hour) }},
		{"file", func(c *freight.License) { c.File = []byte("another file") }},
		{"file", func(c *freight.License) { c.File[0] ^= 0xff }},
		{"file", func(c *freight.License) { c.File = append(c.File, 0) }},
	} {
		for _, revoke := range []bool{false, true} {
			got, err := s.UpdateLicense(ctx, l.ID, func(c *freight.License) error {
				tc.fn(c)
				if revoke {
					c.State, c.RevokedAt = freight.LicenseRevoked, ptr(ts(0))
				}
				return nil
			})
			what := fmt.Sprintf("UpdateLicense changing %s (revoking too: %v)", tc.field, revoke)
			wantCode(t, what, err, freight.EINVALID)
			if f := freight.ErrorField(err); err != nil && f != tc.field {
				t.Errorf("%s: error names the field %q, want %q", what, f, tc.field)
			}
			if got != nil {
				t.Errorf("%s = %+v, want nil", what, got)
			}
		}
	}
	checkSame(t, "License after refused changes", storedLicense(t, s, l.ID), l)
	checkKeys(t, "Licenses after refused changes", licenseList(t, s, freight.LicenseFilter{}), licenseID, []string{other.ID, l.ID, base.ID})
}

// Values equal to the stored ones are no change: the same instant in
// another zone, an empty list for none, a fresh copy of the same file.
// When nothing changes, nothing is written.
func testLicenseUpdateSameValues(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, fullLicense(o.ID, p.ID, ""))
	bare := newLicense(o.ID, p.ID)
	bare.Features = nil
	MustCreateLicense(t, s, bare)
	zone := time.FixedZone("UTC+9", 9*3600)
	settle()
	got, err := s.UpdateLicense(ctx, l.ID, func(c *freight.License) error {
		c.NotBefore = c.NotBefore.In(zone)
		c.ExpiresAt = ptr(c.ExpiresAt.In(zone))
		c.File = bytes.Clone(c.File)
		c.Features = slices.Clone(c.Features)
		c.Features[0].Limit = ptr(*c.Features[0].Limit)
		return nil
	})
	noErr(t, "UpdateLicense with equal values", err)
	checkSame(t, "UpdateLicense with equal values", got, l)
	if !got.UpdatedAt.Equal(l.UpdatedAt) {
		t.Errorf("UpdatedAt after an update that changed nothing = %v, want %v (nothing written)", got.UpdatedAt, l.UpdatedAt)
	}
	checkSame(t, "License after an update that changed nothing", storedLicense(t, s, l.ID), l)

	got, err = s.UpdateLicense(ctx, bare.ID, func(c *freight.License) error {
		c.Features, c.HardwareIDs = []freight.LicenseFeature{}, []string{}
		return nil
	})
	noErr(t, "UpdateLicense with empty lists for none", err)
	checkSame(t, "UpdateLicense with empty lists for none", got, bare)
	if got.Features != nil || got.HardwareIDs != nil {
		t.Errorf("Features, HardwareIDs = %#v, %#v; want nil, nil", got.Features, got.HardwareIDs)
	}
}

func testLicenseUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	got, err := s.UpdateLicense(ctx, l.ID, func(c *freight.License) error {
		c.State, c.RevokedAt, c.RevokeReason = freight.LicenseRevoked, ptr(ts(0)), "fraud"
		return errSentinel
	})
	wantSentinel(t, "UpdateLicense with fn failing", err)
	if got != nil {
		t.Errorf("UpdateLicense with fn failing = %+v, want nil", got)
	}
	checkSame(t, "License after a failed update", storedLicense(t, s, l.ID), l)
}

// The life of a license: active → superseded → revoked, or active →
// revoked. Nothing goes back, and a revoked license stays as it is, its
// revocation time and reason included. Staying in a state is allowed and
// changes nothing. Refused transitions are ECONFLICT, an unknown state
// EINVALID, and a refused update writes nothing.
func testLicenseStateTransitions(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	const (
		active     = freight.LicenseActive
		superseded = freight.LicenseSuperseded
		revoked    = freight.LicenseRevoked
	)
	for _, tc := range []struct {
		from, to freight.LicenseState
		fn       func(*freight.License) // after setting State = to
		code     string                 // "" for success
	}{
		{active, active, nil, ""},
		{active, superseded, nil, ""},
		{active, revoked, nil, ""},
		{superseded, superseded, nil, ""},
		{superseded, revoked, nil, ""},
		{superseded, active, nil, freight.ECONFLICT},
		{revoked, revoked, nil, ""},
		{revoked, active, nil, freight.ECONFLICT},
		{revoked, superseded, nil, freight.ECONFLICT},
		{revoked, active, func(c *freight.License) { c.RevokedAt, c.RevokeReason = nil, "" }, freight.ECONFLICT},
		{revoked, revoked, func(c *freight.License) { c.RevokeReason = "changed my mind" }, freight.ECONFLICT},
		{revoked, revoked, func(c *freight.License) { c.RevokedAt = ptr(c.RevokedAt.Add(time.Second)) }, freight.ECONFLICT},
		{active, "expired", nil, freight.EINVALID},
		{active, "", nil, freight.EINVALID},
		{revoked, "expired", nil, freight.EINVALID},
	} {
		name := fmt.Sprintf("UpdateLicense %s → %q", tc.from, tc.to)
		if tc.fn != nil {
			name += " with other revocation fields"
		}
		l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
		switch tc.from {
		case superseded:
			l = setState(t, s, l.ID, superseded)
		case revoked:
			l = setState(t, s, l.ID, revoked)
		}
		settle()
		got, err := s.UpdateLicense(ctx, l.ID, func(c *freight.License) error {
			c.State = tc.to
			if tc.to == revoked && tc.from != revoked {
				c.RevokedAt, c.RevokeReason = ptr(ts(3*time.Hour)), "fraud"
			}
			if tc.fn != nil {
				tc.fn(c)
			}
			return nil
		})
		wantCode(t, name, err, tc.code)
		stored := storedLicense(t, s, l.ID)
		switch {
		case err != nil:
			if got != nil {
				t.Errorf("%s = %+v with an error, want nil", name, got)
			}
			checkSame(t, name+": License after the refused update", stored, l)
		case tc.from == tc.to:
			// Nothing changed, so nothing is written.
			checkSame(t, name+": result", got, l)
			checkSame(t, name+": License after the update", stored, l)
		default:
			if got.State != tc.to {
				t.Errorf("%s: State = %q, want %q", name, got.State, tc.to)
			}
			checkSame(t, name+": License after the update", stored, got)
			checkUpdated(t, name, got.CreatedAt, got.UpdatedAt, l.CreatedAt, l.UpdatedAt)
			if !got.UpdatedAt.After(l.UpdatedAt) {
				t.Errorf("%s: UpdatedAt = %v, want after %v", name, got.UpdatedAt, l.UpdatedAt)
			}
			if tc.to == revoked && (got.RevokedAt == nil || !got.RevokedAt.Equal(ts(3*time.Hour)) || got.RevokeReason != "fraud") {
				t.Errorf("%s: RevokedAt, RevokeReason = %v, %q; want %v, %q", name, got.RevokedAt, got.RevokeReason, ts(3*time.Hour), "fraud")
			}
		}
	}
}

// Only a revoked license has a revocation time and reason.
func testLicenseRevocationFields(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	sup := setState(t, s, MustCreateLicense(t, s, newLicense(o.ID, p.ID)).ID, freight.LicenseSuperseded)
	for name, tc := range map[string]struct {
		l  *freight.License
		fn func(*freight.License)
	}{
		"active with a revocation time":      {l, func(c *freight.License) { c.RevokedAt = ptr(ts(0)) }},
		"active with a reason":               {l, func(c *freight.License) { c.RevokeReason = "fraud" }},
		"superseding with a revocation time": {l, func(c *freight.License) { c.State, c.RevokedAt = freight.LicenseSuperseded, ptr(ts(0)) }},
		"superseded with a reason":           {sup, func(c *freight.License) { c.RevokeReason = "fraud" }},
		"revoking with a reason not UTF-8":   {l, func(c *freight.License) { c.State, c.RevokeReason = freight.LicenseRevoked, "\xff" }},
		"revoking at a time out of range": {l, func(c *freight.License) {
			c.State, c.RevokedAt = freight.LicenseRevoked, ptr(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		"superseded with a time and no reason": {sup, func(c *freight.License) { c.RevokedAt = ptr(ts(0)) }},
	} {
		_, err := s.UpdateLicense(ctx, tc.l.ID, func(c *freight.License) error { tc.fn(c); return nil })
		wantCode(t, "UpdateLicense "+name, err, freight.EINVALID)
		checkSame(t, "License after UpdateLicense "+name, storedLicense(t, s, tc.l.ID), tc.l)
	}
}

// Licenses are legal history: an organization or a product that has
// licenses, in any state, is not deleted (ECONFLICT), and the refused
// delete changes nothing, not even what the delete would have cascaded
// to. Inside a transaction the refusal leaves the transaction usable.
func testLicenseDeleteOrganization(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	free := MustCreateOrganization(t, s, newOrg("globex"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	m := MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleOrgAdmin})
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	tok := MustCreateToken(t, s, newUserToken("ci", u.ID, o.ID))
	l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	MustCreateEntitlement(t, s, newEntitlement(free.ID, p.ID))

	for _, st := range []freight.LicenseState{freight.LicenseActive, freight.LicenseSuperseded, freight.LicenseRevoked} {
		if st != freight.LicenseActive {
			l = setState(t, s, l.ID, st)
		}
		wantCode(t, "DeleteOrganization with a "+string(st)+" license", s.DeleteOrganization(ctx, o.ID), freight.ECONFLICT)
	}
	got, err := s.Organization(ctx, o.ID)
	noErr(t, "Organization after a refused delete", err)
	checkSame(t, "Organization after a refused delete", got, o)
	checkKeys(t, "Memberships after a refused delete", membershipList(t, s, freight.MembershipFilter{OrgID: o.ID}), membershipKey, []string{membershipKey(m)})
	gotE, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement after a refused delete", err)
	checkSame(t, "Entitlement after a refused delete", gotE, e)
	if _, err := s.Token(ctx, tok.ID); err != nil {
		t.Errorf("Token after a refused delete: %v, want it kept", err)
	}
	checkSame(t, "License after a refused delete", storedLicense(t, s, l.ID), l)

	var inside *freight.Organization
	err = s.Tx(ctx, func(tx freight.Store) error {
		wantCode(t, "DeleteOrganization with licenses in a Tx", tx.DeleteOrganization(ctx, o.ID), freight.ECONFLICT)
		inside = MustCreateOrganization(t, tx, newOrg("initech"))
		return nil
	})
	noErr(t, "Tx after a refused delete", err)
	if _, err := s.Organization(ctx, inside.ID); err != nil {
		t.Errorf("Organization created in the Tx after a refused delete: %v", err)
	}

	// An organization without licenses is deleted as before.
	noErr(t, "DeleteOrganization without licenses", s.DeleteOrganization(ctx, free.ID))
	_, err = s.Organization(ctx, free.ID)
	wantCode(t, "Organization after delete", err, freight.ENOTFOUND)
}

func testLicenseDeleteProduct(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	free := MustCreateProduct(t, s, newProduct("gadget"))
	e := MustCreateEntitlement(t, s, newEntitlement(o.ID, p.ID))
	l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	MustCreateEntitlement(t, s, newEntitlement(o.ID, free.ID))

	for _, st := range []freight.LicenseState{freight.LicenseActive, freight.LicenseRevoked} {
		if st != freight.LicenseActive {
			l = setState(t, s, l.ID, st)
		}
		wantCode(t, "DeleteProduct with a "+string(st)+" license", s.DeleteProduct(ctx, p.ID), freight.ECONFLICT)
	}
	got, err := s.Product(ctx, p.ID)
	noErr(t, "Product after a refused delete", err)
	checkSame(t, "Product after a refused delete", got, p)
	gotE, err := s.Entitlement(ctx, e.ID)
	noErr(t, "Entitlement after a refused delete", err)
	checkSame(t, "Entitlement after a refused delete", gotE, e)
	checkSame(t, "License after a refused delete", storedLicense(t, s, l.ID), l)

	// With releases too, still refused.
	MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	wantCode(t, "DeleteProduct with a license and a release", s.DeleteProduct(ctx, p.ID), freight.ECONFLICT)

	var inside *freight.Product
	err = s.Tx(ctx, func(tx freight.Store) error {
		wantCode(t, "DeleteProduct with licenses in a Tx", tx.DeleteProduct(ctx, p.ID), freight.ECONFLICT)
		inside = MustCreateProduct(t, tx, newProduct("sprocket"))
		return nil
	})
	noErr(t, "Tx after a refused delete", err)
	if _, err := s.Product(ctx, inside.ID); err != nil {
		t.Errorf("Product created in the Tx after a refused delete: %v", err)
	}

	noErr(t, "DeleteProduct without licenses", s.DeleteProduct(ctx, free.ID))
	_, err = s.Product(ctx, free.ID)
	wantCode(t, "Product after delete", err, freight.ENOTFOUND)
}

// UpdateLicense serializes concurrent updates of one license, so that a
// check in fn holds when the write happens: of 10 goroutines that each
// supersede the license only if it is active, exactly one sees it active
// and succeeds; every other one sees it superseded and gets its own fn's
// error back, not a lock timeout or a serialization failure.
func testLicenseConcurrentSupersede(t *testing.T, s freight.Store) {
	const n = 10
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	l := MustCreateLicense(t, s, newLicense(o.ID, p.ID))
	errNotActive := errors.New("the license is no longer active")
	var sawActive, sawSuperseded atomic.Int32
	errs := make([]error, n)
	run(n, func(i int) {
		_, errs[i] = s.UpdateLicense(t.Context(), l.ID, func(c *freight.License) error {
			if c.State != freight.LicenseActive {
				if c.State == freight.LicenseSuperseded {
					sawSuperseded.Add(1)
				}
				return errNotActive
			}
			sawActive.Add(1)
			// Hold on, so that a store that does not serialize the
			// updates lets another caller read the license meanwhile.
			time.Sleep(50 * time.Millisecond)
			c.State = freight.LicenseSuperseded
			return nil
		})
	})
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, errNotActive):
		default:
			t.Errorf("UpdateLicense %d: %v (code %q), want success or fn's error", i, err, freight.ErrorCode(err))
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent supersedes succeeded, want exactly 1", won)
	}
	if got := sawActive.Load(); got != 1 {
		t.Errorf("%d calls of fn saw the license active, want exactly 1", got)
	}
	if got := sawSuperseded.Load(); got != n-1 {
		t.Errorf("%d calls of fn saw the license superseded, want %d", got, n-1)
	}
	stored := storedLicense(t, s, l.ID)
	if stored.State != freight.LicenseSuperseded {
		t.Errorf("State after the race = %q, want %q", stored.State, freight.LicenseSuperseded)
	}
}
