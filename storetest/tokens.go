package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var tokenTests = []subtest{
	{"CreateGet", testTokenCreateGet},
	{"GeneratedID", testTokenGeneratedID},
	{"DuplicateID", testTokenDuplicateID},
	{"Invalid", testTokenInvalid},
	{"MissingUserOrOrg", testTokenMissingUserOrOrg},
	{"NotFound", testTokenNotFound},
	{"Revoke", testTokenRevoke},
	{"Touch", testTokenTouch},
	{"Pagination", testTokenPagination},
	{"Filters", testTokenFilters},
	{"Products", testTokenProducts},
	{"Ticket", testTokenTicket},
}

func testTokenCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	id, secret, hash := freight.NewTokenSecret(time.Now())
	tok := &freight.Token{
		ID: id, Name: "CI pipeline", UserID: u.ID, Role: freight.RoleOrgAdmin, OrgID: o.ID,
		ExpiresAt: ptr(ts(90 * 24 * time.Hour)), CreatedBy: u.ID, SecretHash: hash,
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if tok.ID != id {
		t.Errorf("ID after create = %q, want the id of the secret %q", tok.ID, id)
	}
	checkCreated(t, "CreateToken", freight.PrefixToken, tok.ID, tok.CreatedAt, nil)
	got, err := s.Token(ctx, id)
	noErr(t, "Token", err)
	checkSame(t, "Token(id)", got, tok)
	if got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Errorf("RevokedAt, LastUsedAt of a new token = %v, %v; want nil, nil", got.RevokedAt, got.LastUsedAt)
	}

	// The way the server authenticates: parse the secret, look the id up,
	// compare the hashes.
	pid, phash, ok := freight.ParseTokenSecret(secret)
	if !ok {
		t.Fatalf("ParseTokenSecret(%q) failed", secret)
	}
	found, err := s.Token(ctx, pid)
	noErr(t, "Token(parsed id)", err)
	if !freight.MatchSecretHash(found.SecretHash, phash) {
		t.Errorf("stored SecretHash %x does not match the secret's hash %x", found.SecretHash, phash)
	}
	if !bytes.Equal(found.SecretHash, hash) {
		t.Errorf("SecretHash = %x, want %x", found.SecretHash, hash)
	}

	// A service account (no user) with a vendor role and no expiry.
	svc := newUserToken("deploy bot", "", "")
	svc.CreatedBy = u.ID
	MustCreateToken(t, s, svc)
	got, err = s.Token(ctx, svc.ID)
	noErr(t, "Token(service account)", err)
	checkSame(t, "Token(service account)", got, svc)
	if got.UserID != "" || got.OrgID != "" || got.ExpiresAt != nil {
		t.Errorf("service account UserID, OrgID, ExpiresAt = %q, %q, %v; want empty", got.UserID, got.OrgID, got.ExpiresAt)
	}
}

// A token created without an id gets one (the id of a secret made by
// NewTokenSecret is kept, see CreateGet).
func testTokenGeneratedID(t *testing.T, s freight.Store) {
	ctx := t.Context()
	tok := &freight.Token{Name: "no id", Role: freight.RoleSupport, CreatedBy: "system", SecretHash: bytes.Repeat([]byte{7}, 32)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken without an id: %v", err)
	}
	checkCreated(t, "CreateToken without an id", freight.PrefixToken, tok.ID, tok.CreatedAt, nil)
	got, err := s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	checkSame(t, "Token(generated id)", got, tok)
}

func testTokenDuplicateID(t *testing.T, s freight.Store) {
	ctx := t.Context()
	first := MustCreateToken(t, s, newUserToken("first", "", ""))
	dup := newUserToken("second", "", "")
	dup.ID = first.ID
	wantCode(t, "CreateToken with a taken id", s.CreateToken(ctx, dup), freight.ECONFLICT)
	got, err := s.Token(ctx, first.ID)
	noErr(t, "Token", err)
	checkSame(t, "the first token after the conflict", got, first)
}

