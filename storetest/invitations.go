package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var invitationTests = []subtest{
	{"Pending", testInvitationsPending},
	{"Paging", testInvitationsPaging},
	{"StoreClock", testInvitationsStoreClock},
	{"Errors", testInvitationsErrors},
	{"Revoke", testTicketRevoke},
	{"RevokeUsed", testTicketRevokeUsed},
	{"RevokeUseConcurrent", testTicketRevokeUseConcurrent},
}

func invitationList(t testing.TB, s freight.Store, f freight.InvitationFilter) listFunc[*freight.Ticket] {
	return func(p freight.Page) ([]*freight.Ticket, string, error) {
		f.Page = p
		return s.Invitations(t.Context(), f)
	}
}

func ticketID(t *freight.Ticket) string { return t.ID }

// An organization's pending invitations are its own that are unused, not
// withdrawn and not expired at the filter's time; nothing of another
// organization, no staff invitation, no other kind of ticket.
func testInvitationsPending(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	empty := MustCreateOrganization(t, s, newOrg("initech"))
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	now := ts(0)

	a1 := MustCreateTicket(t, s, newInvite("one@acme.example", acme.ID))
	settle()
	used := MustCreateTicket(t, s, newInvite("used@acme.example", acme.ID))
	_, err := s.UseTicket(ctx, used.ID, now.Add(-time.Minute))
	noErr(t, "UseTicket", err)
	settle()
	revoked := MustCreateTicket(t, s, newInvite("revoked@acme.example", acme.ID))
	_, err = s.RevokeTicket(ctx, revoked.ID, now.Add(-time.Minute))
	noErr(t, "RevokeTicket", err)
	settle()
	expired := newInvite("expired@acme.example", acme.ID)
	expired.ExpiresAt = now.Add(-time.Second)
	MustCreateTicket(t, s, expired)
	settle()
	// Expiring at the very instant of the filter: no longer pending.
	edge := newInvite("edge@acme.example", acme.ID)
	edge.ExpiresAt = now
	MustCreateTicket(t, s, edge)
	settle()
	admin := newInvite("admin@acme.example", acme.ID)
	admin.Role = freight.RoleOrgAdmin
	admin.CreatedBy = ann.ID
	MustCreateTicket(t, s, admin)
	settle()
	// An existing person's invitation names the user as well.
	existing := newInvite(ann.Email, acme.ID)
	existing.UserID = ann.ID
	MustCreateTicket(t, s, existing)
	settle()
	g1 := MustCreateTicket(t, s, newInvite("one@globex.example", globex.ID))
	settle()
	staff := newTicket(freight.TicketInvite, "staff@vendor.example", "")
	staff.VendorRole = freight.RoleSupport
	MustCreateTicket(t, s, staff)
	// Other kinds are never invitations.
	MustCreateTicket(t, s, newTicket(freight.TicketReset, ann.Email, ann.ID))
	MustCreateTicket(t, s, newTicket(freight.TicketVerify, ann.Email, ann.ID))

	list, _, err := s.Invitations(ctx, freight.InvitationFilter{OrgID: acme.ID, Now: now})
	noErr(t, "Invitations(acme)", err)
	want := []*freight.Ticket{a1, admin, existing}
	if len(list) != len(want) {
		t.Fatalf("Invitations(acme) = %q, want %q", keys(list, ticketID), keys(want, ticketID))
	}
	for i := range want {
		checkSame(t, fmt.Sprintf("Invitations(acme)[%d]", i), list[i], want[i])
	}
	checkKeys(t, "Invitations(globex)", invitationList(t, s, freight.InvitationFilter{OrgID: globex.ID, Now: now}), ticketID, []string{g1.ID})
	checkKeys(t, "Invitations(no invitations)", invitationList(t, s, freight.InvitationFilter{OrgID: empty.ID, Now: now}), ticketID, []string{})
	checkKeys(t, "Invitations(every organization)", invitationList(t, s, freight.InvitationFilter{Now: now}), ticketID,
		[]string{a1.ID, admin.ID, existing.ID, g1.ID, staff.ID})

	// An hour earlier, the expired ones were pending still; the used and
	// withdrawn ones stay out whatever the time.
	checkKeys(t, "Invitations(acme, an hour earlier)", invitationList(t, s, freight.InvitationFilter{OrgID: acme.ID, Now: now.Add(-time.Hour)}), ticketID,
		[]string{a1.ID, expired.ID, edge.ID, admin.ID, existing.ID})
	// Past every expiry: nothing.
	checkKeys(t, "Invitations(acme, after every expiry)", invitationList(t, s, freight.InvitationFilter{OrgID: acme.ID, Now: now.Add(2 * time.Hour)}), ticketID,
		[]string{})
}

