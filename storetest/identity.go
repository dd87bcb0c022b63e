package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var recoveryCodeTests = []subtest{
	{"SetUseLeft", testRecoverySetUseLeft},
	{"Replace", testRecoveryReplace},
	{"Invalid", testRecoveryInvalid},
	{"MissingUser", testRecoveryMissingUser},
	{"UseConcurrent", testRecoveryUseConcurrent},
	{"Cascade", testRecoveryCascade},
}

var identityTests = []subtest{
	{"CreateGet", testIdentityCreateGet},
	{"Conflict", testIdentityConflict},
	{"Invalid", testIdentityInvalid},
	{"NotFound", testIdentityNotFound},
	{"Cascade", testIdentityCascade},
}

var settingsTests = []subtest{
	{"Defaults", testSettingsDefaults},
	{"Update", testSettingsUpdate},
	{"UpdateFnError", testSettingsUpdateFnError},
	{"UpdateConcurrent", testSettingsUpdateConcurrent},
}

// codeHash returns the hash of a recovery code, as the server would store
// it.
func codeHash(code string) []byte {
	sum := sha256.Sum256([]byte(code))
	return sum[:]
}

func codeHashes(codes ...string) [][]byte {
	out := make([][]byte, len(codes))
	for i, c := range codes {
		out[i] = codeHash(c)
	}
	return out
}

// wantCodesLeft checks RecoveryCodesLeft.
func wantCodesLeft(t testing.TB, s freight.Store, userID string, want int) {
	t.Helper()
	n, err := s.RecoveryCodesLeft(t.Context(), userID)
	noErr(t, "RecoveryCodesLeft", err)
	if n != want {
		t.Errorf("RecoveryCodesLeft = %d, want %d", n, want)
	}
}

func testRecoverySetUseLeft(t *testing.T, s freight.Store) {
	ctx := t.Context()
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	wantCodesLeft(t, s, ann.ID, 0)
	hashes := codeHashes("aaaa-1111", "bbbb-2222", "cccc-3333")
	noErr(t, "SetRecoveryCodes(ann)", s.SetRecoveryCodes(ctx, ann.ID, hashes))
	// bob happens to hold one of ann's codes: the codes are per user.
	noErr(t, "SetRecoveryCodes(bob)", s.SetRecoveryCodes(ctx, bob.ID, codeHashes("aaaa-1111", "dddd-4444")))
	// The caller's slices are not shared with the store.
	hashes[1][0] ^= 0xff
	wantCodesLeft(t, s, ann.ID, 3)

	noErr(t, "UseRecoveryCode", s.UseRecoveryCode(ctx, ann.ID, codeHash("bbbb-2222"), ts(0)))
	wantCodesLeft(t, s, ann.ID, 2)
	wantCode(t, "UseRecoveryCode of a used code", s.UseRecoveryCode(ctx, ann.ID, codeHash("bbbb-2222"), ts(time.Minute)), freight.ENOTFOUND)
	wantCode(t, "UseRecoveryCode of an unknown code", s.UseRecoveryCode(ctx, ann.ID, codeHash("zzzz-9999"), ts(0)), freight.ENOTFOUND)
	wantCode(t, "UseRecoveryCode of bob's code by ann", s.UseRecoveryCode(ctx, ann.ID, codeHash("dddd-4444"), ts(0)), freight.ENOTFOUND)
	wantCode(t, "UseRecoveryCode with no hash", s.UseRecoveryCode(ctx, ann.ID, nil, ts(0)), freight.ENOTFOUND)
	wantCodesLeft(t, s, ann.ID, 2)

	noErr(t, "UseRecoveryCode(ann, shared code)", s.UseRecoveryCode(ctx, ann.ID, codeHash("aaaa-1111"), ts(0)))
	wantCodesLeft(t, s, ann.ID, 1)
	wantCodesLeft(t, s, bob.ID, 2)
	noErr(t, "UseRecoveryCode(bob, shared code)", s.UseRecoveryCode(ctx, bob.ID, codeHash("aaaa-1111"), ts(0)))
	wantCodesLeft(t, s, bob.ID, 1)
	noErr(t, "UseRecoveryCode(ann, last code)", s.UseRecoveryCode(ctx, ann.ID, codeHash("cccc-3333"), ts(0)))
	wantCodesLeft(t, s, ann.ID, 0)
}