func testTokenInvalid(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	mk := func(mod func(*freight.Token)) *freight.Token {
		tok := newUserToken("ci", u.ID, o.ID)
		mod(tok)
		return tok
	}
	for name, tok := range map[string]*freight.Token{
		"empty name":              mk(func(tok *freight.Token) { tok.Name = "" }),
		"unknown role":            mk(func(tok *freight.Token) { tok.Role = "owner" }),
		"empty role":              mk(func(tok *freight.Token) { tok.Role = "" }),
		"org role without org":    mk(func(tok *freight.Token) { tok.OrgID = "" }),
		"vendor role with an org": mk(func(tok *freight.Token) { tok.Role = freight.RoleAdmin }),
		"ticket id of a token":    mk(func(tok *freight.Token) { tok.TicketID = missingID(freight.PrefixToken) }),
	} {
		wantCode(t, "CreateToken with "+name, s.CreateToken(t.Context(), tok), freight.EINVALID)
	}
	checkKeys(t, "Tokens after invalid creates", tokenList(t, s, freight.TokenFilter{}), tokenID, []string{})
}

// A token names its user and organization; since they are deleted with
// them (store.go), a token for a user or organization that does not exist
// is refused with ENOTFOUND.
func testTokenMissingUserOrOrg(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	err := s.CreateToken(ctx, newUserToken("ci", missingID(freight.PrefixUser), o.ID))
	wantCode(t, "CreateToken(missing user)", err, freight.ENOTFOUND)
	err = s.CreateToken(ctx, newUserToken("ci", u.ID, missingID(freight.PrefixOrganization)))
	wantCode(t, "CreateToken(missing organization)", err, freight.ENOTFOUND)
	checkKeys(t, "Tokens", tokenList(t, s, freight.TokenFilter{}), tokenID, []string{})
	// Methods that return a slice answer ENOTFOUND when the filter names
	// an object that does not exist (store.go), not an empty list.
	_, _, err = s.Tokens(ctx, freight.TokenFilter{UserID: missingID(freight.PrefixUser)})
	wantCode(t, "Tokens(UserID missing)", err, freight.ENOTFOUND)
	_, _, err = s.Tokens(ctx, freight.TokenFilter{OrgID: missingID(freight.PrefixOrganization)})
	wantCode(t, "Tokens(OrgID missing)", err, freight.ENOTFOUND)
}

func testTokenNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	MustCreateToken(t, s, newUserToken("ci", "", ""))
	id := missingID(freight.PrefixToken)
	got, err := s.Token(ctx, id)
	wantCode(t, "Token(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Token(missing) = %+v, want nil", got)
	}
	got, err = s.RevokeToken(ctx, id, ts(0))
	wantCode(t, "RevokeToken(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("RevokeToken(missing) = %+v, want nil", got)
	}
	wantCode(t, "TouchToken(missing)", s.TouchToken(ctx, id, ts(0)), freight.ENOTFOUND)
}

// RevokeToken is idempotent and keeps the first revocation time.
func testTokenRevoke(t *testing.T, s freight.Store) {
	ctx := t.Context()
	tok := MustCreateToken(t, s, newUserToken("ci", "", ""))
	keep := MustCreateToken(t, s, newUserToken("other", "", ""))
	at := ts(time.Hour)
	got, err := s.RevokeToken(ctx, tok.ID, at)
	noErr(t, "RevokeToken", err)
	want := *tok
	want.RevokedAt = &at
	checkSame(t, "RevokeToken result", got, &want)
	stored, err := s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	checkSame(t, "Token after revoke", stored, &want)
	if stored.Active(at.Add(time.Second)) {
		t.Errorf("revoked token is Active")
	}

	// Again, later and earlier: the first revocation time stays.
	for _, again := range []time.Time{ts(2 * time.Hour), ts(-time.Hour)} {
		got, err = s.RevokeToken(ctx, tok.ID, again)
		noErr(t, "second RevokeToken", err)
		checkSame(t, fmt.Sprintf("RevokeToken(at %v) of a revoked token", again), got, &want)
	}
	stored, err = s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	checkSame(t, "Token after revoking three times", stored, &want)

	// Other tokens are untouched.
	other, err := s.Token(ctx, keep.ID)
	noErr(t, "Token(other)", err)
	checkSame(t, "the other token", other, keep)
}

