package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var sessionTests = []subtest{
	{"CreateGet", testSessionCreateGet},
	{"GeneratedID", testSessionGeneratedID},
	{"DuplicateID", testSessionDuplicateID},
	{"Invalid", testSessionInvalid},
	{"MissingParents", testSessionMissingParents},
	{"NotFound", testSessionNotFound},
	{"List", testSessionList},
	{"Touch", testSessionTouch},
	{"Delete", testSessionDelete},
	{"DeleteSessions", testSessionDeleteSessions},
	{"Prune", testSessionPrune},
	{"Cascade", testSessionCascade},
}

// newSession returns a full session of the user, acting in orgID (none
// when empty), made the way the server makes one.
func newSession(userID, orgID string, expires time.Time) *freight.Session {
	id, _, hash := freight.NewSessionSecret(time.Now())
	return &freight.Session{
		ID: id, UserID: userID, Level: freight.SessionFull, Method: "password", OrgID: orgID,
		IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", ExpiresAt: expires, SecretHash: hash,
	}
}

// MustCreateSession creates x or fails the test.
func MustCreateSession(t testing.TB, s freight.Store, x *freight.Session) *freight.Session {
	t.Helper()
	if err := s.CreateSession(t.Context(), x); err != nil {
		t.Fatalf("CreateSession(%s): %v", x.UserID, err)
	}
	return x
}

func sessionID(x *freight.Session) string { return x.ID }

// sessionIDs lists the ids of the user's sessions.
func sessionIDs(t testing.TB, s freight.Store, userID string) []string {
	t.Helper()
	list, err := s.Sessions(t.Context(), userID)
	noErr(t, "Sessions", err)
	// Ids made in the same millisecond sort at random: compare as sets.
	return sorted(keys(list, sessionID))
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func testSessionCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
	id, secret, hash := freight.NewSessionSecret(time.Now())
	x := &freight.Session{
		ID: id, UserID: u.ID, Level: freight.SessionPartial, Method: "oidc:corp", OrgID: o.ID,
		IP: "2001:db8::1", UserAgent: "curl/8.5.0 — ünïcode", ExpiresAt: ts(12 * time.Hour), SecretHash: hash,
	}
	if err := s.CreateSession(ctx, x); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if x.ID != id {
		t.Errorf("ID after create = %q, want the id of the secret %q", x.ID, id)
	}
	checkCreated(t, "CreateSession", freight.PrefixSession, x.ID, x.CreatedAt, nil)
	if !x.LastSeenAt.Equal(x.CreatedAt) {
		t.Errorf("LastSeenAt of a new session = %v, want its CreatedAt %v", x.LastSeenAt, x.CreatedAt)
	}
	got, err := s.Session(ctx, id)
	noErr(t, "Session", err)
	checkSame(t, "Session(id)", got, x)

	// The way the server authenticates a cookie.
	pid, phash, ok := freight.ParseSessionSecret(secret)
	if !ok || pid != id {
		t.Fatalf("ParseSessionSecret = %q, %v; want %q, true", pid, ok, id)
	}
	found, err := s.Session(ctx, pid)
	noErr(t, "Session(parsed id)", err)
	if !freight.MatchSecretHash(found.SecretHash, phash) {
		t.Errorf("stored SecretHash %x does not match the cookie's hash %x", found.SecretHash, phash)
	}

	// The caller's byte slice is not shared with the store.
	want := bytes.Clone(hash)
	hash[0] ^= 0xff
	x.SecretHash[1] ^= 0xff
	again, err := s.Session(ctx, id)
	noErr(t, "Session", err)
	if !bytes.Equal(again.SecretHash, want) {
		t.Errorf("SecretHash after the caller changed its slices = %x, want %x", again.SecretHash, want)
	}

	// A vendor session (no organization), with a last use given by the
	// caller.
	v := newSession(u.ID, "", ts(24*time.Hour))
	v.LastSeenAt = ts(time.Minute)
	MustCreateSession(t, s, v)
	got, err = s.Session(ctx, v.ID)
	noErr(t, "Session(vendor)", err)
	checkSame(t, "Session(vendor)", got, v)
	if got.OrgID != "" || !got.LastSeenAt.Equal(ts(time.Minute)) {
		t.Errorf("vendor session OrgID, LastSeenAt = %q, %v; want \"\", %v", got.OrgID, got.LastSeenAt, ts(time.Minute))
	}
}