func testInvitationsPaging(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	other := MustCreateOrganization(t, s, newOrg("globex"))
	var want []string
	for i := range 7 {
		want = append(want, MustCreateTicket(t, s, newInvite(fmt.Sprintf("p%d@acme.example", i), acme.ID)).ID)
		// Interleaved: another organization's, and a withdrawn one.
		MustCreateTicket(t, s, newInvite(fmt.Sprintf("p%d@globex.example", i), other.ID))
		gone := MustCreateTicket(t, s, newInvite(fmt.Sprintf("gone%d@acme.example", i), acme.ID))
		_, err := s.RevokeTicket(t.Context(), gone.ID, ts(0))
		noErr(t, "RevokeTicket", err)
		settle()
	}
	checkPaging(t, "Invitations(acme)", invitationList(t, s, freight.InvitationFilter{OrgID: acme.ID, Now: ts(0)}), ticketID, want)
}

// A zero Now is the store's own clock.
func testInvitationsStoreClock(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	past := MustCreateTicket(t, s, newInvite("past@acme.example", acme.ID))
	future := newInvite("future@acme.example", acme.ID)
	future.ExpiresAt = time.Now().Add(24 * time.Hour)
	MustCreateTicket(t, s, future)
	if past.ExpiresAt.After(time.Now()) {
		t.Fatalf("the fixed test time %v is not in the past", past.ExpiresAt)
	}
	checkKeys(t, "Invitations(zero Now)", invitationList(t, s, freight.InvitationFilter{OrgID: acme.ID}), ticketID, []string{future.ID})
}

func testInvitationsErrors(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	MustCreateTicket(t, s, newInvite("one@acme.example", acme.ID))
	got, _, err := s.Invitations(ctx, freight.InvitationFilter{OrgID: missingID(freight.PrefixOrganization), Now: ts(0)})
	wantCode(t, "Invitations(missing organization)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Invitations(missing organization) = %v, want nil", got)
	}
	for _, after := range []string{"nope", missingID(freight.PrefixToken)} {
		_, _, err = s.Invitations(ctx, freight.InvitationFilter{OrgID: acme.ID, Now: ts(0), Page: freight.Page{After: after}})
		wantCode(t, "Invitations(After "+after+")", err, freight.EINVALID)
	}
	_, err = s.RevokeTicket(ctx, missingID(freight.PrefixTicket), ts(0))
	wantCode(t, "RevokeTicket(missing)", err, freight.ENOTFOUND)
	_, err = s.RevokeTicket(ctx, "nope", ts(0))
	wantCode(t, "RevokeTicket(malformed)", err, freight.ENOTFOUND)
}

