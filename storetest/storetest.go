// Package storetest is the conformance suite of freight.Store. Every backend
// runs the same tests from its own test file:
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) freight.Store { … })
//	}
//
// The suite checks the contract written in the doc comments of freight.Store
// and of the domain types: ids and timestamps set on create, round trips,
// the error codes (ENOTFOUND, ECONFLICT, EINVALID), keyset pagination,
// filters, cascades, transactions and concurrent writers. Where the contract
// leaves room, the tests take the reading a demanding user would expect and
// say so in a comment.
//
// The Must… helpers create objects or fail the test; they are exported so
// that tests of other packages can seed a store the same way.
package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// Run runs the conformance suite against stores made by open; every subtest
// gets its own empty, migrated store.
func Run(t *testing.T, open func(t *testing.T) freight.Store) {
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					st.fn(t, open(t))
				})
			}
		})
	}
}

type subtest struct {
	name string
	fn   func(t *testing.T, s freight.Store)
}

type group struct {
	name  string
	tests []subtest
}

func groups() []group {
	return []group{
		{"Store", []subtest{
			{"Ping", testPing},
			{"TimesUTCMicroseconds", testTimesUTCMicroseconds},
		}},
		{"Organizations", organizationTests},
		{"Users", userTests},
		{"Memberships", membershipTests},
		{"Products", productTests},
		{"Releases", releaseTests},
		{"Artifacts", artifactTests},
		{"Entitlements", entitlementTests},
		{"Tokens", tokenTests},
		{"Sessions", sessionTests},
		{"Tickets", ticketTests},
		{"Invitations", invitationTests},
		{"RecoveryCodes", recoveryCodeTests},
		{"Identities", identityTests},
		{"Settings", settingsTests},
		{"Uploads", uploadTests},
		{"Blobs", blobTests},
		{"SigningKeys", keyTests},
		{"Grants", grantTests},
		{"Downloads", downloadTests},
		{"DownloadStats", statsTests},
		{"Licenses", licenseTests},
		{"Edges", edgeTests},
		{"AuditEvents", auditTests},
		{"Jobs", jobTests},
		{"Webhooks", webhookTests},
		{"RateLimits", rateLimitTests},
		{"Quotas", quotaTests},
		{"Sweeps", sweepTests},
		{"Tx", txTests},
		{"Concurrency", concurrencyTests},
	}
}

// errSentinel is returned by updater and transaction functions; the store
// must hand it back unchanged. It is a *freight.Error with a code no store
// method produces, so that a store that wraps it in an internal error is
// caught by ErrorCode as well as by errors.Is.
var errSentinel = freight.Errorf(freight.EFORBIDDEN, "sentinel from the test")

// missingID returns a well-formed id that names no object.
func missingID(prefix string) string { return freight.NewID(prefix, time.Now()) }

// ts returns a fixed instant at microsecond precision, the precision every
// store keeps, offset by d.
func ts(d time.Duration) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC).Add(d)
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// settle sleeps long enough for the next id to carry a later millisecond,
// so that creation order and id order agree in tests that check ordering.
func settle() { time.Sleep(2 * time.Millisecond) }

// wantCode fails the test unless err carries the code want. what names the
// call for the message.
func wantCode(t testing.TB, what string, err error, want string) {
	t.Helper()
	if got := freight.ErrorCode(err); got != want {
		if err == nil {
			t.Errorf("%s: error = nil, want code %q", what, want)
			return
		}
		t.Errorf("%s: error = %v (code %q), want code %q", what, err, got, want)
	}
}

// wantCodeIn is wantCode for calls where the contract allows several codes.
func wantCodeIn(t testing.TB, what string, err error, want ...string) {
	t.Helper()
	if got := freight.ErrorCode(err); !slices.Contains(want, got) {
		t.Errorf("%s: error = %v (code %q), want one of the codes %q (\"\" is success)", what, err, got, want)
	}
}

