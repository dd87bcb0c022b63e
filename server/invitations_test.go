package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
)

// invitationItem is an invitation as the API answers it.
type invitationItem struct {
	ID        string     `json:"id"`
	Email     string     `json:"email"`
	OrgID     string     `json:"org_id"`
	Role      string     `json:"role"`
	CreatedBy string     `json:"created_by"`
	Inviter   string     `json:"inviter"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// pendingEmails lists an organization's pending invitations by email.
func pendingEmails(t *testing.T, e *env, org, token string) []string {
	t.Helper()
	var page struct{ Items []invitationItem }
	e.must(http.StatusOK, "GET", "/api/v1/organizations/"+org+"/invitations", token, nil).decode(t, &page)
	var out []string
	for _, it := range page.Items {
		out = append(out, it.Email)
	}
	return out
}

// TestPendingInvitations lists and withdraws invitations through the API,
// on each backend: an organization's admin sees and withdraws its own
// organization's invitations and never another's, and a withdrawn link
// says so.
func TestPendingInvitations(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvAt(t, dbURL, blobs)
		ctx := context.Background()
		acme, globex := e.mustOrg("acme"), e.mustOrg("globex")
		boss := e.mustUser("boss@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
		if _, err := e.store.UpdateUser(ctx, boss.ID, func(u *freight.User) error { u.Name = "Bea Boss"; return nil }); err != nil {
			t.Fatal(err)
		}
		acmeAdmin := e.mustToken(&freight.Token{Name: "acme admin", UserID: boss.ID, Role: freight.RoleOrgAdmin, OrgID: acme.ID})
		gboss := e.mustUser("boss@globex.example", goodPassword, "", globex, freight.RoleOrgAdmin)
		// It outlives the week after which the invitations expire.
		exp := e.clock.Now().AddDate(0, 1, 0)
		globexAdmin := e.mustToken(&freight.Token{Name: "globex admin", UserID: gboss.ID, Role: freight.RoleOrgAdmin, OrgID: globex.ID, ExpiresAt: &exp})
		member := e.mustUser("member@acme.example", goodPassword, "", acme, freight.RoleMember)
		acmeMember := e.mustToken(&freight.Token{Name: "member", UserID: member.ID, Role: freight.RoleMember, OrgID: acme.ID})
		support := e.mustUser("support@vendor.example", goodPassword, freight.RoleSupport, nil, "")
		supportToken := e.mustToken(&freight.Token{Name: "support", UserID: support.ID, Role: freight.RoleSupport})

		var first, second, gx invitationItem
		invited := e.clock.Now()
		e.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/invitations", acmeAdmin, map[string]string{"email": "first@acme.example", "role": "member"}).decode(t, &first)
		e.clock.Add(time.Second)
		e.must(http.StatusCreated, "POST", "/api/v1/organizations/acme/invitations", acmeAdmin, map[string]string{"email": "second@acme.example", "role": "org-admin"}).decode(t, &second)
		e.must(http.StatusCreated, "POST", "/api/v1/organizations/globex/invitations", globexAdmin, map[string]string{"email": "new@globex.example", "role": "member"}).decode(t, &gx)
		e.must(http.StatusCreated, "POST", "/api/v1/invitations", e.token, map[string]string{"email": "staff@vendor.example", "vendor_role": "support"})
		firstLink := e.linkToken("first@acme.example")
		if first.Inviter != "Bea Boss" {
			t.Errorf("the new invitation's inviter = %q, want the inviter's name", first.Inviter)
		}

		t.Run("List", func(t *testing.T) {
			r := e.must(http.StatusOK, "GET", "/api/v1/organizations/acme/invitations", acmeAdmin, nil)
			var page struct{ Items []invitationItem }
			r.decode(t, &page)
			if len(page.Items) != 2 {
				t.Fatalf("acme's pending invitations = %+v, want first and second", page.Items)
			}
			got := page.Items[0]
			if got.ID != first.ID || got.Email != "first@acme.example" || got.Role != "member" || got.OrgID != acme.ID ||
				got.CreatedBy != boss.ID || got.Inviter != "Bea Boss" || got.UsedAt != nil || got.RevokedAt != nil {
				t.Errorf("first pending invitation = %+v", got)
			}
			if want := invited.Add(7 * 24 * time.Hour); !got.ExpiresAt.Equal(want) {
				t.Errorf("expires_at = %v, want a week after the invitation (%v)", got.ExpiresAt, want)
			}
			if page.Items[1].Email != "second@acme.example" || page.Items[1].Role != "org-admin" {
				t.Errorf("second pending invitation = %+v", page.Items[1])
			}
			// Neither the link's secret nor its hash ever leaves by the API.
			stored, err := e.store.Ticket(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, leak := range []string{firstLink, "frl_", "secret", "hash", hex.EncodeToString(stored.SecretHash), base64.StdEncoding.EncodeToString(stored.SecretHash)} {
				if bytes.Contains(r.body, []byte(leak)) {
					t.Errorf("the list holds %q: %s", leak, r.body)
				}
			}
			// Vendor staff see any organization's; the org-admin of
			// another organization and members see none of them.
			if got := pendingEmails(t, e, "acme", supportToken); !slices.Equal(got, []string{"first@acme.example", "second@acme.example"}) {
				t.Errorf("support sees %q", got)
			}
			if got := pendingEmails(t, e, globex.ID, e.token); !slices.Equal(got, []string{"new@globex.example"}) {
				t.Errorf("the vendor admin sees globex's %q", got)
			}
			wantError(t, e.do("GET", "/api/v1/organizations/globex/invitations", acmeAdmin, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
			wantError(t, e.do("GET", "/api/v1/organizations/"+globex.ID+"/invitations", acmeAdmin, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
			wantError(t, e.do("GET", "/api/v1/organizations/acme/invitations", acmeMember, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
			wantError(t, e.do("GET", "/api/v1/organizations/acme/invitations?after=nope", acmeAdmin, nil), http.StatusBadRequest, freight.EINVALID, "after")
		})

		t.Run("Tenancy", func(t *testing.T) {
			// globex's invitation through acme's path: not found, as if
			// it did not exist; through globex's path: forbidden.
			wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+gx.ID, acmeAdmin, nil), http.StatusNotFound, freight.ENOTFOUND, "")
			wantError(t, e.do("DELETE", "/api/v1/organizations/globex/invitations/"+gx.ID, acmeAdmin, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
			// Nor can the vendor admin withdraw it through the wrong
			// organization.
			wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+gx.ID, e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
			// Support reads but does not withdraw; nor does a member.
			wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+first.ID, supportToken, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
			wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+first.ID, acmeMember, nil), http.StatusForbidden, freight.EFORBIDDEN, "")
			if got := pendingEmails(t, e, "globex", globexAdmin); !slices.Equal(got, []string{"new@globex.example"}) {
				t.Errorf("globex's pending invitations after acme's attempts = %q", got)
			}
			if got := pendingEmails(t, e, "acme", acmeAdmin); len(got) != 2 {
				t.Errorf("acme's pending invitations after refused withdrawals = %q", got)
			}
			// A staff invitation belongs to no organization.
			staff, _, err := e.store.Invitations(ctx, freight.InvitationFilter{Now: e.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range staff {
				if s.VendorRole != "" {
					wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+s.ID, e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
				}
			}
			for _, id := range []string{"nope", freight.NewID(freight.PrefixTicket, time.Now()), freight.NewID(freight.PrefixToken, time.Now())} {
				wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+id, acmeAdmin, nil), http.StatusNotFound, freight.ENOTFOUND, "")
			}
		})

		t.Run("Withdraw", func(t *testing.T) {
			var got invitationItem
			e.must(http.StatusOK, "DELETE", "/api/v1/organizations/acme/invitations/"+first.ID, acmeAdmin, nil).decode(t, &got)
			if got.ID != first.ID || got.RevokedAt == nil || !got.RevokedAt.Equal(e.clock.Now()) {
				t.Errorf("withdrawn invitation = %+v, want revoked_at now", got)
			}
			if list := pendingEmails(t, e, "acme", acmeAdmin); !slices.Equal(list, []string{"second@acme.example"}) {
				t.Errorf("pending after the withdrawal = %q, want second only", list)
			}
			evs, _, err := e.store.AuditEvents(ctx, freight.AuditFilter{Action: "invitation.revoke"})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].TargetID != first.ID || evs[0].OrgID != acme.ID || evs[0].Actor != boss.ID {
				t.Errorf("audit events of the withdrawal = %+v", evs)
			}
			if bytes.Contains(evs[0].Details, []byte("secret")) {
				t.Errorf("the audit event holds a secret: %s", evs[0].Details)
			}

			// The link answers a clear error, and nothing joins.
			r := e.browser().do("POST", "/api/v1/auth/accept", map[string]string{"token": firstLink, "name": "First", "password": "a withdrawn passphrase"})
			wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
			if _, msg, _ := r.err(); !strings.Contains(msg, "withdrawn") {
				t.Errorf("accepting a withdrawn invitation says %q, want it to say it was withdrawn", msg)
			}
			if _, err := e.store.UserByEmail(ctx, "first@acme.example"); freight.ErrorCode(err) != freight.ENOTFOUND {
				t.Errorf("UserByEmail after accepting a withdrawn invitation: %v, want not found", err)
			}
			// A tampered link does not learn that the invitation was
			// withdrawn.
			tampered := firstLink[:len(firstLink)-1] + "a"
			if strings.HasSuffix(firstLink, "a") {
				tampered = firstLink[:len(firstLink)-1] + "b"
			}
			r = e.browser().do("POST", "/api/v1/auth/accept", map[string]string{"token": tampered, "name": "First", "password": "a withdrawn passphrase"})
			wantError(t, r, http.StatusUnauthorized, freight.EUNAUTHORIZED, "")
			if _, msg, _ := r.err(); strings.Contains(msg, "withdrawn") {
				t.Errorf("a tampered link is told %q", msg)
			}

			// Withdrawing again answers the same invitation and time.
			e.clock.Add(time.Minute)
			var again invitationItem
			e.must(http.StatusOK, "DELETE", "/api/v1/organizations/acme/invitations/"+first.ID, e.token, nil).decode(t, &again)
			if again.RevokedAt == nil || !again.RevokedAt.Equal(*got.RevokedAt) {
				t.Errorf("withdrawn again: revoked_at %v, want the first %v", again.RevokedAt, got.RevokedAt)
			}
		})

		t.Run("Accepted", func(t *testing.T) {
			link := e.linkToken("second@acme.example")
			e.browser().must(http.StatusOK, "POST", "/api/v1/auth/accept", map[string]string{"token": link, "name": "Second", "password": "a second passphrase"})
			wantError(t, e.do("DELETE", "/api/v1/organizations/acme/invitations/"+second.ID, acmeAdmin, nil), http.StatusConflict, freight.ECONFLICT, "")
			if list := pendingEmails(t, e, "acme", acmeAdmin); len(list) != 0 {
				t.Errorf("pending after acceptance = %q, want none", list)
			}
		})

		t.Run("Expired", func(t *testing.T) {
			e.clock.Add(7*24*time.Hour + time.Second)
			if list := pendingEmails(t, e, "globex", globexAdmin); len(list) != 0 {
				t.Errorf("pending a week later = %q, want none", list)
			}
		})
	})
}