// A withdrawn ticket cannot be used; withdrawing it again keeps the first
// time; nothing else moves.
func testTicketRevoke(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	tk := MustCreateTicket(t, s, newInvite("new@acme.example", acme.ID))
	keep := MustCreateTicket(t, s, newInvite("keep@acme.example", acme.ID))

	at := ts(0)
	got, err := s.RevokeTicket(ctx, tk.ID, at)
	noErr(t, "RevokeTicket", err)
	want := *tk
	want.RevokedAt = &at
	checkSame(t, "RevokeTicket result", got, &want)
	stored, err := s.Ticket(ctx, tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket after RevokeTicket", stored, &want)

	again, err := s.RevokeTicket(ctx, tk.ID, ts(time.Hour))
	noErr(t, "RevokeTicket again", err)
	checkSame(t, "RevokeTicket again (the first time stays)", again, &want)

	used, err := s.UseTicket(ctx, tk.ID, ts(time.Minute))
	wantCode(t, "UseTicket of a withdrawn ticket", err, freight.ECONFLICT)
	if used != nil {
		t.Errorf("UseTicket of a withdrawn ticket = %+v, want nil", used)
	}
	stored, err = s.Ticket(ctx, tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket after a refused use", stored, &want)
	other, err := s.Ticket(ctx, keep.ID)
	noErr(t, "Ticket(other)", err)
	checkSame(t, "the other ticket", other, keep)

	// Any kind of ticket can be withdrawn, and then not used.
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	reset := MustCreateTicket(t, s, newTicket(freight.TicketReset, u.Email, u.ID))
	_, err = s.RevokeTicket(ctx, reset.ID, at)
	noErr(t, "RevokeTicket(reset)", err)
	_, err = s.UseTicket(ctx, reset.ID, at)
	wantCode(t, "UseTicket of a withdrawn reset", err, freight.ECONFLICT)
}

// A used ticket cannot be withdrawn: the refusal changes nothing.
func testTicketRevokeUsed(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	tk := MustCreateTicket(t, s, newInvite("new@acme.example", acme.ID))
	usedAt := ts(-time.Minute)
	want, err := s.UseTicket(ctx, tk.ID, usedAt)
	noErr(t, "UseTicket", err)
	got, err := s.RevokeTicket(ctx, tk.ID, ts(0))
	wantCode(t, "RevokeTicket of a used ticket", err, freight.ECONFLICT)
	if got != nil {
		t.Errorf("RevokeTicket of a used ticket = %+v, want nil", got)
	}
	stored, err := s.Ticket(ctx, tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket after a refused withdrawal", stored, want)
}

// A withdrawal racing uses of the same link: exactly one of them wins,
// and the ticket ends either used or withdrawn, never both.
func testTicketRevokeUseConcurrent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	const rounds, n = 5, 6
	for r := range rounds {
		tk := MustCreateTicket(t, s, newInvite(fmt.Sprintf("r%d@acme.example", r), acme.ID))
		errs := make([]error, n)
		run(n, func(i int) {
			if i%2 == 0 {
				_, errs[i] = s.RevokeTicket(ctx, tk.ID, ts(0))
			} else {
				_, errs[i] = s.UseTicket(ctx, tk.ID, ts(0))
			}
		})
		var revokes, uses int
		for i, err := range errs {
			switch freight.ErrorCode(err) {
			case "":
				if i%2 == 0 {
					revokes++
				} else {
					uses++
				}
			case freight.ECONFLICT:
			default:
				t.Errorf("round %d: call %d: %v (code %q), want success or %q", r, i, err, freight.ErrorCode(err), freight.ECONFLICT)
			}
		}
		stored, err := s.Ticket(ctx, tk.ID)
		noErr(t, "Ticket", err)
		switch {
		case uses == 1 && revokes == 0:
			if stored.UsedAt == nil || stored.RevokedAt != nil {
				t.Errorf("round %d: a use won, but UsedAt %v, RevokedAt %v", r, stored.UsedAt, stored.RevokedAt)
			}
		case uses == 0 && revokes > 0:
			// Withdrawing is idempotent: every withdrawal may succeed.
			if stored.UsedAt != nil || stored.RevokedAt == nil {
				t.Errorf("round %d: withdrawals won, but UsedAt %v, RevokedAt %v", r, stored.UsedAt, stored.RevokedAt)
			}
		default:
			t.Errorf("round %d: %d uses and %d withdrawals succeeded, want one use or only withdrawals", r, uses, revokes)
		}
	}
}