// noErr fails the test now if err is not nil.
func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkCreated checks what every create sets: an id of the right type and
// the creation time (and the update time for types that have one).
func checkCreated(t testing.TB, what, prefix, id string, created time.Time, updated *time.Time) {
	t.Helper()
	if !freight.ValidID(prefix, id) {
		t.Errorf("%s: ID = %q, want a valid %s_ id", what, id, prefix)
	}
	checkRecent(t, what+": CreatedAt", created)
	if updated != nil {
		checkRecent(t, what+": UpdatedAt", *updated)
		if updated.Before(created) {
			t.Errorf("%s: UpdatedAt = %v, before CreatedAt %v", what, *updated, created)
		}
	}
}

// checkRecent checks that a time set by the store is now, give or take the
// clock skew between the test and a database server.
func checkRecent(t testing.TB, what string, got time.Time) {
	t.Helper()
	now := time.Now()
	if got.IsZero() || got.Before(now.Add(-5*time.Minute)) || got.After(now.Add(5*time.Minute)) {
		t.Errorf("%s = %v, want about now (%v)", what, got, now)
	}
}

// checkUpdated checks the times of an object returned by an update of
// before: the creation time is kept and the update time does not go back.
func checkUpdated(t testing.TB, what string, gotCreated, gotUpdated, beforeCreated, beforeUpdated time.Time) {
	t.Helper()
	if !gotCreated.Equal(beforeCreated) {
		t.Errorf("%s: CreatedAt = %v, want %v (unchanged)", what, gotCreated, beforeCreated)
	}
	if gotUpdated.Before(beforeUpdated) {
		t.Errorf("%s: UpdatedAt = %v, before the previous %v", what, gotUpdated, beforeUpdated)
	}
	checkRecent(t, what+": UpdatedAt", gotUpdated)
}

// checkSame fails the test if got and want differ; times compare with Equal,
// JSON by value, nil and empty slices alike, pointers by what they point to.
func checkSame(t testing.TB, what string, got, want any) {
	t.Helper()
	for _, d := range diff(got, want) {
		t.Errorf("%s: %s", what, d)
	}
}

func testPing(t *testing.T, s freight.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}

// Constructors of valid objects for the tests; the Must… helpers store them.

func newOrg(slug string) *freight.Organization {
	return &freight.Organization{Slug: slug, Name: "Org " + slug}
}

func newUser(email string) *freight.User {
	return &freight.User{Email: email, Name: "User " + email}
}

func newProduct(slug string) *freight.Product {
	return &freight.Product{Slug: slug, Name: "Product " + slug, Description: "About " + slug}
}

func newRelease(productID, version string) *freight.Release {
	return &freight.Release{ProductID: productID, Version: version, Channel: freight.ChannelStable, Notes: "Notes of " + version}
}

func newArtifact(releaseID, filename string) *freight.Artifact {
	return &freight.Artifact{ReleaseID: releaseID, Filename: filename, Platform: "linux", Arch: "x86_64", Size: 1 << 20, State: freight.ArtifactUploading}
}

func newEntitlement(orgID, productID string) *freight.Entitlement {
	return &freight.Entitlement{OrgID: orgID, ProductID: productID, Channels: []freight.Channel{freight.ChannelStable}}
}

// newUserToken returns a member token of the user in the organization (an
// admin token when orgID is empty, a service account when userID is), with
// its id and hash made the way the server makes them.
func newUserToken(name, userID, orgID string) *freight.Token {
	id, _, hash := freight.NewTokenSecret(time.Now())
	role := freight.RoleMember
	if orgID == "" {
		role = freight.RoleAdmin
	}
	createdBy := userID
	if createdBy == "" {
		createdBy = "system"
	}
	return &freight.Token{ID: id, Name: name, UserID: userID, Role: role, OrgID: orgID, CreatedBy: createdBy, SecretHash: hash}
}

func newEvent(action string, at time.Time) *freight.AuditEvent {
	return &freight.AuditEvent{Time: at, Actor: "system", Action: action, TargetType: "organization", TargetID: missingID(freight.PrefixOrganization)}
}

