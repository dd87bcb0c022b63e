package storetest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var concurrencyTests = []subtest{
	{"UpdateSerialized", testConcurrentUpdateSerialized},
	{"CreateSameSlug", testConcurrentCreateSameSlug},
	{"PutMembership", testConcurrentPutMembership},
	{"PutMembershipSameRow", testConcurrentPutMembershipSameRow},
	{"AuditEvents", testConcurrentAuditEvents},
	{"TxReadModifyWrite", testConcurrentTxReadModifyWrite},
	{"MixedWriters", testConcurrentMixedWriters},
	{"UserSecurityCounters", testConcurrentUserSecurityCounters},
}

// Failed sign-ins from many places at once, as in a password-spraying
// attack: every failure counts. 10 goroutines × 10 failures increment
// Failures and MFAFailures through UpdateUser; a lost update lets an
// attacker try more often than the lockout allows.
func testConcurrentUserSecurityCounters(t *testing.T, s freight.Store) {
	const goroutines, updates = 10, 10
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	run(goroutines, func(i int) {
		for j := range updates {
			_, err := s.UpdateUser(t.Context(), u.ID, func(c *freight.User) error {
				c.Security.Failures++
				c.Security.MFAFailures += 2
				at := ts(time.Duration(i*updates+j) * time.Second)
				if at.After(c.Security.LastFailure) {
					c.Security.LastFailure = at
				}
				return nil
			})
			if err != nil {
				t.Errorf("UpdateUser: %v (code %q)", err, freight.ErrorCode(err))
				return
			}
		}
	})
	got, err := s.User(t.Context(), u.ID)
	noErr(t, "User", err)
	if n := goroutines * updates; got.Security.Failures != n || got.Security.MFAFailures != 2*n {
		t.Errorf("Failures, MFAFailures after %d concurrent failures = %d, %d; want %d, %d (updates were lost)",
			n, got.Security.Failures, got.Security.MFAFailures, n, 2*n)
	}
	if want := ts(time.Duration(goroutines*updates-1) * time.Second); !got.Security.LastFailure.Equal(want) {
		t.Errorf("LastFailure = %v, want the latest %v", got.Security.LastFailure, want)
	}
}