func testSessionGeneratedID(t *testing.T, s freight.Store) {
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	x := newSession(u.ID, "", ts(time.Hour))
	x.ID = ""
	MustCreateSession(t, s, x)
	checkCreated(t, "CreateSession without an id", freight.PrefixSession, x.ID, x.CreatedAt, nil)
	got, err := s.Session(t.Context(), x.ID)
	noErr(t, "Session", err)
	checkSame(t, "Session(generated id)", got, x)
}

func testSessionDuplicateID(t *testing.T, s freight.Store) {
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	first := MustCreateSession(t, s, newSession(u.ID, "", ts(time.Hour)))
	dup := newSession(u.ID, "", ts(2*time.Hour))
	dup.ID = first.ID
	wantCode(t, "CreateSession with a taken id", s.CreateSession(t.Context(), dup), freight.ECONFLICT)
	got, err := s.Session(t.Context(), first.ID)
	noErr(t, "Session", err)
	checkSame(t, "the first session after the conflict", got, first)
}

func testSessionInvalid(t *testing.T, s freight.Store) {
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	mk := func(mod func(*freight.Session)) *freight.Session {
		x := newSession(u.ID, "", ts(time.Hour))
		mod(x)
		return x
	}
	for name, x := range map[string]*freight.Session{
		"no level":          mk(func(x *freight.Session) { x.Level = "" }),
		"unknown level":     mk(func(x *freight.Session) { x.Level = "admin" }),
		"short hash":        mk(func(x *freight.Session) { x.SecretHash = x.SecretHash[:16] }),
		"no hash":           mk(func(x *freight.Session) { x.SecretHash = nil }),
		"no expiry":         mk(func(x *freight.Session) { x.ExpiresAt = time.Time{} }),
		"no user":           mk(func(x *freight.Session) { x.UserID = "" }),
		"malformed user id": mk(func(x *freight.Session) { x.UserID = "ann" }),
		"malformed org id":  mk(func(x *freight.Session) { x.OrgID = "acme" }),
		"malformed id":      mk(func(x *freight.Session) { x.ID = "ses_nope" }),
		"token id":          mk(func(x *freight.Session) { x.ID = missingID(freight.PrefixToken) }),
	} {
		wantCode(t, "CreateSession with "+name, s.CreateSession(t.Context(), x), freight.EINVALID)
	}
	if got := sessionIDs(t, s, u.ID); len(got) != 0 {
		t.Errorf("Sessions after invalid creates = %q, want none", got)
	}
}

// A session needs its user and, when it acts in an organization, the
// user's membership there: the organization of a session is one of its
// user's memberships.
func testSessionMissingParents(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: acme.ID, Role: freight.RoleMember})
	for name, x := range map[string]*freight.Session{
		"missing user":                newSession(missingID(freight.PrefixUser), "", ts(time.Hour)),
		"missing user in acme":        newSession(missingID(freight.PrefixUser), acme.ID, ts(time.Hour)),
		"missing organization":        newSession(u.ID, missingID(freight.PrefixOrganization), ts(time.Hour)),
		"organization without member": newSession(u.ID, globex.ID, ts(time.Hour)),
	} {
		wantCode(t, "CreateSession with "+name, s.CreateSession(ctx, x), freight.ENOTFOUND)
	}
	if got := sessionIDs(t, s, u.ID); len(got) != 0 {
		t.Errorf("Sessions after refused creates = %q, want none", got)
	}
	MustCreateSession(t, s, newSession(u.ID, acme.ID, ts(time.Hour)))
}

func testSessionNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	MustCreateSession(t, s, newSession(u.ID, "", ts(time.Hour)))
	id := missingID(freight.PrefixSession)
	got, err := s.Session(ctx, id)
	wantCode(t, "Session(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Session(missing) = %+v, want nil", got)
	}
	wantCode(t, "TouchSession(missing)", s.TouchSession(ctx, id, ts(0)), freight.ENOTFOUND)
	wantCode(t, "DeleteSession(missing)", s.DeleteSession(ctx, id), freight.ENOTFOUND)
	wantCode(t, "DeleteSession(malformed)", s.DeleteSession(ctx, "nope"), freight.ENOTFOUND)

	nobody := missingID(freight.PrefixUser)
	list, err := s.Sessions(ctx, nobody)
	wantCode(t, "Sessions(missing user)", err, freight.ENOTFOUND)
	if list != nil {
		t.Errorf("Sessions(missing user) = %v, want nil", list)
	}
	n, err := s.DeleteSessions(ctx, nobody, "")
	wantCode(t, "DeleteSessions(missing user)", err, freight.ENOTFOUND)
	if n != 0 {
		t.Errorf("DeleteSessions(missing user) = %d, want 0", n)
	}

	// A user without sessions has an empty list, not an error.
	idle := MustCreateUser(t, s, newUser("idle@example.com"))
	list, err = s.Sessions(ctx, idle.ID)
	noErr(t, "Sessions(user without sessions)", err)
	if list == nil || len(list) != 0 {
		t.Errorf("Sessions(user without sessions) = %#v, want an empty, non-nil list", list)
	}
}

// Sessions lists the user's sessions, expired ones too, in creation order,
// and no one else's.
func testSessionList(t *testing.T, s freight.Store) {
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	var want []*freight.Session
	var bobs []string
	for i := range 5 {
		want = append(want, MustCreateSession(t, s, newSession(ann.ID, "", ts(time.Duration(i-2)*time.Hour))))
		bobs = append(bobs, MustCreateSession(t, s, newSession(bob.ID, "", ts(time.Hour))).ID)
		settle()
	}
	got, err := s.Sessions(t.Context(), ann.ID)
	noErr(t, "Sessions(ann)", err)
	checkSame(t, "Sessions(ann)", got, want)
	if got := sessionIDs(t, s, bob.ID); !slices.Equal(got, bobs) {
		t.Errorf("Sessions(bob) = %q, want %q", got, bobs)
	}
}

// TouchSession records a use at most every freight.TokenTouchInterval and
// never moves the time back.
func testSessionTouch(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	x := newSession(u.ID, "", ts(30*24*time.Hour))
	t0 := ts(0)
	x.LastSeenAt = t0
	MustCreateSession(t, s, x)
	other := MustCreateSession(t, s, newSession(u.ID, "", ts(time.Hour)))
	lastSeen := func() time.Time {
		t.Helper()
		got, err := s.Session(ctx, x.ID)
		noErr(t, "Session", err)
		want := *x
		want.LastSeenAt = got.LastSeenAt
		checkSame(t, "Session after a touch (all but LastSeenAt)", got, &want)
		return got.LastSeenAt
	}

	noErr(t, "TouchSession(+1s)", s.TouchSession(ctx, x.ID, t0.Add(time.Second)))
	if got := lastSeen(); !got.Equal(t0) {
		t.Errorf("LastSeenAt after a touch one second later = %v, want %v (the write is skipped)", got, t0)
	}
	almost := t0.Add(freight.TokenTouchInterval - time.Microsecond)
	noErr(t, "TouchSession(just under the interval)", s.TouchSession(ctx, x.ID, almost))
	if got := lastSeen(); !got.Equal(t0) {
		t.Errorf("LastSeenAt after a touch just under the interval = %v, want %v", got, t0)
	}
	t1 := t0.Add(freight.TokenTouchInterval)
	noErr(t, "TouchSession(+interval)", s.TouchSession(ctx, x.ID, t1))
	if got := lastSeen(); !got.Equal(t1) {
		t.Errorf("LastSeenAt after a touch one interval later = %v, want %v", got, t1)
	}
	day := t0.Add(24 * time.Hour)
	noErr(t, "TouchSession(+24h)", s.TouchSession(ctx, x.ID, day))
	if got := lastSeen(); !got.Equal(day) {
		t.Errorf("LastSeenAt after a touch a day later = %v, want %v", got, day)
	}
	noErr(t, "TouchSession(older)", s.TouchSession(ctx, x.ID, t1))
	if got := lastSeen(); !got.Equal(day) {
		t.Errorf("LastSeenAt after a touch with an older time = %v, want %v (never backwards)", got, day)
	}
	got, err := s.Session(ctx, other.ID)
	noErr(t, "Session(other)", err)
	checkSame(t, "the other session", got, other)
}