// TouchToken records a use. It may skip a write while the last recorded use
// is recent, but the first use is always recorded, a use a day later is
// always recorded, and the recorded time never goes back.
func testTokenTouch(t *testing.T, s freight.Store) {
	ctx := t.Context()
	tok := MustCreateToken(t, s, newUserToken("ci", "", ""))
	keep := MustCreateToken(t, s, newUserToken("other", "", ""))
	t0 := ts(0)
	noErr(t, "TouchToken", s.TouchToken(ctx, tok.ID, t0))
	stored, err := s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	want := *tok
	want.LastUsedAt = &t0
	checkSame(t, "Token after the first touch", stored, &want)

	// A second later: recorded or skipped, but one of the two.
	t1 := t0.Add(time.Second)
	noErr(t, "TouchToken(+1s)", s.TouchToken(ctx, tok.ID, t1))
	stored, err = s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	if stored.LastUsedAt == nil || !(stored.LastUsedAt.Equal(t0) || stored.LastUsedAt.Equal(t1)) {
		t.Errorf("LastUsedAt after a touch one second later = %v, want %v or %v", stored.LastUsedAt, t0, t1)
	}

	day := t0.Add(24 * time.Hour)
	noErr(t, "TouchToken(+24h)", s.TouchToken(ctx, tok.ID, day))
	stored, err = s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	want.LastUsedAt = &day
	checkSame(t, "Token after a touch a day later", stored, &want)

	// A late report of an older use does not move the time back.
	noErr(t, "TouchToken(older)", s.TouchToken(ctx, tok.ID, t0.Add(-24*time.Hour)))
	stored, err = s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	checkSame(t, "Token after touching with an older time", stored, &want)

	other, err := s.Token(ctx, keep.ID)
	noErr(t, "Token(other)", err)
	checkSame(t, "the other token", other, keep)

	// Touching a revoked token leaves the revocation as it was.
	_, err = s.RevokeToken(ctx, tok.ID, day.Add(time.Hour))
	noErr(t, "RevokeToken", err)
	later := day.Add(48 * time.Hour)
	noErr(t, "TouchToken(revoked)", s.TouchToken(ctx, tok.ID, later))
	stored, err = s.Token(ctx, tok.ID)
	noErr(t, "Token", err)
	if stored.RevokedAt == nil || !stored.RevokedAt.Equal(day.Add(time.Hour)) {
		t.Errorf("RevokedAt after a touch = %v, want %v", stored.RevokedAt, day.Add(time.Hour))
	}
}

func testTokenPagination(t *testing.T, s freight.Store) {
	list := tokenList(t, s, freight.TokenFilter{})
	checkPaging(t, "Tokens of an empty store", list, tokenID, nil)
	var want []string
	for i := range 7 {
		want = append(want, MustCreateToken(t, s, newUserToken(fmt.Sprintf("token %d", i), "", "")).ID)
		settle()
	}
	checkPaging(t, "Tokens", list, tokenID, want)
}