// SetRecoveryCodes replaces every code, used or not; an empty list removes
// them all.
func testRecoveryReplace(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	noErr(t, "SetRecoveryCodes", s.SetRecoveryCodes(ctx, u.ID, codeHashes("old-1", "old-2", "kept")))
	noErr(t, "UseRecoveryCode", s.UseRecoveryCode(ctx, u.ID, codeHash("kept"), ts(0)))
	noErr(t, "SetRecoveryCodes(new)", s.SetRecoveryCodes(ctx, u.ID, codeHashes("new-1", "new-2", "new-3", "new-4", "kept")))
	wantCodesLeft(t, s, u.ID, 5)
	wantCode(t, "UseRecoveryCode of a replaced code", s.UseRecoveryCode(ctx, u.ID, codeHash("old-1"), ts(0)), freight.ENOTFOUND)
	// A code used before the replacement and issued again is new again.
	noErr(t, "UseRecoveryCode of a reissued code", s.UseRecoveryCode(ctx, u.ID, codeHash("kept"), ts(0)))
	noErr(t, "UseRecoveryCode(new-3)", s.UseRecoveryCode(ctx, u.ID, codeHash("new-3"), ts(0)))
	wantCodesLeft(t, s, u.ID, 3)
	noErr(t, "SetRecoveryCodes(none)", s.SetRecoveryCodes(ctx, u.ID, nil))
	wantCodesLeft(t, s, u.ID, 0)
	wantCode(t, "UseRecoveryCode after removing all", s.UseRecoveryCode(ctx, u.ID, codeHash("new-1"), ts(0)), freight.ENOTFOUND)
}

// A bad set of codes is refused whole, and the codes in place stay.
func testRecoveryInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	noErr(t, "SetRecoveryCodes", s.SetRecoveryCodes(ctx, u.ID, codeHashes("one", "two")))
	many := make([][]byte, 1000)
	for i := range many {
		many[i] = codeHash(fmt.Sprint(i))
	}
	for name, hashes := range map[string][][]byte{
		"a repeated hash": {codeHash("x"), codeHash("y"), codeHash("x")},
		"an empty hash":   {codeHash("x"), {}},
		"a huge hash":     {bytes.Repeat([]byte{1}, 4096)},
		"1000 codes":      many,
	} {
		wantCode(t, "SetRecoveryCodes with "+name, s.SetRecoveryCodes(ctx, u.ID, hashes), freight.EINVALID)
	}
	wantCodesLeft(t, s, u.ID, 2)
	noErr(t, "UseRecoveryCode of a code in place", s.UseRecoveryCode(ctx, u.ID, codeHash("one"), ts(0)))
}

func testRecoveryMissingUser(t *testing.T, s freight.Store) {
	ctx := t.Context()
	id := missingID(freight.PrefixUser)
	wantCode(t, "SetRecoveryCodes(missing user)", s.SetRecoveryCodes(ctx, id, codeHashes("one")), freight.ENOTFOUND)
	wantCode(t, "SetRecoveryCodes(missing user, none)", s.SetRecoveryCodes(ctx, id, nil), freight.ENOTFOUND)
	wantCode(t, "UseRecoveryCode(missing user)", s.UseRecoveryCode(ctx, id, codeHash("one"), ts(0)), freight.ENOTFOUND)
	_, err := s.RecoveryCodesLeft(ctx, id)
	wantCode(t, "RecoveryCodesLeft(missing user)", err, freight.ENOTFOUND)
}