func testSessionDelete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	u := MustCreateUser(t, s, newUser("ann@example.com"))
	x := MustCreateSession(t, s, newSession(u.ID, "", ts(time.Hour)))
	keep := MustCreateSession(t, s, newSession(u.ID, "", ts(time.Hour)))
	noErr(t, "DeleteSession", s.DeleteSession(ctx, x.ID))
	_, err := s.Session(ctx, x.ID)
	wantCode(t, "Session after DeleteSession", err, freight.ENOTFOUND)
	wantCode(t, "DeleteSession twice", s.DeleteSession(ctx, x.ID), freight.ENOTFOUND)
	if got := sessionIDs(t, s, u.ID); !slices.Equal(got, []string{keep.ID}) {
		t.Errorf("Sessions after DeleteSession = %q, want %q", got, []string{keep.ID})
	}
}

// DeleteSessions signs a user out everywhere, but for the session named by
// except, and nobody else.
func testSessionDeleteSessions(t *testing.T, s freight.Store) {
	ctx := t.Context()
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	a1 := MustCreateSession(t, s, newSession(ann.ID, "", ts(time.Hour)))
	a2 := MustCreateSession(t, s, newSession(ann.ID, "", ts(time.Hour)))
	a3 := MustCreateSession(t, s, newSession(ann.ID, "", ts(-time.Hour)))
	b1 := MustCreateSession(t, s, newSession(bob.ID, "", ts(time.Hour)))

	// except naming another user's session keeps nothing of ann's and
	// does not touch bob's.
	n, err := s.DeleteSessions(ctx, ann.ID, b1.ID)
	noErr(t, "DeleteSessions(ann, except bob's)", err)
	if n != 3 {
		t.Errorf("DeleteSessions(ann, except bob's) = %d, want 3", n)
	}
	if got := sessionIDs(t, s, ann.ID); len(got) != 0 {
		t.Errorf("ann's sessions = %q, want none", got)
	}
	for _, x := range []*freight.Session{a1, a2, a3} {
		MustCreateSession(t, s, x)
	}

	n, err = s.DeleteSessions(ctx, ann.ID, a2.ID)
	noErr(t, "DeleteSessions(ann, except a2)", err)
	if n != 2 {
		t.Errorf("DeleteSessions(ann, except a2) = %d, want 2", n)
	}
	if got, want := sessionIDs(t, s, ann.ID), sorted([]string{a2.ID}); !slices.Equal(got, want) {
		t.Errorf("ann's sessions after DeleteSessions(except a2) = %q, want %q", got, want)
	}
	n, err = s.DeleteSessions(ctx, ann.ID, a2.ID)
	noErr(t, "DeleteSessions again", err)
	if n != 0 {
		t.Errorf("DeleteSessions again = %d, want 0", n)
	}
	n, err = s.DeleteSessions(ctx, ann.ID, "")
	noErr(t, "DeleteSessions(ann, none kept)", err)
	if n != 1 {
		t.Errorf("DeleteSessions(ann, none kept) = %d, want 1", n)
	}
	if got := sessionIDs(t, s, ann.ID); len(got) != 0 {
		t.Errorf("ann's sessions = %q, want none", got)
	}
	if got, want := sessionIDs(t, s, bob.ID), sorted([]string{b1.ID}); !slices.Equal(got, want) {
		t.Errorf("bob's sessions = %q, want %q", got, want)
	}
}

