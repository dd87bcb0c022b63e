package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var ticketTests = []subtest{
	{"CreateGet", testTicketCreateGet},
	{"GeneratedID", testTicketGeneratedID},
	{"DuplicateID", testTicketDuplicateID},
	{"Invalid", testTicketInvalid},
	{"MissingParents", testTicketMissingParents},
	{"NotFound", testTicketNotFound},
	{"Use", testTicketUse},
	{"UseConcurrent", testTicketUseConcurrent},
	{"Expire", testTicketExpire},
	{"Cascade", testTicketCascade},
	{"CLI", testTicketCLI},
}

// newTicket returns a ticket of the kind for the user, made the way the
// server makes one.
func newTicket(kind freight.TicketKind, email, userID string) *freight.Ticket {
	id, _, hash := freight.NewTicketSecret(time.Now())
	return &freight.Ticket{ID: id, Kind: kind, Email: email, UserID: userID, CreatedBy: "system", ExpiresAt: ts(time.Hour), SecretHash: hash}
}

// newInvite returns an invitation of email to the organization as a member.
func newInvite(email, orgID string) *freight.Ticket {
	t := newTicket(freight.TicketInvite, email, "")
	t.OrgID, t.Role = orgID, freight.RoleMember
	return t
}

// MustCreateTicket creates tk or fails the test.
func MustCreateTicket(t testing.TB, s freight.Store, tk *freight.Ticket) *freight.Ticket {
	t.Helper()
	if err := s.CreateTicket(t.Context(), tk); err != nil {
		t.Fatalf("CreateTicket(%s, %s): %v", tk.Kind, tk.Email, err)
	}
	return tk
}

func testTicketCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	admin := MustCreateUser(t, s, &freight.User{Email: "admin@example.com", VendorRole: freight.RoleAdmin})
	u := MustCreateUser(t, s, newUser("ann@example.com"))

	id, secret, hash := freight.NewTicketSecret(time.Now())
	inv := &freight.Ticket{
		ID: id, Kind: freight.TicketInvite, Email: "  New.Person@Example.COM ", OrgID: o.ID, Role: freight.RoleOrgAdmin,
		CreatedBy: admin.ID, ExpiresAt: ts(7 * 24 * time.Hour), SecretHash: hash,
	}
	if err := s.CreateTicket(ctx, inv); err != nil {
		t.Fatalf("CreateTicket(invite): %v", err)
	}
	if inv.ID != id {
		t.Errorf("ID after create = %q, want the id of the secret %q", inv.ID, id)
	}
	if got, want := inv.Email, "new.person@example.com"; got != want {
		t.Errorf("Email after create = %q, want %q (normalised)", got, want)
	}
	checkCreated(t, "CreateTicket", freight.PrefixTicket, inv.ID, inv.CreatedAt, nil)
	got, err := s.Ticket(ctx, id)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket(invite)", got, inv)
	if got.UserID != "" || got.UsedAt != nil || got.VendorRole != "" {
		t.Errorf("invite UserID, UsedAt, VendorRole = %q, %v, %q; want empty", got.UserID, got.UsedAt, got.VendorRole)
	}
	pid, phash, ok := freight.ParseTicketSecret(secret)
	if !ok || pid != id || !freight.MatchSecretHash(got.SecretHash, phash) {
		t.Errorf("the link's secret does not find and match the stored ticket (id %q, ok %v)", pid, ok)
	}

	// The caller's byte slice is not shared with the store.
	want := bytes.Clone(hash)
	hash[0] ^= 0xff
	again, err := s.Ticket(ctx, id)
	noErr(t, "Ticket", err)
	if !bytes.Equal(again.SecretHash, want) {
		t.Errorf("SecretHash after the caller changed its slice = %x, want %x", again.SecretHash, want)
	}

	// An invitation to the vendor's staff, a verification and a reset.
	staff := newTicket(freight.TicketInvite, "staff@example.com", "")
	staff.VendorRole = freight.RolePublisher
	for _, tk := range []*freight.Ticket{
		staff,
		newTicket(freight.TicketVerify, u.Email, u.ID),
		newTicket(freight.TicketReset, u.Email, u.ID),
	} {
		MustCreateTicket(t, s, tk)
		got, err := s.Ticket(ctx, tk.ID)
		noErr(t, "Ticket", err)
		checkSame(t, "Ticket("+string(tk.Kind)+")", got, tk)
	}
}