func testTokenFilters(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	idle := MustCreateUser(t, s, newUser("idle@example.com"))
	empty := MustCreateOrganization(t, s, newOrg("empty"))
	type plan struct{ user, org string }
	plans := []plan{
		{ann.ID, acme.ID}, {bob.ID, acme.ID}, {ann.ID, ""}, {"", acme.ID},
		{ann.ID, globex.ID}, {bob.ID, ""}, {"", ""}, {ann.ID, acme.ID},
	}
	var all []*freight.Token
	for i, p := range plans {
		all = append(all, MustCreateToken(t, s, newUserToken(fmt.Sprintf("token %d", i), p.user, p.org)))
		settle()
	}
	match := func(keep func(*freight.Token) bool) []string {
		var ids []string
		for _, tok := range all {
			if keep(tok) {
				ids = append(ids, tok.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    freight.TokenFilter
		keep func(*freight.Token) bool
	}{
		{"user ann", freight.TokenFilter{UserID: ann.ID}, func(tok *freight.Token) bool { return tok.UserID == ann.ID }},
		{"user bob", freight.TokenFilter{UserID: bob.ID}, func(tok *freight.Token) bool { return tok.UserID == bob.ID }},
		{"user without tokens", freight.TokenFilter{UserID: idle.ID}, func(*freight.Token) bool { return false }},
		{"org acme", freight.TokenFilter{OrgID: acme.ID}, func(tok *freight.Token) bool { return tok.OrgID == acme.ID }},
		{"org globex", freight.TokenFilter{OrgID: globex.ID}, func(tok *freight.Token) bool { return tok.OrgID == globex.ID }},
		{"org without tokens", freight.TokenFilter{OrgID: empty.ID}, func(*freight.Token) bool { return false }},
		{"ann in acme", freight.TokenFilter{UserID: ann.ID, OrgID: acme.ID}, func(tok *freight.Token) bool { return tok.UserID == ann.ID && tok.OrgID == acme.ID }},
		{"all", freight.TokenFilter{}, func(*freight.Token) bool { return true }},
	} {
		checkPaging(t, "Tokens("+tc.name+")", tokenList(t, s, tc.f), tokenID, match(tc.keep))
	}
}

// A publisher token narrowed to products keeps its list in order; an empty
// list and none read back alike, as nil. The products must exist.
func testTokenProducts(t *testing.T, s freight.Store) {
	ctx := t.Context()
	a := MustCreateProduct(t, s, newProduct("alpha"))
	b := MustCreateProduct(t, s, newProduct("beta"))
	narrowed := newUserToken("ci", "", "")
	narrowed.Role = freight.RolePublisher
	narrowed.Products = []string{b.ID, a.ID}
	products := narrowed.Products
	MustCreateToken(t, s, narrowed)
	got, err := s.Token(ctx, narrowed.ID)
	noErr(t, "Token", err)
	checkSame(t, "Token(narrowed)", got, narrowed)
	if !slices.Equal(got.Products, []string{b.ID, a.ID}) {
		t.Errorf("Products = %q, want %q", got.Products, []string{b.ID, a.ID})
	}
	// The caller's slice is not shared with the store.
	products[0] = "changed"
	again, err := s.Token(ctx, narrowed.ID)
	noErr(t, "Token", err)
	if !slices.Equal(again.Products, []string{b.ID, a.ID}) {
		t.Errorf("Products after the caller changed its slice = %q, want %q", again.Products, []string{b.ID, a.ID})
	}
	listed := listAll(t, tokenList(t, s, freight.TokenFilter{}))
	if len(listed) != 1 || !slices.Equal(listed[0].Products, []string{b.ID, a.ID}) {
		t.Errorf("Tokens = %v, want the narrowed token with its products", listed)
	}

	for name, list := range map[string][]string{"nil": nil, "empty": {}} {
		tok := newUserToken("all "+name, "", "")
		tok.Role = freight.RolePublisher
		tok.Products = list
		MustCreateToken(t, s, tok)
		got, err := s.Token(ctx, tok.ID)
		noErr(t, "Token", err)
		if got.Products != nil {
			t.Errorf("Products of a token created with a %s list = %#v, want nil", name, got.Products)
		}
	}

	missing := newUserToken("missing product", "", "")
	missing.Role = freight.RolePublisher
	missing.Products = []string{a.ID, missingID(freight.PrefixProduct)}
	wantCode(t, "CreateToken narrowed to a missing product", s.CreateToken(ctx, missing), freight.ENOTFOUND)
	_, err = s.Token(ctx, missing.ID)
	wantCode(t, "Token after a refused create", err, freight.ENOTFOUND)

	admin := newUserToken("admin narrowed", "", "")
	admin.Products = []string{a.ID}
	wantCode(t, "CreateToken of an admin token narrowed to products", s.CreateToken(ctx, admin), freight.EINVALID)
	bad := newUserToken("bad product id", "", "")
	bad.Role = freight.RolePublisher
	bad.Products = []string{"alpha"}
	wantCode(t, "CreateToken narrowed to a malformed id", s.CreateToken(ctx, bad), freight.EINVALID)
}

// A token issued for a command-line sign-in code keeps the code's ticket
// id, and the tokens of one ticket can be listed: a code used twice finds
// the token to revoke that way.
func testTokenTicket(t *testing.T, s freight.Store) {
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	ticket := missingID(freight.PrefixTicket) // tickets are swept; tokens outlive them
	issued := newUserToken("freight command line on build-7", u.ID, "")
	issued.TicketID = ticket
	MustCreateToken(t, s, issued)
	other := newUserToken("laptop", u.ID, "")
	MustCreateToken(t, s, other)

	got, err := s.Token(t.Context(), issued.ID)
	noErr(t, "Token", err)
	if got.TicketID != ticket {
		t.Errorf("TicketID = %q, want %q", got.TicketID, ticket)
	}
	got, err = s.Token(t.Context(), other.ID)
	noErr(t, "Token", err)
	if got.TicketID != "" {
		t.Errorf("TicketID of a token made without one = %q, want empty", got.TicketID)
	}
	checkKeys(t, "Tokens of the ticket", tokenList(t, s, freight.TokenFilter{TicketID: ticket}), tokenID, []string{issued.ID})
	checkKeys(t, "Tokens of another ticket", tokenList(t, s, freight.TokenFilter{TicketID: missingID(freight.PrefixTicket)}), tokenID, []string{})
}