// PruneSessions deletes the sessions that expired strictly before the
// given time, of every user.
func testSessionPrune(t *testing.T, s freight.Store) {
	ctx := t.Context()
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	cut := ts(0)
	old1 := MustCreateSession(t, s, newSession(ann.ID, "", cut.Add(-24*time.Hour)))
	old2 := MustCreateSession(t, s, newSession(bob.ID, "", cut.Add(-time.Microsecond)))
	atCut := MustCreateSession(t, s, newSession(ann.ID, "", cut))
	live := MustCreateSession(t, s, newSession(bob.ID, "", cut.Add(time.Hour)))

	n, err := s.PruneSessions(ctx, cut)
	noErr(t, "PruneSessions", err)
	if n != 2 {
		t.Errorf("PruneSessions = %d, want 2", n)
	}
	for _, x := range []*freight.Session{old1, old2} {
		_, err := s.Session(ctx, x.ID)
		wantCode(t, "Session expired before the cut", err, freight.ENOTFOUND)
	}
	for _, x := range []*freight.Session{atCut, live} {
		got, err := s.Session(ctx, x.ID)
		noErr(t, "Session not expired before the cut", err)
		checkSame(t, "a kept session", got, x)
	}
	n, err = s.PruneSessions(ctx, cut)
	noErr(t, "PruneSessions again", err)
	if n != 0 {
		t.Errorf("PruneSessions again = %d, want 0", n)
	}
}

// A session acting in an organization ends when its user leaves the
// organization or the organization is deleted; deleting a user deletes all
// of its sessions.
func testSessionCascade(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	ann := MustCreateUser(t, s, newUser("ann@example.com"))
	bob := MustCreateUser(t, s, newUser("bob@example.com"))
	for _, o := range []*freight.Organization{acme, globex} {
		for _, u := range []*freight.User{ann, bob} {
			MustPutMembership(t, s, &freight.Membership{UserID: u.ID, OrgID: o.ID, Role: freight.RoleMember})
		}
	}
	// settle between creates: the lists below are in creation order.
	mk := func(userID, orgID string) *freight.Session {
		t.Helper()
		settle()
		return MustCreateSession(t, s, newSession(userID, orgID, ts(time.Hour)))
	}
	annAcme, annGlobex, annVendor := mk(ann.ID, acme.ID), mk(ann.ID, globex.ID), mk(ann.ID, "")
	bobAcme, bobGlobex := mk(bob.ID, acme.ID), mk(bob.ID, globex.ID)

	// A role change keeps the session; leaving the organization ends it.
	MustPutMembership(t, s, &freight.Membership{UserID: ann.ID, OrgID: acme.ID, Role: freight.RoleOrgAdmin})
	if got, want := sessionIDs(t, s, ann.ID), sorted([]string{annAcme.ID, annGlobex.ID, annVendor.ID}); !slices.Equal(got, want) {
		t.Errorf("ann's sessions after a role change = %q, want %q", got, want)
	}
	noErr(t, "DeleteMembership", s.DeleteMembership(ctx, ann.ID, acme.ID))
	if got, want := sessionIDs(t, s, ann.ID), sorted([]string{annGlobex.ID, annVendor.ID}); !slices.Equal(got, want) {
		t.Errorf("ann's sessions after leaving acme = %q, want %q", got, want)
	}
	if got, want := sessionIDs(t, s, bob.ID), sorted([]string{bobAcme.ID, bobGlobex.ID}); !slices.Equal(got, want) {
		t.Errorf("bob's sessions after ann left acme = %q, want %q", got, want)
	}

	noErr(t, "DeleteOrganization(globex)", s.DeleteOrganization(ctx, globex.ID))
	if got, want := sessionIDs(t, s, ann.ID), sorted([]string{annVendor.ID}); !slices.Equal(got, want) {
		t.Errorf("ann's sessions after deleting globex = %q, want %q", got, want)
	}
	if got, want := sessionIDs(t, s, bob.ID), sorted([]string{bobAcme.ID}); !slices.Equal(got, want) {
		t.Errorf("bob's sessions after deleting globex = %q, want %q", got, want)
	}

	noErr(t, "DeleteUser(ann)", s.DeleteUser(ctx, ann.ID))
	_, err := s.Session(ctx, annVendor.ID)
	wantCode(t, "Session of a deleted user", err, freight.ENOTFOUND)
	// A new user with the old id starts with no sessions.
	MustCreateUser(t, s, &freight.User{ID: ann.ID, Email: "ann@example.com"})
	if got := sessionIDs(t, s, ann.ID); len(got) != 0 {
		t.Errorf("sessions of a recreated user = %q, want none", got)
	}
	if got, want := sessionIDs(t, s, bob.ID), sorted([]string{bobAcme.ID}); !slices.Equal(got, want) {
		t.Errorf("bob's sessions after deleting ann = %q, want %q", got, want)
	}
}