func testTicketGeneratedID(t *testing.T, s freight.Store) {
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	tk := newTicket(freight.TicketVerify, u.Email, u.ID)
	tk.ID = ""
	MustCreateTicket(t, s, tk)
	checkCreated(t, "CreateTicket without an id", freight.PrefixTicket, tk.ID, tk.CreatedAt, nil)
	got, err := s.Ticket(t.Context(), tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket(generated id)", got, tk)
}

func testTicketDuplicateID(t *testing.T, s freight.Store) {
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	first := MustCreateTicket(t, s, newTicket(freight.TicketReset, u.Email, u.ID))
	dup := newTicket(freight.TicketVerify, u.Email, u.ID)
	dup.ID = first.ID
	wantCode(t, "CreateTicket with a taken id", s.CreateTicket(t.Context(), dup), freight.ECONFLICT)
	got, err := s.Ticket(t.Context(), first.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "the first ticket after the conflict", got, first)
}

func testTicketInvalid(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	var made []string
	mk := func(mod func(*freight.Ticket)) *freight.Ticket {
		tk := newTicket(freight.TicketReset, u.Email, u.ID)
		mod(tk)
		made = append(made, tk.ID)
		return tk
	}
	for name, tk := range map[string]*freight.Ticket{
		"unknown kind":        mk(func(tk *freight.Ticket) { tk.Kind = "login" }),
		"reset without user":  mk(func(tk *freight.Ticket) { tk.UserID = "" }),
		"verify without user": mk(func(tk *freight.Ticket) { tk.Kind, tk.UserID = freight.TicketVerify, "" }),
		"invite to nothing":   mk(func(tk *freight.Ticket) { tk.Kind = freight.TicketInvite }),
		"invite to org and vendor": mk(func(tk *freight.Ticket) {
			tk.Kind, tk.OrgID, tk.Role, tk.VendorRole = freight.TicketInvite, o.ID, freight.RoleMember, freight.RoleAdmin
		}),
		"invite with a vendor role": mk(func(tk *freight.Ticket) { tk.Kind, tk.OrgID, tk.Role = freight.TicketInvite, o.ID, freight.RoleAdmin }),
		"invite to a bad role":      mk(func(tk *freight.Ticket) { tk.Kind, tk.VendorRole = freight.TicketInvite, freight.RoleMember }),
		"bad email":                 mk(func(tk *freight.Ticket) { tk.Email = "ann" }),
		"short hash":                mk(func(tk *freight.Ticket) { tk.SecretHash = tk.SecretHash[:31] }),
		"no expiry":                 mk(func(tk *freight.Ticket) { tk.ExpiresAt = time.Time{} }),
		"malformed user id":         mk(func(tk *freight.Ticket) { tk.UserID = "ann" }),
		"malformed org id": mk(func(tk *freight.Ticket) {
			tk.Kind, tk.UserID, tk.OrgID, tk.Role = freight.TicketInvite, "", "acme", freight.RoleMember
		}),
		"malformed id": mk(func(tk *freight.Ticket) { tk.ID = "tkt_" }),
	} {
		wantCode(t, "CreateTicket with "+name, s.CreateTicket(t.Context(), tk), freight.EINVALID)
	}
	for _, id := range made {
		_, err := s.Ticket(t.Context(), id)
		wantCode(t, "Ticket after an invalid create", err, freight.ENOTFOUND)
	}
}

func testTicketMissingParents(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	missingUser := newTicket(freight.TicketReset, "ghost@example.com", missingID(freight.PrefixUser))
	wantCode(t, "CreateTicket(missing user)", s.CreateTicket(ctx, missingUser), freight.ENOTFOUND)
	missingOrg := newInvite("new@example.com", missingID(freight.PrefixOrganization))
	wantCode(t, "CreateTicket(missing organization)", s.CreateTicket(ctx, missingOrg), freight.ENOTFOUND)
	both := newInvite(u.Email, missingID(freight.PrefixOrganization))
	both.UserID = u.ID
	wantCode(t, "CreateTicket(user, missing organization)", s.CreateTicket(ctx, both), freight.ENOTFOUND)
	for _, tk := range []*freight.Ticket{missingUser, missingOrg, both} {
		_, err := s.Ticket(ctx, tk.ID)
		wantCode(t, "Ticket after a refused create", err, freight.ENOTFOUND)
	}
}

func testTicketNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	MustCreateTicket(t, s, newTicket(freight.TicketReset, u.Email, u.ID))
	id := missingID(freight.PrefixTicket)
	got, err := s.Ticket(ctx, id)
	wantCode(t, "Ticket(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Ticket(missing) = %+v, want nil", got)
	}
	got, err = s.UseTicket(ctx, id, ts(0))
	wantCode(t, "UseTicket(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("UseTicket(missing) = %+v, want nil", got)
	}
	_, err = s.UseTicket(ctx, "nope", ts(0))
	wantCode(t, "UseTicket(malformed)", err, freight.ENOTFOUND)
	wantCode(t, "ExpireTickets(missing user)", s.ExpireTickets(ctx, missingID(freight.PrefixUser), freight.TicketReset, ts(0)), freight.ENOTFOUND)
	wantCode(t, "ExpireTickets(unknown kind)", s.ExpireTickets(ctx, u.ID, "login", ts(0)), freight.EINVALID)
	// A user without tickets of the kind: nothing to do, no error.
	noErr(t, "ExpireTickets(no tickets)", s.ExpireTickets(ctx, u.ID, freight.TicketVerify, ts(0)))
}