// Concurrent uses of one code (a replayed sign-in): exactly one wins, and
// exactly one code is spent.
func testRecoveryUseConcurrent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	const rounds, n = 5, 8
	var all []string
	for r := range rounds + 2 {
		all = append(all, fmt.Sprintf("code-%d", r))
	}
	noErr(t, "SetRecoveryCodes", s.SetRecoveryCodes(ctx, u.ID, codeHashes(all...)))
	for r := range rounds {
		errs := make([]error, n)
		run(n, func(i int) { errs[i] = s.UseRecoveryCode(ctx, u.ID, codeHash(all[r]), ts(0)) })
		wins := 0
		for i, err := range errs {
			switch freight.ErrorCode(err) {
			case "":
				wins++
			case freight.ENOTFOUND:
			default:
				t.Errorf("round %d: UseRecoveryCode %d: %v (code %q), want success or %q", r, i, err, freight.ErrorCode(err), freight.ENOTFOUND)
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d concurrent uses of one code succeeded, want exactly 1", r, wins)
		}
		wantCodesLeft(t, s, u.ID, len(all)-r-1)
	}
}

func testRecoveryCascade(t *testing.T, s freight.Store) {
	ctx := t.Context()
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	noErr(t, "SetRecoveryCodes(ann)", s.SetRecoveryCodes(ctx, ann.ID, codeHashes("one", "two")))
	noErr(t, "SetRecoveryCodes(bob)", s.SetRecoveryCodes(ctx, bob.ID, codeHashes("one")))
	noErr(t, "DeleteUser(ann)", s.DeleteUser(ctx, ann.ID))
	// A new user with the old id starts with no codes.
	MustCreateUser(t, s, &freight.User{ID: ann.ID, Email: "ann@example.com"})
	wantCodesLeft(t, s, ann.ID, 0)
	wantCode(t, "UseRecoveryCode of a deleted user's code", s.UseRecoveryCode(ctx, ann.ID, codeHash("one"), ts(0)), freight.ENOTFOUND)
	wantCodesLeft(t, s, bob.ID, 1)
}

func identityKey(i *freight.Identity) string { return i.Issuer + " " + i.Subject }

func testIdentityCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	id := &freight.Identity{Issuer: "https://login.example.com/tenant-1/v2.0", Subject: "AbC-123_xyz", UserID: u.ID, Provider: "corp"}
	noErr(t, "CreateIdentity", s.CreateIdentity(ctx, id))
	checkRecent(t, "CreateIdentity: CreatedAt", id.CreatedAt)
	got, err := s.Identity(ctx, id.Issuer, id.Subject)
	noErr(t, "Identity", err)
	checkSame(t, "Identity", got, id)

	// Subjects and issuers are compared exactly: another case is another
	// account.
	_, err = s.Identity(ctx, id.Issuer, "abc-123_xyz")
	wantCode(t, "Identity(subject in another case)", err, freight.ENOTFOUND)
	_, err = s.Identity(ctx, strings.ToUpper(id.Issuer), id.Subject)
	wantCode(t, "Identity(issuer in another case)", err, freight.ENOTFOUND)

	// The same subject at another issuer is another account; a user may
	// link several.
	settle()
	other := &freight.Identity{Issuer: "https://accounts.google.com", Subject: id.Subject, UserID: u.ID, Provider: "google"}
	noErr(t, "CreateIdentity(other issuer)", s.CreateIdentity(ctx, other))
	list, err := s.Identities(ctx, u.ID)
	noErr(t, "Identities", err)
	checkSame(t, "Identities", list, []*freight.Identity{id, other})

	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	list, err = s.Identities(ctx, bob.ID)
	noErr(t, "Identities(user without identities)", err)
	if list == nil || len(list) != 0 {
		t.Errorf("Identities(user without identities) = %#v, want an empty, non-nil list", list)
	}
}