// run starts n goroutines at once (they wait for each other to be ready, so
// that they really overlap) and waits for them all.
func run(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		done.Go(func() {
			ready.Done()
			<-start
			fn(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// UpdateOrganization serializes concurrent updates of one row, so that a
// read-modify-write in fn loses nothing. 20 goroutines × 10 updates each
// increment a counter kept in Name; any lost update leaves it short of 200,
// and any error ("database is locked", a serialization failure) is a
// failure: callers are promised that the store handles the contention.
func testConcurrentUpdateSerialized(t *testing.T, s freight.Store) {
	const goroutines, updates = 20, 10
	o := MustCreateOrganization(t, s, &freight.Organization{Slug: "counter", Name: "0"})
	run(goroutines, func(int) {
		for range updates {
			_, err := s.UpdateOrganization(t.Context(), o.ID, func(c *freight.Organization) error {
				n, err := strconv.Atoi(c.Name)
				if err != nil {
					return fmt.Errorf("counter %q: %w", c.Name, err)
				}
				c.Name = strconv.Itoa(n + 1)
				return nil
			})
			if err != nil {
				t.Errorf("UpdateOrganization: %v (code %q)", err, freight.ErrorCode(err))
				return
			}
		}
	})
	got, err := s.Organization(t.Context(), o.ID)
	noErr(t, "Organization", err)
	if want := strconv.Itoa(goroutines * updates); got.Name != want {
		t.Errorf("counter after %d concurrent updates = %s, want %s (updates were lost)", goroutines*updates, got.Name, want)
	}
}

// Concurrent creates of one slug: exactly one wins, every other one is a
// conflict (not an internal error, not a lock timeout).
func testConcurrentCreateSameSlug(t *testing.T, s freight.Store) {
	const n = 10
	errs := make([]error, n)
	orgs := make([]*freight.Organization, n)
	run(n, func(i int) {
		orgs[i] = &freight.Organization{Slug: "acme", Name: fmt.Sprintf("Acme %d", i)}
		errs[i] = s.CreateOrganization(t.Context(), orgs[i])
	})
	var winners []int
	for i, err := range errs {
		switch freight.ErrorCode(err) {
		case "":
			winners = append(winners, i)
		case freight.ECONFLICT:
		default:
			t.Errorf("CreateOrganization %d: %v (code %q), want success or %q", i, err, freight.ErrorCode(err), freight.ECONFLICT)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d concurrent creates of one slug succeeded, want exactly 1", len(winners))
	}
	got, err := s.OrganizationBySlug(t.Context(), "acme")
	noErr(t, "OrganizationBySlug", err)
	checkSame(t, "the organization that won", got, orgs[winners[0]])
	if n := len(listAll(t, orgList(t, s, freight.OrganizationFilter{}))); n != 1 {
		t.Errorf("Organizations = %d, want 1", n)
	}
}

// Parallel PutMembership writers, on distinct rows of shared users and
// organizations: no errors, every row present with its last role.
func testConcurrentPutMembership(t *testing.T, s freight.Store) {
	const users, orgs = 10, 5
	var us []*freight.User
	var os []*freight.Organization
	for i := range users {
		us = append(us, MustCreateUser(t, s, newUser(fmt.Sprintf("user%d@example.com", i))))
	}
	for j := range orgs {
		os = append(os, MustCreateOrganization(t, s, newOrg(fmt.Sprintf("org-%d", j))))
	}
	run(users, func(i int) {
		for _, role := range []freight.Role{freight.RoleMember, freight.RoleOrgAdmin} {
			for j := range orgs {
				m := &freight.Membership{UserID: us[i].ID, OrgID: os[j].ID, Role: role}
				if err := s.PutMembership(t.Context(), m); err != nil {
					t.Errorf("PutMembership(user %d, org %d, %s): %v (code %q)", i, j, role, err, freight.ErrorCode(err))
				}
			}
		}
	})
	all := listAll(t, membershipList(t, s, freight.MembershipFilter{}))
	if len(all) != users*orgs {
		t.Errorf("Memberships = %d, want %d", len(all), users*orgs)
	}
	for _, m := range all {
		if m.Role != freight.RoleOrgAdmin {
			t.Errorf("membership %s has role %q, want the last one put, %q", membershipKey(m), m.Role, freight.RoleOrgAdmin)
		}
	}
	for _, o := range os {
		if n := len(listAll(t, userList(t, s, freight.UserFilter{OrgID: o.ID}))); n != users {
			t.Errorf("Users(OrgID %s) = %d, want %d", o.Slug, n, users)
		}
	}
}

// Concurrent puts of one membership (an upsert race): no errors, one row.
func testConcurrentPutMembershipSameRow(t *testing.T, s freight.Store) {
	const n = 10
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	o := MustCreateOrganization(t, s, newOrg("acme"))
	run(n, func(i int) {
		role := freight.RoleMember
		if i%2 == 1 {
			role = freight.RoleOrgAdmin
		}
		if err := s.PutMembership(t.Context(), &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: role}); err != nil {
			t.Errorf("PutMembership %d: %v (code %q)", i, err, freight.ErrorCode(err))
		}
	})
	all := listAll(t, membershipList(t, s, freight.MembershipFilter{}))
	if len(all) != 1 {
		t.Fatalf("Memberships after %d concurrent puts of one = %d, want 1", n, len(all))
	}
	if r := all[0].Role; r != freight.RoleMember && r != freight.RoleOrgAdmin {
		t.Errorf("Role = %q, want one of the roles put", r)
	}
}

// Parallel audit writers: no errors, every event present once.
func testConcurrentAuditEvents(t *testing.T, s freight.Store) {
	const writers, events = 10, 20
	ids := make([][]string, writers)
	run(writers, func(i int) {
		for j := range events {
			e := newEvent(fmt.Sprintf("test.%d.%d", i, j), time.Time{})
			e.Actor = fmt.Sprintf("writer-%d", i)
			if err := s.CreateAuditEvent(t.Context(), e); err != nil {
				t.Errorf("CreateAuditEvent(writer %d, event %d): %v (code %q)", i, j, err, freight.ErrorCode(err))
				continue
			}
			ids[i] = append(ids[i], e.ID)
		}
	})
	want := map[string]bool{}
	for _, w := range ids {
		for _, id := range w {
			if want[id] {
				t.Errorf("two events got the id %s", id)
			}
			want[id] = true
		}
	}
	// Page through with a small limit while the ids are many and close in
	// time, to check that keyset paging neither skips nor repeats events.
	got := map[string]bool{}
	for _, page := range collect(t, 7, auditList(t, s, freight.AuditFilter{})) {
		for _, e := range page {
			if got[e.ID] {
				t.Errorf("event %s listed twice", e.ID)
			}
			got[e.ID] = true
		}
	}
	if len(got) != writers*events {
		t.Errorf("AuditEvents = %d, want %d", len(got), writers*events)
	}
	for id := range want {
		if !got[id] {
			t.Errorf("event %s created but not listed", id)
		}
	}
	for i := range writers {
		actor := fmt.Sprintf("writer-%d", i)
		if n := len(listAll(t, auditList(t, s, freight.AuditFilter{Actor: actor}))); n != events {
			t.Errorf("AuditEvents(Actor %s) = %d, want %d", actor, n, events)
		}
	}
}

// Concurrent transactions that read, then write (a read snapshot upgraded
// to a write is where SQLite answers "database is locked" and PostgreSQL
// may report a serialization failure): every transaction commits, nothing
// is lost.
func testConcurrentTxReadModifyWrite(t *testing.T, s freight.Store) {
	const goroutines, txs = 10, 5
	o := MustCreateOrganization(t, s, &freight.Organization{Slug: "counter", Name: "0"})
	run(goroutines, func(i int) {
		for j := range txs {
			err := s.Tx(t.Context(), func(tx freight.Store) error {
				if _, err := tx.Organization(t.Context(), o.ID); err != nil {
					return err
				}
				if _, err := tx.UpdateOrganization(t.Context(), o.ID, func(c *freight.Organization) error {
					n, err := strconv.Atoi(c.Name)
					if err != nil {
						return err
					}
					c.Name = strconv.Itoa(n + 1)
					return nil
				}); err != nil {
					return err
				}
				e := newEvent("counter.increment", time.Time{})
				e.Actor = fmt.Sprintf("writer-%d", i)
				return tx.CreateAuditEvent(t.Context(), e)
			})
			if err != nil {
				t.Errorf("Tx %d.%d: %v (code %q)", i, j, err, freight.ErrorCode(err))
			}
		}
	})
	got, err := s.Organization(t.Context(), o.ID)
	noErr(t, "Organization", err)
	if want := strconv.Itoa(goroutines * txs); got.Name != want {
		t.Errorf("counter after %d concurrent transactions = %s, want %s", goroutines*txs, got.Name, want)
	}
	if n := len(listAll(t, auditList(t, s, freight.AuditFilter{Action: "counter.increment"}))); n != goroutines*txs {
		t.Errorf("AuditEvents of the transactions = %d, want %d", n, goroutines*txs)
	}
}

// Writers of every kind at once, with readers listing meanwhile: no errors.
func testConcurrentMixedWriters(t *testing.T, s freight.Store) {
	const n = 8
	p := MustCreateProduct(t, s, newProduct("widget"))
	run(n, func(i int) {
		ctx := t.Context()
		fail := func(what string, err error) bool {
			if err != nil {
				t.Errorf("goroutine %d: %s: %v (code %q)", i, what, err, freight.ErrorCode(err))
				return true
			}
			return false
		}
		o := newOrg(fmt.Sprintf("org-%d", i))
		if fail("CreateOrganization", s.CreateOrganization(ctx, o)) {
			return
		}
		u := newUser(fmt.Sprintf("user%d@example.com", i))
		if fail("CreateUser", s.CreateUser(ctx, u)) {
			return
		}
		fail("PutMembership", s.PutMembership(ctx, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember}))
		fail("CreateEntitlement", s.CreateEntitlement(ctx, newEntitlement(o.ID, p.ID)))
		r := newRelease(p.ID, fmt.Sprintf("1.0.%d", i))
		if fail("CreateRelease", s.CreateRelease(ctx, r)) {
			return
		}
		fail("CreateArtifact", s.CreateArtifact(ctx, newArtifact(r.ID, "widget.tar.gz")))
		tok := newUserToken("ci", u.ID, o.ID)
		fail("CreateToken", s.CreateToken(ctx, tok))
		fail("TouchToken", s.TouchToken(ctx, tok.ID, time.Now()))
		_, _, err := s.Releases(ctx, freight.ReleaseFilter{ProductID: p.ID})
		fail("Releases", err)
		_, _, err = s.Users(ctx, freight.UserFilter{OrgID: o.ID})
		fail("Users", err)
		if i%2 == 0 {
			fail("DeleteRelease", s.DeleteRelease(ctx, r.ID))
		} else {
			_, err := s.UpdateRelease(ctx, r.ID, func(c *freight.Release) error {
				c.State, c.PublishedAt = freight.ReleasePublished, ptr(time.Now())
				return nil
			})
			fail("UpdateRelease", err)
		}
	})
	if got, want := len(listAll(t, releaseList(t, s, freight.ReleaseFilter{ProductID: p.ID}))), n/2; got != want {
		t.Errorf("Releases = %d, want %d", got, want)
	}
	if got, want := len(listAll(t, entitlementList(t, s, freight.EntitlementFilter{ProductID: p.ID}))), n; got != want {
		t.Errorf("Entitlements = %d, want %d", got, want)
	}
	if got, want := len(listAll(t, tokenList(t, s, freight.TokenFilter{}))), n; got != want {
		t.Errorf("Tokens = %d, want %d", got, want)
	}
}