// UseTicket marks the ticket used once; a second use is a conflict that
// changes nothing. Expiry is the caller's to check, so an expired ticket
// can be used.
func testTicketUse(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	tk := newTicket(freight.TicketReset, u.Email, u.ID)
	tk.ExpiresAt = ts(-time.Hour)
	MustCreateTicket(t, s, tk)
	keep := MustCreateTicket(t, s, newTicket(freight.TicketReset, u.Email, u.ID))

	at := ts(0)
	got, err := s.UseTicket(ctx, tk.ID, at)
	noErr(t, "UseTicket", err)
	want := *tk
	want.UsedAt = &at
	checkSame(t, "UseTicket result", got, &want)
	stored, err := s.Ticket(ctx, tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket after use", stored, &want)

	for _, again := range []time.Time{ts(time.Hour), ts(-time.Hour)} {
		got, err := s.UseTicket(ctx, tk.ID, again)
		wantCode(t, fmt.Sprintf("UseTicket(at %v) of a used ticket", again), err, freight.ECONFLICT)
		if got != nil {
			t.Errorf("UseTicket of a used ticket = %+v, want nil", got)
		}
	}
	stored, err = s.Ticket(ctx, tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket after three uses", stored, &want)
	other, err := s.Ticket(ctx, keep.ID)
	noErr(t, "Ticket(other)", err)
	checkSame(t, "the other ticket", other, keep)

	// A ticket created used (as a record) cannot be used again.
	pre := newTicket(freight.TicketVerify, u.Email, u.ID)
	pre.UsedAt = ptr(ts(-time.Minute))
	MustCreateTicket(t, s, pre)
	_, err = s.UseTicket(ctx, pre.ID, ts(0))
	wantCode(t, "UseTicket of a ticket created used", err, freight.ECONFLICT)
}

// Concurrent uses of one link, as when a mail scanner and the person both
// follow it: exactly one wins, the others are conflicts, and the winner's
// time is the one kept.
func testTicketUseConcurrent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	const rounds, n = 5, 8
	for r := range rounds {
		tk := MustCreateTicket(t, s, newTicket(freight.TicketReset, u.Email, u.ID))
		got := make([]*freight.Ticket, n)
		errs := make([]error, n)
		run(n, func(i int) {
			got[i], errs[i] = s.UseTicket(ctx, tk.ID, ts(time.Duration(i)*time.Second))
		})
		winner := -1
		for i, err := range errs {
			switch freight.ErrorCode(err) {
			case "":
				if winner >= 0 {
					t.Errorf("round %d: UseTicket %d and %d both succeeded", r, winner, i)
				}
				winner = i
			case freight.ECONFLICT:
			default:
				t.Errorf("round %d: UseTicket %d: %v (code %q), want success or %q", r, i, err, freight.ErrorCode(err), freight.ECONFLICT)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no UseTicket succeeded", r)
		}
		want := ts(time.Duration(winner) * time.Second)
		stored, err := s.Ticket(ctx, tk.ID)
		noErr(t, "Ticket", err)
		if stored.UsedAt == nil || !stored.UsedAt.Equal(want) || got[winner].UsedAt == nil || !got[winner].UsedAt.Equal(want) {
			t.Errorf("round %d: UsedAt stored %v, returned %v; want the winner's %v", r, stored.UsedAt, got[winner].UsedAt, want)
		}
	}
}

// ExpireTickets voids the unused tickets of one kind of one user, and
// nothing else.
func testTicketExpire(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	reset1 := MustCreateTicket(t, s, newTicket(freight.TicketReset, ann.Email, ann.ID))
	reset2 := MustCreateTicket(t, s, newTicket(freight.TicketReset, ann.Email, ann.ID))
	used := MustCreateTicket(t, s, newTicket(freight.TicketReset, ann.Email, ann.ID))
	usedAt := ts(-time.Hour)
	_, err := s.UseTicket(ctx, used.ID, usedAt)
	noErr(t, "UseTicket", err)
	verify := MustCreateTicket(t, s, newTicket(freight.TicketVerify, ann.Email, ann.ID))
	invite := newInvite(ann.Email, o.ID)
	invite.UserID = ann.ID
	MustCreateTicket(t, s, invite)
	bobs := MustCreateTicket(t, s, newTicket(freight.TicketReset, bob.Email, bob.ID))

	at := ts(0)
	noErr(t, "ExpireTickets", s.ExpireTickets(ctx, ann.ID, freight.TicketReset, at))
	for _, c := range []struct {
		tk   *freight.Ticket
		want *time.Time
	}{
		{reset1, &at}, {reset2, &at}, {used, &usedAt}, {verify, nil}, {invite, nil}, {bobs, nil},
	} {
		got, err := s.Ticket(ctx, c.tk.ID)
		noErr(t, "Ticket", err)
		want := *c.tk
		want.UsedAt = c.want
		checkSame(t, fmt.Sprintf("%s ticket of %s after ExpireTickets", c.tk.Kind, c.tk.Email), got, &want)
	}
	_, err = s.UseTicket(ctx, reset1.ID, ts(time.Minute))
	wantCode(t, "UseTicket of an expired-by-a-newer ticket", err, freight.ECONFLICT)
	// Again: nothing left to void, no error, nothing moves.
	noErr(t, "ExpireTickets again", s.ExpireTickets(ctx, ann.ID, freight.TicketReset, ts(time.Hour)))
	got, err := s.Ticket(ctx, reset2.ID)
	noErr(t, "Ticket", err)
	if got.UsedAt == nil || !got.UsedAt.Equal(at) {
		t.Errorf("UsedAt after a second ExpireTickets = %v, want %v", got.UsedAt, at)
	}
}

// Deleting the user or the organization a ticket names deletes the ticket:
// a link must not outlive what it acts on.
func testTicketCascade(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	annReset := MustCreateTicket(t, s, newTicket(freight.TicketReset, ann.Email, ann.ID))
	annInvite := newInvite(ann.Email, globex.ID)
	annInvite.UserID = ann.ID
	MustCreateTicket(t, s, annInvite)
	acmeInvite := MustCreateTicket(t, s, newInvite("new@example.com", acme.ID))
	bobReset := MustCreateTicket(t, s, newTicket(freight.TicketReset, bob.Email, bob.ID))
	globexInvite := MustCreateTicket(t, s, newInvite("other@example.com", globex.ID))

	noErr(t, "DeleteOrganization(acme)", s.DeleteOrganization(ctx, acme.ID))
	noErr(t, "DeleteUser(ann)", s.DeleteUser(ctx, ann.ID))
	for _, tk := range []*freight.Ticket{annReset, annInvite, acmeInvite} {
		_, err := s.Ticket(ctx, tk.ID)
		wantCode(t, fmt.Sprintf("Ticket %s to %s after deleting its user or organization", tk.Kind, tk.Email), err, freight.ENOTFOUND)
	}
	for _, tk := range []*freight.Ticket{bobReset, globexInvite} {
		got, err := s.Ticket(ctx, tk.ID)
		noErr(t, "Ticket kept", err)
		checkSame(t, "a ticket of neither", got, tk)
	}
}

// newCLITicket returns the authorization code of a command-line sign-in of
// the user as a member of the organization.
func newCLITicket(email, userID, orgID string) *freight.Ticket {
	t := newTicket(freight.TicketCLI, email, userID)
	t.OrgID, t.Role = orgID, freight.RoleMember
	t.CodeChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	t.RedirectURI = "http://127.0.0.1:49152/callback"
	t.ClientName = "build-07"
	return t
}

// testTicketCLI checks that the authorization code of a command-line
// sign-in keeps its binding (challenge, loopback address, machine name,
// role), is used once, and refuses the fields that do not fit.
func testTicketCLI(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	tk := MustCreateTicket(t, s, newCLITicket(u.Email, u.ID, o.ID))
	got, err := s.Ticket(ctx, tk.ID)
	noErr(t, "Ticket", err)
	checkSame(t, "Ticket(cli)", got, tk)
	if got.CodeChallenge != tk.CodeChallenge || got.RedirectURI != tk.RedirectURI || got.ClientName != "build-07" || got.Role != freight.RoleMember || got.OrgID != o.ID {
		t.Errorf("stored cli ticket = %+v, want the binding it was created with", got)
	}
	used, err := s.UseTicket(ctx, tk.ID, time.Time{})
	noErr(t, "UseTicket", err)
	if used.UsedAt == nil || used.CodeChallenge != tk.CodeChallenge {
		t.Errorf("UseTicket = %+v, want it used and whole", used)
	}
	_, err = s.UseTicket(ctx, tk.ID, time.Time{})
	wantCode(t, "UseTicket a second time", err, freight.ECONFLICT)

	vendor := newCLITicket(u.Email, u.ID, "")
	vendor.Role, vendor.VendorRole = "", freight.RolePublisher
	MustCreateTicket(t, s, vendor)

	var made []string
	mk := func(mod func(*freight.Ticket)) *freight.Ticket {
		tk := newCLITicket(u.Email, u.ID, o.ID)
		mod(tk)
		made = append(made, tk.ID)
		return tk
	}
	for name, tk := range map[string]*freight.Ticket{
		"no user":              mk(func(tk *freight.Ticket) { tk.UserID = "" }),
		"no role":              mk(func(tk *freight.Ticket) { tk.Role, tk.OrgID = "", "" }),
		"org role without org": mk(func(tk *freight.Ticket) { tk.OrgID = "" }),
		"both roles":           mk(func(tk *freight.Ticket) { tk.VendorRole = freight.RoleAdmin }),
		"vendor role as org":   mk(func(tk *freight.Ticket) { tk.Role = freight.RoleAdmin }),
		"short challenge":      mk(func(tk *freight.Ticket) { tk.CodeChallenge = tk.CodeChallenge[:42] }),
		"no redirect":          mk(func(tk *freight.Ticket) { tk.RedirectURI = "" }),
		"no client name":       mk(func(tk *freight.Ticket) { tk.ClientName = "" }),
		"control in name":      mk(func(tk *freight.Ticket) { tk.ClientName = "build\x1b[2J" }),
		"challenge on a reset": mk(func(tk *freight.Ticket) { tk.Kind, tk.OrgID, tk.Role = freight.TicketReset, "", "" }),
		"redirect on an invite": mk(func(tk *freight.Ticket) {
			tk.Kind, tk.UserID, tk.CodeChallenge, tk.ClientName = freight.TicketInvite, "", "", ""
		}),
	} {
		wantCode(t, "CreateTicket(cli) with "+name, s.CreateTicket(ctx, tk), freight.EINVALID)
	}
	for _, id := range made {
		_, err := s.Ticket(ctx, id)
		wantCode(t, "Ticket after an invalid create", err, freight.ENOTFOUND)
	}
}