// MustCreateOrganization creates o or fails the test.
func MustCreateOrganization(t testing.TB, s freight.Store, o *freight.Organization) *freight.Organization {
	t.Helper()
	if err := s.CreateOrganization(t.Context(), o); err != nil {
		t.Fatalf("CreateOrganization(%q): %v", o.Slug, err)
	}
	return o
}

// MustCreateUser creates u or fails the test.
func MustCreateUser(t testing.TB, s freight.Store, u *freight.User) *freight.User {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.Email, err)
	}
	return u
}

// MustPutMembership puts m or fails the test.
func MustPutMembership(t testing.TB, s freight.Store, m *freight.Membership) *freight.Membership {
	t.Helper()
	if err := s.PutMembership(t.Context(), m); err != nil {
		t.Fatalf("PutMembership(%s, %s, %s): %v", m.UserID, m.OrgID, m.Role, err)
	}
	return m
}

// MustCreateProduct creates p or fails the test.
func MustCreateProduct(t testing.TB, s freight.Store, p *freight.Product) *freight.Product {
	t.Helper()
	if err := s.CreateProduct(t.Context(), p); err != nil {
		t.Fatalf("CreateProduct(%q): %v", p.Slug, err)
	}
	return p
}

// MustCreateRelease creates r (a draft) or fails the test.
func MustCreateRelease(t testing.TB, s freight.Store, r *freight.Release) *freight.Release {
	t.Helper()
	if err := s.CreateRelease(t.Context(), r); err != nil {
		t.Fatalf("CreateRelease(%q): %v", r.Version, err)
	}
	return r
}

// MustPublishRelease publishes the draft id at the given time or fails the test.
func MustPublishRelease(t testing.TB, s freight.Store, id string, at time.Time) *freight.Release {
	t.Helper()
	r, err := s.UpdateRelease(t.Context(), id, func(r *freight.Release) error {
		r.State = freight.ReleasePublished
		r.PublishedAt = &at
		return nil
	})
	if err != nil {
		t.Fatalf("publish release %s: %v", id, err)
	}
	return r
}

// MustYankRelease yanks the published release id or fails the test.
func MustYankRelease(t testing.TB, s freight.Store, id string, at time.Time, reason string) *freight.Release {
	t.Helper()
	r, err := s.UpdateRelease(t.Context(), id, func(r *freight.Release) error {
		r.State = freight.ReleaseYanked
		r.YankedAt = &at
		r.YankReason = reason
		return nil
	})
	if err != nil {
		t.Fatalf("yank release %s: %v", id, err)
	}
	return r
}

// MustCreateArtifact creates a or fails the test.
func MustCreateArtifact(t testing.TB, s freight.Store, a *freight.Artifact) *freight.Artifact {
	t.Helper()
	if err := s.CreateArtifact(t.Context(), a); err != nil {
		t.Fatalf("CreateArtifact(%q): %v", a.Filename, err)
	}
	return a
}

// MustCreateEntitlement creates e or fails the test.
func MustCreateEntitlement(t testing.TB, s freight.Store, e *freight.Entitlement) *freight.Entitlement {
	t.Helper()
	if err := s.CreateEntitlement(t.Context(), e); err != nil {
		t.Fatalf("CreateEntitlement(%s, %s): %v", e.OrgID, e.ProductID, err)
	}
	return e
}

// MustCreateToken creates tok or fails the test.
func MustCreateToken(t testing.TB, s freight.Store, tok *freight.Token) *freight.Token {
	t.Helper()
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken(%q): %v", tok.Name, err)
	}
	return tok
}

// MustCreateAuditEvent creates e or fails the test.
func MustCreateAuditEvent(t testing.TB, s freight.Store, e *freight.AuditEvent) *freight.AuditEvent {
	t.Helper()
	if err := s.CreateAuditEvent(t.Context(), e); err != nil {
		t.Fatalf("CreateAuditEvent(%q): %v", e.Action, err)
	}
	return e
}

// listFunc is a list method with its filter bound, taking only the page.
type listFunc[T any] func(p freight.Page) ([]T, string, error)

