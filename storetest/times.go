package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// Every time a store returns is in UTC at microsecond precision (the
// precision of PostgreSQL), whatever zone the caller wrote it in and
// whatever the zone of the machine: JSON output and comparisons then do
// not depend on where the server runs or on the backend.
func testTimesUTCMicroseconds(t *testing.T, s freight.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC-3", -3*3600)
	at := ts(time.Hour).In(zone)

	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := newUser("ann@example.com")
	u.Security = fullSecurity(zone)
	MustCreateUser(t, s, u)
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	MustPublishRelease(t, s, r.ID, at)
	MustYankRelease(t, s, r.ID, at.Add(time.Hour), "bad")
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
	up := newUpload(a.ID)
	up.ExpiresAt = at.Add(24 * time.Hour)
	MustCreateUpload(t, s, up)
	e := newEntitlement(o.ID, p.ID)
	e.MaintenanceUntil, e.NotBefore, e.NotAfter = ptr(at), ptr(at.Add(-time.Hour)), ptr(at.Add(time.Hour))
	MustCreateEntitlement(t, s, e)
	tok := newUserToken("ci", u.ID, o.ID)
	tok.ExpiresAt = ptr(at.Add(24 * time.Hour))
	MustCreateToken(t, s, tok)
	noErr(t, "TouchToken", s.TouchToken(ctx, tok.ID, at))
	_, err := s.RevokeToken(ctx, tok.ID, at.Add(time.Minute))
	noErr(t, "RevokeToken", err)
	MustCreateAuditEvent(t, s, &freight.AuditEvent{Time: at, Actor: "system", Action: "test", Details: json.RawMessage(`{}`)})
	MustCreateAuditEvent(t, s, &freight.AuditEvent{Actor: "system", Action: "test.now"})
	x := newSession(u.ID, o.ID, at.Add(12*time.Hour))
	x.LastSeenAt = at
	MustCreateSession(t, s, x)
	tk := MustCreateTicket(t, s, newTicket(freight.TicketReset, u.Email, u.ID))
	_, err = s.UseTicket(ctx, tk.ID, at)
	noErr(t, "UseTicket", err)
	noErr(t, "CreateIdentity", s.CreateIdentity(ctx, &freight.Identity{Issuer: "https://idp.example.com", Subject: "ann", UserID: u.ID}))
	_, err = s.UpdateSettings(ctx, func(x *freight.Settings) error { x.RequireVendorMFA = true; return nil })
	noErr(t, "UpdateSettings", err)

	var objects []any
	add := func(v any, err error) {
		t.Helper()
		noErr(t, "read back", err)
		objects = append(objects, v)
	}
	add(s.Organization(ctx, o.ID))
	add(s.User(ctx, u.ID))
	add(s.Product(ctx, p.ID))
	add(s.Release(ctx, r.ID))
	add(s.Artifact(ctx, a.ID))
	add(s.Entitlement(ctx, e.ID))
	add(s.Token(ctx, tok.ID))
	add(s.Upload(ctx, up.ID))
	add(s.Session(ctx, x.ID))
	add(s.Ticket(ctx, tk.ID))
	add(s.Identity(ctx, "https://idp.example.com", "ann"))
	add(s.Settings(ctx))
	for _, m := range listAll(t, membershipList(t, s, freight.MembershipFilter{})) {
		objects = append(objects, m)
	}
	for _, ev := range listAll(t, auditList(t, s, freight.AuditFilter{})) {
		objects = append(objects, ev)
	}
	n := 0
	for _, obj := range objects {
		for name, tm := range timesOf(obj) {
			n++
			if tm.Location() != time.UTC {
				t.Errorf("%s = %v is in zone %q, want UTC", name, tm, tm.Location())
			}
			if tm.Nanosecond()%1000 != 0 {
				t.Errorf("%s = %v has nanoseconds, want microsecond precision", name, tm)
			}
		}
	}
	// Organization 2, User 2+4, Product 2, Release 4, Artifact 2,
	// Entitlement 5, Token 4, Upload 3, Session 3, Ticket 3, Identity 1,
	// Settings 1, Membership 1, AuditEvent 1+1.
	if want := 39; n != want {
		t.Errorf("checked %d times, want %d: a time field came back nil", n, want)
	}
}