// An account at a provider links to one user: linking it again, to the
// same user or another, is a conflict that keeps the first link.
func testIdentityConflict(t *testing.T, s freight.Store) {
	ctx := t.Context()
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	first := &freight.Identity{Issuer: "https://idp.example.com", Subject: "248289761001", UserID: ann.ID, Provider: "corp"}
	noErr(t, "CreateIdentity", s.CreateIdentity(ctx, first))
	for _, u := range []*freight.User{ann, bob} {
		again := &freight.Identity{Issuer: first.Issuer, Subject: first.Subject, UserID: u.ID, Provider: "other"}
		wantCode(t, "CreateIdentity of a linked account to "+u.Email, s.CreateIdentity(ctx, again), freight.ECONFLICT)
	}
	got, err := s.Identity(ctx, first.Issuer, first.Subject)
	noErr(t, "Identity", err)
	checkSame(t, "the first link after the conflicts", got, first)
	list, err := s.Identities(ctx, bob.ID)
	noErr(t, "Identities(bob)", err)
	if len(list) != 0 {
		t.Errorf("Identities(bob) = %d, want 0", len(list))
	}
}

func testIdentityInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	for name, i := range map[string]*freight.Identity{
		"no issuer":          {Subject: "s", UserID: u.ID},
		"no subject":         {Issuer: "https://idp.example.com", UserID: u.ID},
		"no user":            {Issuer: "https://idp.example.com", Subject: "s"},
		"malformed user id":  {Issuer: "https://idp.example.com", Subject: "s", UserID: "ann"},
		"long subject":       {Issuer: "https://idp.example.com", Subject: strings.Repeat("s", 256), UserID: u.ID},
		"control characters": {Issuer: "https://idp.example.com", Subject: "s\x00", UserID: u.ID},
		"invalid UTF-8":      {Issuer: "https://idp.example.com\xff", Subject: "s", UserID: u.ID},
	} {
		wantCode(t, "CreateIdentity with "+name, s.CreateIdentity(ctx, i), freight.EINVALID)
	}
	list, err := s.Identities(ctx, u.ID)
	noErr(t, "Identities", err)
	if len(list) != 0 {
		t.Errorf("Identities after invalid creates = %v, want none", keys(list, identityKey))
	}
}

func testIdentityNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	got, err := s.Identity(ctx, "https://idp.example.com", "nobody")
	wantCode(t, "Identity(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Identity(missing) = %+v, want nil", got)
	}
	list, err := s.Identities(ctx, missingID(freight.PrefixUser))
	wantCode(t, "Identities(missing user)", err, freight.ENOTFOUND)
	if list != nil {
		t.Errorf("Identities(missing user) = %v, want nil", list)
	}
	err = s.CreateIdentity(ctx, &freight.Identity{Issuer: "https://idp.example.com", Subject: "s", UserID: missingID(freight.PrefixUser)})
	wantCode(t, "CreateIdentity(missing user)", err, freight.ENOTFOUND)
	_, err = s.Identity(ctx, "https://idp.example.com", "s")
	wantCode(t, "Identity after a refused create", err, freight.ENOTFOUND)
}

// Deleting a user unlinks its identities, so that the account can sign in
// again as somebody else.
func testIdentityCascade(t *testing.T, s freight.Store) {
	ctx := t.Context()
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	annID := &freight.Identity{Issuer: "https://idp.example.com", Subject: "ann", UserID: ann.ID}
	bobID := &freight.Identity{Issuer: "https://idp.example.com", Subject: "bob", UserID: bob.ID}
	noErr(t, "CreateIdentity(ann)", s.CreateIdentity(ctx, annID))
	noErr(t, "CreateIdentity(bob)", s.CreateIdentity(ctx, bobID))
	noErr(t, "DeleteUser(ann)", s.DeleteUser(ctx, ann.ID))
	_, err := s.Identity(ctx, annID.Issuer, annID.Subject)
	wantCode(t, "Identity of a deleted user", err, freight.ENOTFOUND)
	got, err := s.Identity(ctx, bobID.Issuer, bobID.Subject)
	noErr(t, "Identity(bob)", err)
	checkSame(t, "bob's identity", got, bobID)
	relink := &freight.Identity{Issuer: annID.Issuer, Subject: annID.Subject, UserID: bob.ID}
	noErr(t, "CreateIdentity of the freed account", s.CreateIdentity(ctx, relink))
}