// collect pages through list with the given limit and returns the pages.
// It fails the test on an error, on a page larger than the limit, and on a
// cursor that does not advance.
func collect[T any](t testing.TB, limit int, list listFunc[T]) [][]T {
	t.Helper()
	var pages [][]T
	after := ""
	seen := map[string]bool{}
	for {
		got, next, err := list(freight.Page{After: after, Limit: limit})
		if err != nil {
			t.Fatalf("list page %d (After %q, Limit %d): %v", len(pages)+1, after, limit, err)
		}
		if size := (freight.Page{Limit: limit}).Size(); len(got) > size {
			t.Fatalf("list page %d has %d items, want at most %d", len(pages)+1, len(got), size)
		}
		pages = append(pages, got)
		if next == "" {
			return pages
		}
		if seen[next] {
			t.Fatalf("list page %d returned the cursor %q a second time", len(pages), next)
		}
		seen[next] = true
		if len(pages) > 1000 {
			t.Fatalf("list never ends: more than 1000 pages")
		}
		after = next
	}
}

// listAll returns every item of list, one large page at a time.
func listAll[T any](t testing.TB, list listFunc[T]) []T {
	t.Helper()
	var all []T
	for _, p := range collect(t, freight.MaxPageSize, list) {
		all = append(all, p...)
	}
	return all
}

// keys maps items to their keys (usually ids).
func keys[T any](items []T, key func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, key(it))
	}
	return out
}

// checkKeys fails the test unless list returns exactly the keys want, in
// this order.
func checkKeys[T any](t testing.TB, what string, list listFunc[T], key func(T) string, want []string) {
	t.Helper()
	got := keys(listAll(t, list), key)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got keys\n\t%q\nwant\n\t%q", what, got, want)
	}
}

// checkPaging pages through list with several limits and checks the page
// sizes, the cursors and that the pages together hold exactly the keys
// want, in order, with no duplicates.
func checkPaging[T any](t testing.TB, what string, list listFunc[T], key func(T) string, want []string) {
	t.Helper()
	limits := []int{1, 3, len(want), len(want) + 1, 0}
	slices.Sort(limits)
	for _, limit := range slices.Compact(limits) {
		size := (freight.Page{Limit: limit}).Size()
		pages := collect(t, limit, list)
		var sizes, wantSizes []int
		var got []string
		for _, p := range pages {
			sizes = append(sizes, len(p))
			got = append(got, keys(p, key)...)
		}
		for n := len(want); ; n -= size {
			if n <= size {
				// The page that holds the last item is the last page:
				// its cursor is "", even when it is full.
				wantSizes = append(wantSizes, n)
				break
			}
			wantSizes = append(wantSizes, size)
		}
		if !slices.Equal(sizes, wantSizes) {
			t.Errorf("%s, Limit %d: page sizes %v, want %v", what, limit, sizes, wantSizes)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s, Limit %d: got keys\n\t%q\nwant\n\t%q", what, limit, got, want)
		}
	}
}

// reversed returns a reversed copy of s.
func reversed[T any](s []T) []T {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func orgID(o *freight.Organization) string  { return o.ID }
func userID(u *freight.User) string         { return u.ID }
func productID(p *freight.Product) string   { return p.ID }
func releaseID(r *freight.Release) string   { return r.ID }
func artifactID(a *freight.Artifact) string { return a.ID }
func entitlementID(e *freight.Entitlement) string {
	return e.ID
}
func tokenID(tok *freight.Token) string    { return tok.ID }
func eventID(e *freight.AuditEvent) string { return e.ID }
func membershipKey(m *freight.Membership) string {
	return m.UserID + "/" + m.OrgID
}

// timeout returns a context that ends after d, for calls that could hang on
// a lock held by the test itself.
func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantSentinel fails the test unless err is errSentinel, unchanged.
func wantSentinel(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, errSentinel) {
		t.Errorf("%s: error = %v, want the error returned by fn (errors.Is)", what, err)
	}
	if got, want := freight.ErrorCode(err), freight.EFORBIDDEN; got != want {
		t.Errorf("%s: ErrorCode = %q, want %q: the error of fn must come back unchanged", what, got, want)
	}
}