func testSettingsDefaults(t *testing.T, s freight.Store) {
	got, err := s.Settings(t.Context())
	noErr(t, "Settings", err)
	checkSame(t, "Settings of a new store", got, &freight.Settings{})
}

func testSettingsUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	var seen freight.Settings
	got, err := s.UpdateSettings(ctx, func(x *freight.Settings) error {
		seen = *x
		x.RequireVendorMFA = true
		return nil
	})
	noErr(t, "UpdateSettings", err)
	checkSame(t, "the settings passed to fn", &seen, &freight.Settings{})
	if !got.RequireVendorMFA {
		t.Errorf("RequireVendorMFA after the update = false, want true")
	}
	checkRecent(t, "UpdateSettings: UpdatedAt", got.UpdatedAt)
	stored, err := s.Settings(ctx)
	noErr(t, "Settings", err)
	checkSame(t, "Settings after the update", stored, got)

	// UpdatedAt is the store's to set.
	again, err := s.UpdateSettings(ctx, func(x *freight.Settings) error {
		x.RequireVendorMFA = false
		x.UpdatedAt = ts(-1000 * 24 * time.Hour)
		return nil
	})
	noErr(t, "UpdateSettings", err)
	if again.RequireVendorMFA || again.UpdatedAt.Before(got.UpdatedAt) {
		t.Errorf("second update = %+v, want RequireVendorMFA false, UpdatedAt not before %v", again, got.UpdatedAt)
	}
	stored, err = s.Settings(ctx)
	noErr(t, "Settings", err)
	checkSame(t, "Settings after the second update", stored, again)
}

func testSettingsUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	got, err := s.UpdateSettings(ctx, func(x *freight.Settings) error {
		x.RequireVendorMFA = true
		return errSentinel
	})
	wantSentinel(t, "UpdateSettings with fn failing", err)
	if got != nil {
		t.Errorf("UpdateSettings with fn failing = %+v, want nil", got)
	}
	stored, err := s.Settings(ctx)
	noErr(t, "Settings", err)
	checkSame(t, "Settings after a failed update", stored, &freight.Settings{})
}

// Concurrent toggles are serialized: each fn sees what the previous one
// wrote. 20 toggles from 10 goroutines see false and true 10 times each and
// end where they started; a lost update breaks the balance.
func testSettingsUpdateConcurrent(t *testing.T, s freight.Store) {
	const goroutines, updates = 10, 2
	seen := make([][]bool, goroutines)
	run(goroutines, func(i int) {
		for range updates {
			var saw bool
			_, err := s.UpdateSettings(t.Context(), func(x *freight.Settings) error {
				saw = x.RequireVendorMFA
				x.RequireVendorMFA = !x.RequireVendorMFA
				return nil
			})
			if err != nil {
				t.Errorf("UpdateSettings: %v (code %q)", err, freight.ErrorCode(err))
				return
			}
			seen[i] = append(seen[i], saw)
		}
	})
	var on, off int
	for _, l := range seen {
		for _, v := range l {
			if v {
				on++
			} else {
				off++
			}
		}
	}
	if total := goroutines * updates; on != total/2 || off != total/2 {
		t.Errorf("%d toggles saw true %d times and false %d times, want %d each (updates were lost)", total, on, off, total/2)
	}
	got, err := s.Settings(t.Context())
	noErr(t, "Settings", err)
	if got.RequireVendorMFA {
		t.Errorf("RequireVendorMFA after an even number of toggles = true, want false")
	}
}
