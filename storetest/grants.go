package storetest

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var grantTests = []subtest{
	{"CreateGet", testGrantCreateGet},
	{"ChosenID", testGrantChosenID},
	{"DuplicateID", testGrantDuplicateID},
	{"Invalid", testGrantInvalid},
	{"WrongProduct", testGrantWrongProduct},
	{"MissingArtifact", testGrantMissingArtifact},
	{"NotFound", testGrantNotFound},
	{"Reserve", testGrantReserve},
	{"ReserveConcurrent", testGrantReserveConcurrent},
	{"ReserveInTx", testGrantReserveInTx},
	{"Usage", testGrantUsage},
	{"UsageSince", testGrantUsageSince},
	{"DeleteArtifactWithGrants", testGrantDeleteArtifact},
	{"DeleteDraftRelease", testGrantDeleteDraftRelease},
	{"Complete", testGrantComplete},
	{"CompleteInTx", testGrantCompleteInTx},
	{"CompleteConcurrent", testGrantCompleteConcurrent},
	{"CompleteFinished", testGrantCompleteFinished},
	{"CompleteRefusedDownload", testGrantCompleteRefused},
	{"CompleteHugeReports", testGrantCompleteHuge},
	{"CompleteFinishedConcurrent", testGrantCompleteFinishedConcurrent},
}

var downloadTests = []subtest{
	{"CreateList", testDownloadCreateList},
	{"FromGrant", testDownloadFromGrant},
	{"Invalid", testDownloadInvalid},
	{"MissingGrant", testDownloadMissingGrant},
	{"Finish", testDownloadFinish},
	{"Pagination", testDownloadPagination},
	{"Filters", testDownloadFilters},
	{"SinceUntilBounds", testDownloadSinceUntilBounds},
	{"FilterNamesMissingObject", testDownloadFilterMissing},
}

// testDigest is the SHA-256 of "test".
const testDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// seedArtifact creates a published release of the product with one
// available artifact and returns the artifact.
func seedArtifact(t testing.TB, s freight.Store, p *freight.Product, version string) *freight.Artifact {
	t.Helper()
	r := MustCreateRelease(t, s, newRelease(p.ID, version))
	a := newArtifact(r.ID, p.Slug+"-"+version+".tar.gz")
	a.SHA256, a.State = testDigest, freight.ArtifactAvailable
	MustCreateArtifact(t, s, a)
	MustPublishRelease(t, s, r.ID, ts(0))
	return a
}

// newGrant returns a grant of the artifact for the organization (vendor
// staff when orgID is empty) with a budget of twice its size. ProductID is
// left for the store to fill in.
func newGrant(a *freight.Artifact, orgID string) *freight.Grant {
	return &freight.Grant{
		ArtifactID: a.ID, OrgID: orgID, Actor: missingID(freight.PrefixUser), IP: "203.0.113.7",
		Digest: testDigest, Size: a.Size, Filename: a.Filename,
		StartBy: ts(time.Minute), ResumeUntil: ts(24 * time.Hour), ByteBudget: 2 * a.Size,
	}
}

// MustCreateGrant creates g or fails the test.
func MustCreateGrant(t testing.TB, s freight.Store, g *freight.Grant) *freight.Grant {
	t.Helper()
	if err := s.CreateGrant(t.Context(), g); err != nil {
		t.Fatalf("CreateGrant(%s): %v", g.ArtifactID, err)
	}
	return g
}

// MustCreateDownload creates d or fails the test.
func MustCreateDownload(t testing.TB, s freight.Store, d *freight.Download) *freight.Download {
	t.Helper()
	if err := s.CreateDownload(t.Context(), d); err != nil {
		t.Fatalf("CreateDownload(%s): %v", d.GrantID, err)
	}
	return d
}

func downloadList(t testing.TB, s freight.Store, f freight.DownloadFilter) listFunc[*freight.Download] {
	return func(p freight.Page) ([]*freight.Download, string, error) {
		f.Page = p
		return s.Downloads(t.Context(), f)
	}
}

func downloadID(d *freight.Download) string { return d.ID }

// storedGrant reads a grant or fails the test.
func storedGrant(t testing.TB, s freight.Store, id string) *freight.Grant {
	t.Helper()
	g, err := s.Grant(t.Context(), id)
	if err != nil {
		t.Fatalf("Grant(%s): %v", id, err)
	}
	return g
}

// storedDownload finds a download in the list of all, or fails the test.
func storedDownload(t testing.TB, s freight.Store, id string) *freight.Download {
	t.Helper()
	for _, d := range listAll(t, downloadList(t, s, freight.DownloadFilter{})) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("download %s is not listed", id)
	return nil
}

// checkUsage fails the test unless GrantUsage answers want.
func checkUsage(t testing.TB, what string, s freight.Store, orgID, productID string, since time.Time, want freight.Usage) {
	t.Helper()
	got, err := s.GrantUsage(t.Context(), orgID, productID, since)
	if err != nil {
		t.Errorf("%s: GrantUsage: %v", what, err)
		return
	}
	if got != want {
		t.Errorf("%s: GrantUsage = %+v, want %+v", what, got, want)
	}
}

// checkUTCMicro fails the test for a time of v not in UTC at microseconds.
func checkUTCMicro(t testing.TB, v any) {
	t.Helper()
	for name, tm := range timesOf(v) {
		if tm.Location() != time.UTC || tm.Nanosecond()%1000 != 0 {
			t.Errorf("%s = %v, want UTC at microsecond precision", name, tm)
		}
	}
}

// Every field comes back as written, optional ones empty or set; times in
// UTC at microseconds; the store sets the id, the created time and, when
// the caller leaves it empty, the product.
func testGrantCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	zone := time.FixedZone("UTC-3", -3*3600)
	g := &freight.Grant{
		ArtifactID: a.ID, ProductID: p.ID, OrgID: o.ID, Actor: missingID(freight.PrefixUser), TokenID: missingID(freight.PrefixToken),
		IP: "2001:db8::7", BindIP: true, Digest: testDigest, Size: 12884901888, Filename: "widget for acme.tar.gz",
		StartBy:     ts(time.Minute).Add(789 * time.Nanosecond).In(zone),
		ResumeUntil: ts(48 * time.Hour).In(zone), ByteBudget: 3 * 12884901888, BytesServed: 7,
	}
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	checkCreated(t, "CreateGrant", freight.PrefixGrant, g.ID, g.CreatedAt, nil)
	if !g.StartBy.Equal(ts(time.Minute)) || !g.ResumeUntil.Equal(ts(48*time.Hour)) {
		t.Errorf("StartBy, ResumeUntil after create = %v, %v; want %v, %v (microseconds)", g.StartBy, g.ResumeUntil, ts(time.Minute), ts(48*time.Hour))
	}
	got := storedGrant(t, s, g.ID)
	checkSame(t, "Grant(id)", got, g)
	checkUTCMicro(t, got)
	want := freight.Grant{
		ID: g.ID, ArtifactID: a.ID, ProductID: p.ID, OrgID: o.ID, Actor: g.Actor, TokenID: g.TokenID,
		IP: "2001:db8::7", BindIP: true, Digest: testDigest, Size: 12884901888, Filename: "widget for acme.tar.gz",
		StartBy: ts(time.Minute), ResumeUntil: ts(48 * time.Hour), ByteBudget: 3 * 12884901888, BytesServed: 7, CreatedAt: g.CreatedAt,
	}
	checkSame(t, "Grant(id) field by field", got, &want)

	// Vendor staff without a token, not bound to an address, and no
	// product given: the store fills in the artifact's.
	staff := newGrant(a, "")
	staff.IP, staff.BindIP = "", false
	MustCreateGrant(t, s, staff)
	if staff.ProductID != p.ID {
		t.Errorf("ProductID filled in by CreateGrant = %q, want the artifact's product %q", staff.ProductID, p.ID)
	}
	if staff.ID == g.ID {
		t.Errorf("two grants got the same id %q", g.ID)
	}
	got = storedGrant(t, s, staff.ID)
	checkSame(t, "Grant(vendor staff)", got, staff)
	if got.OrgID != "" || got.TokenID != "" || got.IP != "" || got.BindIP || got.BytesServed != 0 {
		t.Errorf("Grant(vendor staff) OrgID, TokenID, IP, BindIP, BytesServed = %q, %q, %q, %v, %d; want empty",
			got.OrgID, got.TokenID, got.IP, got.BindIP, got.BytesServed)
	}
}

func testGrantChosenID(t *testing.T, s freight.Store) {
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := newGrant(a, "")
	id := freight.NewID(freight.PrefixGrant, time.Now())
	g.ID = id
	MustCreateGrant(t, s, g)
	if g.ID != id {
		t.Errorf("ID after create = %q, want the id given %q", g.ID, id)
	}
	checkSame(t, "Grant(chosen id)", storedGrant(t, s, id), g)
}

func testGrantDuplicateID(t *testing.T, s freight.Store) {
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	first := MustCreateGrant(t, s, newGrant(a, ""))
	dup := newGrant(a, "")
	dup.ID, dup.Size = first.ID, 1
	wantCode(t, "CreateGrant with a taken id", s.CreateGrant(t.Context(), dup), freight.ECONFLICT)
	checkSame(t, "the first grant after the conflict", storedGrant(t, s, first.ID), first)
}

// The store validates what it writes. GrantUsage shows that nothing was
// stored: every invalid grant names the organization and the product.
func testGrantInvalid(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	mk := func(mod func(*freight.Grant)) *freight.Grant {
		g := newGrant(a, o.ID)
		g.ProductID = p.ID
		mod(g)
		return g
	}
	for name, g := range map[string]*freight.Grant{
		"id of another type":          mk(func(g *freight.Grant) { g.ID = missingID(freight.PrefixDownload) }),
		"malformed id":                mk(func(g *freight.Grant) { g.ID = "grt_1" }),
		"no artifact":                 mk(func(g *freight.Grant) { g.ArtifactID = "" }),
		"artifact id of another type": mk(func(g *freight.Grant) { g.ArtifactID = missingID(freight.PrefixRelease) }),
		"token id of another type":    mk(func(g *freight.Grant) { g.TokenID = missingID(freight.PrefixUser) }),
		"no actor":                    mk(func(g *freight.Grant) { g.Actor = "" }),
		"bound to no address":         mk(func(g *freight.Grant) { g.IP, g.BindIP = "", true }),
		"no digest":                   mk(func(g *freight.Grant) { g.Digest = "" }),
		"upper-case digest":           mk(func(g *freight.Grant) { g.Digest = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08" }),
		"short digest":                mk(func(g *freight.Grant) { g.Digest = testDigest[1:] }),
		"negative size":               mk(func(g *freight.Grant) { g.Size = -1 }),
		"no filename":                 mk(func(g *freight.Grant) { g.Filename = "" }),
		"filename with a directory":   mk(func(g *freight.Grant) { g.Filename = "../etc/passwd" }),
		"filename with a newline":     mk(func(g *freight.Grant) { g.Filename = "a\nb.tar.gz" }),
		"no start by":                 mk(func(g *freight.Grant) { g.StartBy = time.Time{} }),
		"no resume until":             mk(func(g *freight.Grant) { g.ResumeUntil = time.Time{} }),
		"resume until before start":   mk(func(g *freight.Grant) { g.ResumeUntil = g.StartBy.Add(-time.Microsecond) }),
		"budget below the size":       mk(func(g *freight.Grant) { g.ByteBudget = g.Size - 1 }),
		"negative bytes served":       mk(func(g *freight.Grant) { g.BytesServed = -1 }),
		"bytes served over budget":    mk(func(g *freight.Grant) { g.BytesServed = g.ByteBudget + 1 }),
	} {
		wantCode(t, "CreateGrant with "+name, s.CreateGrant(t.Context(), g), freight.EINVALID)
	}
	// Organization ids of another type name no organization either way.
	wantCode(t, "CreateGrant with an org id of another type",
		s.CreateGrant(t.Context(), mk(func(g *freight.Grant) { g.OrgID = missingID(freight.PrefixUser) })), freight.EINVALID)
	checkUsage(t, "after invalid creates", s, o.ID, p.ID, time.Time{}, freight.Usage{})

	// The limits themselves are valid: a resume window of one instant, a
	// budget of exactly the size, an empty file with no budget.
	for name, g := range map[string]*freight.Grant{
		"start by = resume until": mk(func(g *freight.Grant) { g.ResumeUntil = g.StartBy }),
		"budget = size":           mk(func(g *freight.Grant) { g.ByteBudget = g.Size }),
		"budget all served":       mk(func(g *freight.Grant) { g.BytesServed = g.ByteBudget }),
		"empty file":              mk(func(g *freight.Grant) { g.Size, g.ByteBudget = 0, 0 }),
	} {
		if err := s.CreateGrant(t.Context(), g); err != nil {
			t.Errorf("CreateGrant with %s: %v, want success", name, err)
		}
	}
	checkUsage(t, "after valid creates", s, o.ID, p.ID, time.Time{}, freight.Usage{Downloads: 4, Bytes: 3 * a.Size})
}

// GrantUsage counts grants by product, so a grant's product must be its
// artifact's.
func testGrantWrongProduct(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	other := MustCreateProduct(t, s, newProduct("gadget"))
	a := seedArtifact(t, s, p, "1.0.0")
	for name, productID := range map[string]string{
		"another product":   other.ID,
		"a missing product": missingID(freight.PrefixProduct),
		"a release id":      a.ReleaseID,
	} {
		g := newGrant(a, o.ID)
		g.ProductID = productID
		wantCode(t, "CreateGrant with "+name, s.CreateGrant(t.Context(), g), freight.EINVALID)
	}
	checkUsage(t, "the other product", s, o.ID, other.ID, time.Time{}, freight.Usage{})
	checkUsage(t, "the product", s, o.ID, p.ID, time.Time{}, freight.Usage{})
}

func testGrantMissingArtifact(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := newGrant(a, o.ID)
	g.ArtifactID = missingID(freight.PrefixArtifact)
	wantCode(t, "CreateGrant(missing artifact)", s.CreateGrant(t.Context(), g), freight.ENOTFOUND)
	g.ProductID = p.ID
	wantCode(t, "CreateGrant(missing artifact, product given)", s.CreateGrant(t.Context(), g), freight.ENOTFOUND)
	checkUsage(t, "after the refused creates", s, o.ID, p.ID, time.Time{}, freight.Usage{})
}

func testGrantNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	keep := MustCreateGrant(t, s, newGrant(a, ""))
	id := missingID(freight.PrefixGrant)
	got, err := s.Grant(ctx, id)
	wantCode(t, "Grant(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Grant(missing) = %+v, want nil", got)
	}
	for _, n := range []int64{1, 0, -1} {
		got, err := s.ReserveGrantBytes(ctx, id, n)
		wantCode(t, fmt.Sprintf("ReserveGrantBytes(missing, %d)", n), err, freight.ENOTFOUND)
		if got != nil {
			t.Errorf("ReserveGrantBytes(missing, %d) = %+v, want nil", n, got)
		}
	}
	_, err = s.ReserveGrantBytes(ctx, "not an id", 1)
	wantCode(t, "ReserveGrantBytes(malformed id)", err, freight.ENOTFOUND)
	checkSame(t, "the other grant", storedGrant(t, s, keep.ID), keep)
}

// ReserveGrantBytes adds up to exactly the budget; a reservation that
// would pass it is refused whole, with ETOOLARGE, and adds nothing; a
// negative one gives bytes back, never below zero. Each call returns the
// grant as its change left it.
func testGrantReserve(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := newGrant(a, "")
	g.Size, g.ByteBudget = 40, 100
	MustCreateGrant(t, s, g)
	other := newGrant(a, "")
	other.Size, other.ByteBudget = 40, 100
	MustCreateGrant(t, s, other)

	for _, step := range []struct {
		n       int64
		code    string
		served  int64 // after the call
		comment string
	}{
		{60, "", 60, "a first range"},
		{41, freight.ETOOLARGE, 60, "one byte too many"},
		{40, "", 100, "exactly the budget"},
		{1, freight.ETOOLARGE, 100, "one more byte"},
		{0, "", 100, "nothing, at the budget"},
		{math.MaxInt64, freight.ETOOLARGE, 100, "the largest reservation"},
		{-30, "", 70, "giving back"},
		{-1000, "", 0, "giving back more than was served"},
		{-1, "", 0, "giving back at zero"},
		{math.MinInt64, "", 0, "giving back the most"},
		{100, "", 100, "the whole budget at once"},
		{math.MaxInt64, freight.ETOOLARGE, 100, "the largest reservation, at the budget"},
	} {
		what := fmt.Sprintf("ReserveGrantBytes(%d), %s", step.n, step.comment)
		got, err := s.ReserveGrantBytes(ctx, g.ID, step.n)
		wantCode(t, what, err, step.code)
		want := *g
		want.BytesServed = step.served
		if step.code == "" {
			checkSame(t, what+": result", got, &want)
		} else if got != nil {
			t.Errorf("%s = %+v, want nil with the error", what, got)
		}
		checkSame(t, what+": stored", storedGrant(t, s, g.ID), &want)
	}
	checkSame(t, "the other grant", storedGrant(t, s, other.ID), other)
}

// Many callers reserving at once, on one replica or many, never overrun
// the budget, and each sees the total its own reservation made: 20
// reservations of 10 bytes against a budget of 150 are 15 successes that
// return 10, 20, … 150 in some order, and 5 ETOOLARGE. Giving back
// concurrently ends at zero, never below.
func testGrantReserveConcurrent(t *testing.T, s freight.Store) {
	const callers, n, budget = 20, 10, 150
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := newGrant(a, "")
	g.Size, g.ByteBudget = 100, budget
	MustCreateGrant(t, s, g)

	served := make([]int64, callers)
	errs := make([]error, callers)
	run(callers, func(i int) {
		got, err := s.ReserveGrantBytes(t.Context(), g.ID, n)
		errs[i] = err
		if err == nil {
			served[i] = got.BytesServed
		}
	})
	var totals []int64
	tooLarge := 0
	for i, err := range errs {
		switch freight.ErrorCode(err) {
		case "":
			totals = append(totals, served[i])
		case freight.ETOOLARGE:
			tooLarge++
		default:
			t.Errorf("ReserveGrantBytes %d: %v (code %q), want success or %q", i, err, freight.ErrorCode(err), freight.ETOOLARGE)
		}
	}
	if len(totals) != budget/n || tooLarge != callers-budget/n {
		t.Errorf("%d concurrent reservations: %d succeeded, %d ETOOLARGE; want %d and %d", callers, len(totals), tooLarge, budget/n, callers-budget/n)
	}
	slices.Sort(totals)
	var want []int64
	for v := int64(n); v <= budget; v += n {
		want = append(want, v)
	}
	if !slices.Equal(totals, want) {
		t.Errorf("BytesServed returned to the successful callers = %v, want each of %v once", totals, want)
	}
	if got := storedGrant(t, s, g.ID).BytesServed; got != budget {
		t.Errorf("BytesServed after the concurrent reservations = %d, want %d", got, budget)
	}

	run(callers, func(i int) {
		got, err := s.ReserveGrantBytes(t.Context(), g.ID, -n)
		if err != nil {
			t.Errorf("ReserveGrantBytes(%d) %d: %v", -n, i, err)
			return
		}
		if got.BytesServed < 0 || got.BytesServed > budget-n {
			t.Errorf("ReserveGrantBytes(%d) %d: BytesServed = %d, want between 0 and %d", -n, i, got.BytesServed, budget-n)
		}
	})
	if got := storedGrant(t, s, g.ID).BytesServed; got != 0 {
		t.Errorf("BytesServed after %d concurrent give-backs of %d = %d, want 0", callers, n, got)
	}
}

// In a transaction, a refused reservation leaves the transaction usable
// (the caller may give back and commit), and a rolled-back reservation is
// undone.
func testGrantReserveInTx(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := newGrant(a, "")
	g.Size, g.ByteBudget = 50, 100
	MustCreateGrant(t, s, g)
	err := s.Tx(ctx, func(tx freight.Store) error {
		if _, err := tx.ReserveGrantBytes(ctx, g.ID, 100); err != nil {
			return err
		}
		_, err := tx.ReserveGrantBytes(ctx, g.ID, 1)
		wantCode(t, "ReserveGrantBytes over budget in a transaction", err, freight.ETOOLARGE)
		got, err := tx.ReserveGrantBytes(ctx, g.ID, -10)
		if err != nil {
			return err
		}
		if got.BytesServed != 90 {
			t.Errorf("BytesServed in the transaction = %d, want 90", got.BytesServed)
		}
		return nil
	})
	noErr(t, "Tx", err)
	if got := storedGrant(t, s, g.ID).BytesServed; got != 90 {
		t.Errorf("BytesServed after the transaction = %d, want 90", got)
	}
	err = s.Tx(ctx, func(tx freight.Store) error {
		if _, err := tx.ReserveGrantBytes(ctx, g.ID, 5); err != nil {
			return err
		}
		return errSentinel
	})
	wantSentinel(t, "Tx that reserves and fails", err)
	if got := storedGrant(t, s, g.ID).BytesServed; got != 90 {
		t.Errorf("BytesServed after a rolled-back reservation = %d, want 90", got)
	}
}

// GrantUsage counts the grants of one organization and one product and
// sums their sizes (not the bytes served). Other organizations, other
// products and vendor staff do not count; an organization or product that
// does not exist has no usage, and is not an error: grants are history.
func testGrantUsage(t *testing.T, s freight.Store) {
	ctx := t.Context()
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	widget := MustCreateProduct(t, s, newProduct("widget"))
	gadget := MustCreateProduct(t, s, newProduct("gadget"))
	wa := seedArtifact(t, s, widget, "1.0.0")
	wb := seedArtifact(t, s, widget, "2.0.0")
	ga := seedArtifact(t, s, gadget, "1.0.0")
	for _, plan := range []struct {
		a    *freight.Artifact
		org  string
		size int64
	}{
		{wa, acme.ID, 100}, {wb, acme.ID, 250}, {wa, globex.ID, 1000}, {ga, acme.ID, 2000}, {wa, "", 4000}, {wb, acme.ID, 0},
	} {
		g := newGrant(plan.a, plan.org)
		g.Size, g.ByteBudget = plan.size, 2*plan.size
		MustCreateGrant(t, s, g)
		if plan.org == acme.ID && plan.size == 100 {
			// Bytes served do not count: usage is what the grants name.
			_, err := s.ReserveGrantBytes(ctx, g.ID, 150)
			noErr(t, "ReserveGrantBytes", err)
		}
	}
	checkUsage(t, "acme, widget", s, acme.ID, widget.ID, time.Time{}, freight.Usage{Downloads: 3, Bytes: 350})
	checkUsage(t, "globex, widget", s, globex.ID, widget.ID, time.Time{}, freight.Usage{Downloads: 1, Bytes: 1000})
	checkUsage(t, "acme, gadget", s, acme.ID, gadget.ID, time.Time{}, freight.Usage{Downloads: 1, Bytes: 2000})
	checkUsage(t, "globex, gadget", s, globex.ID, gadget.ID, time.Time{}, freight.Usage{})
	checkUsage(t, "missing organization", s, missingID(freight.PrefixOrganization), widget.ID, time.Time{}, freight.Usage{})
	checkUsage(t, "missing product", s, acme.ID, missingID(freight.PrefixProduct), time.Time{}, freight.Usage{})
	checkUsage(t, "since a day ago", s, acme.ID, widget.ID, time.Now().Add(-24*time.Hour), freight.Usage{Downloads: 3, Bytes: 350})
	checkUsage(t, "since tomorrow", s, acme.ID, widget.ID, time.Now().Add(24*time.Hour), freight.Usage{})
	_, err := s.GrantUsage(ctx, "", widget.ID, time.Time{})
	wantCode(t, "GrantUsage(no organization)", err, freight.EINVALID)
	_, err = s.GrantUsage(ctx, acme.ID, "", time.Time{})
	wantCode(t, "GrantUsage(no product)", err, freight.EINVALID)
}

// since is inclusive, to the microsecond of the created time, in any zone.
func testGrantUsageSince(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	var gs []*freight.Grant
	for _, size := range []int64{1, 10, 100} {
		g := newGrant(a, o.ID)
		g.Size = size
		gs = append(gs, MustCreateGrant(t, s, g))
		settle()
	}
	for i := 1; i < len(gs); i++ {
		if !gs[i-1].CreatedAt.Before(gs[i].CreatedAt) {
			t.Fatalf("grant %d created at %v, not before grant %d at %v", i-1, gs[i-1].CreatedAt, i, gs[i].CreatedAt)
		}
	}
	zone := time.FixedZone("PST", -8*3600)
	for _, tc := range []struct {
		name  string
		since time.Time
		want  freight.Usage
	}{
		{"since the first", gs[0].CreatedAt, freight.Usage{Downloads: 3, Bytes: 111}},
		{"since just after the first", gs[0].CreatedAt.Add(time.Microsecond), freight.Usage{Downloads: 2, Bytes: 110}},
		{"since just before the second", gs[1].CreatedAt.Add(-time.Microsecond), freight.Usage{Downloads: 2, Bytes: 110}},
		{"since the second", gs[1].CreatedAt, freight.Usage{Downloads: 2, Bytes: 110}},
		{"since the third, in another zone", gs[2].CreatedAt.In(zone), freight.Usage{Downloads: 1, Bytes: 100}},
		{"since just after the third", gs[2].CreatedAt.Add(time.Microsecond), freight.Usage{}},
	} {
		checkUsage(t, tc.name, s, o.ID, p.ID, tc.since, tc.want)
	}
}

// Grants are history: an artifact that has grants is not deleted
// (ECONFLICT), and neither is a draft release with such an artifact; the
// artifact and its grants stay as they were.
func testGrantDeleteArtifact(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := MustCreateGrant(t, s, newGrant(a, o.ID))
	d := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin"})
	wantCode(t, "DeleteArtifact with grants", s.DeleteArtifact(ctx, a.ID), freight.ECONFLICT)
	stored, err := s.Artifact(ctx, a.ID)
	noErr(t, "Artifact after a refused delete", err)
	checkSame(t, "Artifact after a refused delete", stored, a)
	checkSame(t, "Grant after a refused delete", storedGrant(t, s, g.ID), g)
	checkSame(t, "Download after a refused delete", storedDownload(t, s, d.ID), d)

	// Staff may have downloaded an artifact of a draft: the draft then
	// cannot be deleted either, but its other artifacts can.
	draft := MustCreateRelease(t, s, newRelease(p.ID, "2.0.0"))
	x := MustCreateArtifact(t, s, newArtifact(draft.ID, "widget-2.0.0.tar.gz"))
	y := MustCreateArtifact(t, s, newArtifact(draft.ID, "widget-2.0.0.zip"))
	gx := MustCreateGrant(t, s, newGrant(x, ""))
	noErr(t, "DeleteArtifact without grants, beside one with grants", s.DeleteArtifact(ctx, y.ID))
	wantCode(t, "DeleteRelease(draft) with an artifact that has grants", s.DeleteRelease(ctx, draft.ID), freight.ECONFLICT)
	storedRel, err := s.Release(ctx, draft.ID)
	noErr(t, "Release after a refused delete", err)
	checkSame(t, "Release after a refused delete", storedRel, draft)
	checkKeys(t, "Artifacts of the draft after a refused delete", artifactList(t, s, freight.ArtifactFilter{ReleaseID: draft.ID}), artifactID, []string{x.ID})
	checkSame(t, "Grant of the draft's artifact", storedGrant(t, s, gx.ID), gx)
	checkUsage(t, "usage after the refused deletes", s, o.ID, p.ID, time.Time{}, freight.Usage{Downloads: 1, Bytes: g.Size})
}

// Deleting a draft release whose artifacts have no grants works as before,
// while other artifacts of the product have grants.
func testGrantDeleteDraftRelease(t *testing.T, s freight.Store) {
	ctx := t.Context()
	p := MustCreateProduct(t, s, newProduct("widget"))
	pub := seedArtifact(t, s, p, "1.0.0")
	g := MustCreateGrant(t, s, newGrant(pub, ""))
	draft := MustCreateRelease(t, s, newRelease(p.ID, "2.0.0"))
	a1 := MustCreateArtifact(t, s, newArtifact(draft.ID, "widget-2.0.0.tar.gz"))
	MustCreateArtifact(t, s, newArtifact(draft.ID, "widget-2.0.0.zip"))
	MustCreateUpload(t, s, newUpload(a1.ID))
	noErr(t, "DeleteRelease(draft without grants)", s.DeleteRelease(ctx, draft.ID))
	_, err := s.Release(ctx, draft.ID)
	wantCode(t, "Release after delete", err, freight.ENOTFOUND)
	checkKeys(t, "Artifacts after deleting the draft", artifactList(t, s, freight.ArtifactFilter{}), artifactID, []string{pub.ID})
	checkSame(t, "the other artifact's grant", storedGrant(t, s, g.ID), g)

	lone := MustCreateRelease(t, s, newRelease(p.ID, "3.0.0"))
	a := MustCreateArtifact(t, s, newArtifact(lone.ID, "widget-3.0.0.tar.gz"))
	noErr(t, "DeleteArtifact without grants", s.DeleteArtifact(ctx, a.ID))
	noErr(t, "DeleteRelease(empty draft)", s.DeleteRelease(ctx, lone.ID))
}

// seedGrant creates an organization, a product with an artifact, and a
// grant of it to the organization.
func seedGrant(t testing.TB, s freight.Store) (*freight.Organization, *freight.Product, *freight.Grant) {
	t.Helper()
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	return o, p, MustCreateGrant(t, s, newGrant(a, o.ID))
}

// Every field comes back as written; a download without a start time
// started now; newest first.
func testDownloadCreateList(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, g := seedGrant(t, s)
	zone := time.FixedZone("CET", 3600)
	d := &freight.Download{
		GrantID: g.ID, ArtifactID: g.ArtifactID, ProductID: p.ID, OrgID: o.ID, Actor: missingID(freight.PrefixToken),
		IP: "198.51.100.9", Via: "cloudfront", Range: "bytes=1048576-", Bytes: 12345, Completed: true,
		StartedAt: ts(time.Hour).Add(999 * time.Nanosecond).In(zone), FinishedAt: ptr(ts(2 * time.Hour).In(zone)),
	}
	if err := s.CreateDownload(ctx, d); err != nil {
		t.Fatalf("CreateDownload: %v", err)
	}
	if !freight.ValidID(freight.PrefixDownload, d.ID) {
		t.Errorf("ID after create = %q, want a valid %s_ id", d.ID, freight.PrefixDownload)
	}
	if !d.StartedAt.Equal(ts(time.Hour)) {
		t.Errorf("StartedAt after create = %v, want the time given at microseconds, %v", d.StartedAt, ts(time.Hour))
	}
	bare := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin"})
	checkRecent(t, "StartedAt set by CreateDownload", bare.StartedAt)
	if bare.ID == d.ID {
		t.Errorf("two downloads got the same id %q", d.ID)
	}

	got := listAll(t, downloadList(t, s, freight.DownloadFilter{}))
	if len(got) != 2 {
		t.Fatalf("Downloads = %d downloads, want 2", len(got))
	}
	checkSame(t, "Downloads[0]", got[0], bare)
	checkSame(t, "Downloads[1]", got[1], d)
	want := freight.Download{
		ID: d.ID, GrantID: g.ID, ArtifactID: g.ArtifactID, ProductID: p.ID, OrgID: o.ID, Actor: d.Actor,
		IP: "198.51.100.9", Via: "cloudfront", Range: "bytes=1048576-", Bytes: 12345, Completed: true,
		StartedAt: ts(time.Hour), FinishedAt: ptr(ts(2 * time.Hour)),
	}
	checkSame(t, "Downloads[1] field by field", got[1], &want)
	if got[0].FinishedAt != nil || got[0].Completed || got[0].Bytes != 0 || got[0].Range != "" || got[0].IP != "" {
		t.Errorf("a download created bare has FinishedAt, Completed, Bytes, Range, IP = %v, %v, %d, %q, %q; want nil, false, 0, \"\", \"\"",
			got[0].FinishedAt, got[0].Completed, got[0].Bytes, got[0].Range, got[0].IP)
	}
	for _, dl := range got {
		checkUTCMicro(t, dl)
	}
}

// A download belongs to its grant's artifact, product and organization:
// the store fills in those left empty, from the grant, and the grant's
// actor when Actor is empty; a download that names others is refused.
func testDownloadFromGrant(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, g := seedGrant(t, s)
	d := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "edge-fra"})
	if d.ArtifactID != g.ArtifactID || d.ProductID != p.ID || d.OrgID != o.ID || d.Actor != g.Actor {
		t.Errorf("CreateDownload filled in ArtifactID, ProductID, OrgID, Actor = %q, %q, %q, %q; want the grant's %q, %q, %q, %q",
			d.ArtifactID, d.ProductID, d.OrgID, d.Actor, g.ArtifactID, p.ID, o.ID, g.Actor)
	}
	checkSame(t, "the download, stored", storedDownload(t, s, d.ID), d)

	staff := MustCreateGrant(t, s, newGrant(&freight.Artifact{ID: g.ArtifactID, Size: g.Size, Filename: g.Filename}, ""))
	sd := MustCreateDownload(t, s, &freight.Download{GrantID: staff.ID, Via: "origin", Actor: "someone else"})
	if sd.OrgID != "" || sd.Actor != "someone else" {
		t.Errorf("download of a vendor staff grant: OrgID, Actor = %q, %q; want \"\", the actor given", sd.OrgID, sd.Actor)
	}
	checkSame(t, "the vendor staff download, stored", storedDownload(t, s, sd.ID), sd)

	other := MustCreateOrganization(t, s, newOrg("globex"))
	otherP := MustCreateProduct(t, s, newProduct("gadget"))
	for name, mod := range map[string]func(*freight.Download){
		"another artifact":     func(d *freight.Download) { d.ArtifactID = missingID(freight.PrefixArtifact) },
		"another product":      func(d *freight.Download) { d.ProductID = otherP.ID },
		"another organization": func(d *freight.Download) { d.OrgID = other.ID },
	} {
		d := &freight.Download{GrantID: g.ID, Via: "origin"}
		mod(d)
		wantCode(t, "CreateDownload with "+name+" than the grant's", s.CreateDownload(ctx, d), freight.EINVALID)
	}
	d2 := &freight.Download{GrantID: staff.ID, Via: "origin", OrgID: o.ID}
	wantCode(t, "CreateDownload with an organization for a vendor staff grant", s.CreateDownload(ctx, d2), freight.EINVALID)
	checkKeys(t, "Downloads", downloadList(t, s, freight.DownloadFilter{}), downloadID, []string{sd.ID, d.ID})
}

func testDownloadInvalid(t *testing.T, s freight.Store) {
	_, _, g := seedGrant(t, s)
	for name, d := range map[string]*freight.Download{
		"no grant":                 {Via: "origin"},
		"grant id of another type": {GrantID: g.ArtifactID, Via: "origin"},
		"id of another type":       {ID: g.ID, GrantID: g.ID, Via: "origin"},
		"no via":                   {GrantID: g.ID},
		"negative bytes":           {GrantID: g.ID, Via: "origin", Bytes: -1},
	} {
		wantCode(t, "CreateDownload with "+name, s.CreateDownload(t.Context(), d), freight.EINVALID)
	}
	checkKeys(t, "Downloads after invalid creates", downloadList(t, s, freight.DownloadFilter{}), downloadID, []string{})
}

func testDownloadMissingGrant(t *testing.T, s freight.Store) {
	seedGrant(t, s)
	err := s.CreateDownload(t.Context(), &freight.Download{GrantID: missingID(freight.PrefixGrant), Via: "origin"})
	wantCode(t, "CreateDownload(missing grant)", err, freight.ENOTFOUND)
	checkKeys(t, "Downloads", downloadList(t, s, freight.DownloadFilter{}), downloadID, []string{})
}

// FinishDownload records how a download ended; it may be called again
// (a retried report), and the last call wins. A zero time means now.
func testDownloadFinish(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, _, g := seedGrant(t, s)
	d := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", StartedAt: ts(0)})
	keep := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", StartedAt: ts(time.Minute)})
	want := *d
	for _, step := range []struct {
		bytes     int64
		completed bool
		at        time.Time
	}{
		{500, false, ts(time.Hour)},
		{1 << 40, true, ts(2 * time.Hour)},
		{1 << 40, true, ts(2 * time.Hour)}, // the same report again
		{0, false, ts(30 * time.Minute)},   // an earlier time: still the last call
		{7, true, ts(3 * time.Hour).In(time.FixedZone("PST", -8*3600))},
	} {
		what := fmt.Sprintf("FinishDownload(%d, %v, %v)", step.bytes, step.completed, step.at)
		noErr(t, what, s.FinishDownload(ctx, d.ID, step.bytes, step.completed, step.at))
		want.Bytes, want.Completed, want.FinishedAt = step.bytes, step.completed, ptr(step.at)
		checkSame(t, what, storedDownload(t, s, d.ID), &want)
	}
	wantCode(t, "FinishDownload(negative bytes)", s.FinishDownload(ctx, d.ID, -1, true, ts(4*time.Hour)), freight.EINVALID)
	checkSame(t, "after FinishDownload(negative bytes)", storedDownload(t, s, d.ID), &want)
	wantCode(t, "FinishDownload(missing)", s.FinishDownload(ctx, missingID(freight.PrefixDownload), 1, true, ts(0)), freight.ENOTFOUND)
	checkSame(t, "the other download", storedDownload(t, s, keep.ID), keep)

	noErr(t, "FinishDownload(zero time)", s.FinishDownload(ctx, keep.ID, 1, true, time.Time{}))
	got := storedDownload(t, s, keep.ID)
	if got.FinishedAt == nil {
		t.Fatalf("FinishedAt after FinishDownload(zero time) = nil, want now")
	}
	checkRecent(t, "FinishedAt after FinishDownload(zero time)", *got.FinishedAt)
}

// Downloads are listed newest first by start time (an edge node reports
// late), downloads of one instant newest id first, across pages.
func testDownloadPagination(t *testing.T, s freight.Store) {
	list := downloadList(t, s, freight.DownloadFilter{})
	checkPaging(t, "Downloads of an empty store", list, downloadID, nil)
	_, _, g := seedGrant(t, s)
	var all []*freight.Download
	for _, h := range []int{5, 1, 3, 3, 3, 4, 2, 0, 3} {
		all = append(all, MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", StartedAt: ts(time.Duration(h) * time.Hour)}))
		settle()
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *freight.Download) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	want := keys(sorted, downloadID)
	// By time, then creation: hours 5, 4, 3 (the last three of the four
	// created at 3 first), 2, 1, 0.
	if want[0] != all[0].ID || want[1] != all[5].ID || want[2] != all[8].ID || want[5] != all[2].ID {
		t.Fatalf("the test's own order is wrong: %q", want)
	}
	checkPaging(t, "Downloads", list, downloadID, want)

	for _, after := range []string{"nonsense", ts(0).Format("2006-01-02T15:04:05.000000Z") + "/" + g.ID, "yesterday/" + all[0].ID} {
		_, _, err := s.Downloads(t.Context(), freight.DownloadFilter{Page: freight.Page{After: after}})
		wantCode(t, "Downloads(After "+after+")", err, freight.EINVALID)
	}
}

func testDownloadFilters(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	widget := MustCreateProduct(t, s, newProduct("widget"))
	gadget := MustCreateProduct(t, s, newProduct("gadget"))
	wa := seedArtifact(t, s, widget, "1.0.0")
	wb := seedArtifact(t, s, widget, "2.0.0")
	ga := seedArtifact(t, s, gadget, "1.0.0")
	g1 := MustCreateGrant(t, s, newGrant(wa, acme.ID))
	g2 := MustCreateGrant(t, s, newGrant(wb, acme.ID))
	g3 := MustCreateGrant(t, s, newGrant(wa, globex.ID))
	g4 := MustCreateGrant(t, s, newGrant(ga, acme.ID))
	g5 := MustCreateGrant(t, s, newGrant(wa, ""))
	idle := MustCreateGrant(t, s, newGrant(ga, globex.ID))
	var all []*freight.Download
	for i, g := range []*freight.Grant{g1, g2, g3, g4, g5, g1, g3, g4, g1, g5} {
		all = append(all, MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", StartedAt: ts(time.Duration(i) * time.Hour)}))
		settle()
	}
	match := func(keep func(*freight.Download) bool) []string {
		var ids []string
		for _, d := range reversed(all) {
			if keep(d) {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    freight.DownloadFilter
		keep func(*freight.Download) bool
	}{
		{"all", freight.DownloadFilter{}, func(*freight.Download) bool { return true }},
		{"org acme", freight.DownloadFilter{OrgID: acme.ID}, func(d *freight.Download) bool { return d.OrgID == acme.ID }},
		{"org globex", freight.DownloadFilter{OrgID: globex.ID}, func(d *freight.Download) bool { return d.OrgID == globex.ID }},
		{"product widget", freight.DownloadFilter{ProductID: widget.ID}, func(d *freight.Download) bool { return d.ProductID == widget.ID }},
		{"product gadget", freight.DownloadFilter{ProductID: gadget.ID}, func(d *freight.Download) bool { return d.ProductID == gadget.ID }},
		{"artifact wa", freight.DownloadFilter{ArtifactID: wa.ID}, func(d *freight.Download) bool { return d.ArtifactID == wa.ID }},
		{"artifact wb", freight.DownloadFilter{ArtifactID: wb.ID}, func(d *freight.Download) bool { return d.ArtifactID == wb.ID }},
		{"grant g1", freight.DownloadFilter{GrantID: g1.ID}, func(d *freight.Download) bool { return d.GrantID == g1.ID }},
		{"grant g5 (vendor staff)", freight.DownloadFilter{GrantID: g5.ID}, func(d *freight.Download) bool { return d.GrantID == g5.ID }},
		{"grant without downloads", freight.DownloadFilter{GrantID: idle.ID}, func(*freight.Download) bool { return false }},
		{"since 3h", freight.DownloadFilter{Since: ts(3 * time.Hour)}, func(d *freight.Download) bool { return !d.StartedAt.Before(ts(3 * time.Hour)) }},
		{"until 3h", freight.DownloadFilter{Until: ts(3 * time.Hour)}, func(d *freight.Download) bool { return d.StartedAt.Before(ts(3 * time.Hour)) }},
		{"acme, widget, since 1h", freight.DownloadFilter{OrgID: acme.ID, ProductID: widget.ID, Since: ts(time.Hour)},
			func(d *freight.Download) bool {
				return d.OrgID == acme.ID && d.ProductID == widget.ID && !d.StartedAt.Before(ts(time.Hour))
			}},
		{"globex, artifact wa, grant g3, until 9h", freight.DownloadFilter{OrgID: globex.ID, ArtifactID: wa.ID, GrantID: g3.ID, Until: ts(9 * time.Hour)},
			func(d *freight.Download) bool {
				return d.OrgID == globex.ID && d.ArtifactID == wa.ID && d.GrantID == g3.ID && d.StartedAt.Before(ts(9*time.Hour))
			}},
		{"acme and grant g3 (of globex)", freight.DownloadFilter{OrgID: acme.ID, GrantID: g3.ID}, func(*freight.Download) bool { return false }},
	} {
		checkPaging(t, "Downloads("+tc.name+")", downloadList(t, s, tc.f), downloadID, match(tc.keep))
	}
}

// Since is inclusive and Until exclusive, to the microsecond, in any zone.
func testDownloadSinceUntilBounds(t *testing.T, s freight.Store) {
	_, _, g := seedGrant(t, s)
	var ids []string
	for i := range 4 {
		ids = append(ids, MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", StartedAt: ts(time.Duration(i) * time.Microsecond)}).ID)
		settle()
	}
	zone := time.FixedZone("PST", -8*3600)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         []string
	}{
		{"since the second", ts(time.Microsecond), time.Time{}, []string{ids[3], ids[2], ids[1]}},
		{"until the third", time.Time{}, ts(2 * time.Microsecond), []string{ids[1], ids[0]}},
		{"since the second until the third", ts(time.Microsecond), ts(2 * time.Microsecond), []string{ids[1]}},
		{"since = until", ts(time.Microsecond), ts(time.Microsecond), nil},
		{"in another zone", ts(time.Microsecond).In(zone), ts(3 * time.Microsecond).In(zone), []string{ids[2], ids[1]}},
	} {
		checkKeys(t, "Downloads("+tc.name+")", downloadList(t, s, freight.DownloadFilter{Since: tc.since, Until: tc.until}), downloadID, tc.want)
	}
}

// Unlike other lists, a download filter that names an object that does not
// exist is an empty list, not ENOTFOUND: downloads are history, and the
// organization they name may be gone.
func testDownloadFilterMissing(t *testing.T, s freight.Store) {
	o, _, g := seedGrant(t, s)
	MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin"})
	for name, f := range map[string]freight.DownloadFilter{
		"missing organization": {OrgID: missingID(freight.PrefixOrganization)},
		"missing product":      {ProductID: missingID(freight.PrefixProduct)},
		"missing artifact":     {ArtifactID: missingID(freight.PrefixArtifact)},
		"missing grant":        {GrantID: missingID(freight.PrefixGrant)},
		"malformed grant id":   {GrantID: "nonsense"},
	} {
		got, next, err := s.Downloads(t.Context(), f)
		if err != nil || len(got) != 0 || got == nil || next != "" {
			t.Errorf("Downloads(%s) = %v, %q, %v; want an empty list, no cursor, no error", name, got, next, err)
		}
	}
	// A deleted organization's downloads stay listed under its id.
	noErr(t, "DeleteOrganization", s.DeleteOrganization(t.Context(), o.ID))
	if got := listAll(t, downloadList(t, s, freight.DownloadFilter{OrgID: o.ID})); len(got) != 1 {
		t.Errorf("Downloads(deleted organization) = %d downloads, want 1", len(got))
	}
	checkUsage(t, "usage of the deleted organization", s, o.ID, g.ProductID, time.Time{}, freight.Usage{Downloads: 1, Bytes: g.Size})
}

// sizedGrant creates a grant of an artifact of size bytes, with a budget
// of twice that.
func sizedGrant(t testing.TB, s freight.Store, a *freight.Artifact, orgID string, size int64) *freight.Grant {
	t.Helper()
	g := newGrant(a, orgID)
	g.Size, g.ByteBudget = size, 2*size
	return MustCreateGrant(t, s, g)
}

// checkCompleted fails the test unless the grant's CompletedAt is want
// (nil: not completed).
func checkCompleted(t testing.TB, what string, s freight.Store, id string, want *time.Time) {
	t.Helper()
	got := storedGrant(t, s, id).CompletedAt
	if (got == nil) != (want == nil) || got != nil && !got.Equal(*want) {
		t.Errorf("%s: CompletedAt = %v, want %v", what, got, want)
	}
}

// A grant completes when one request sent the whole file, or when its
// requests together sent at least its size (the rule the download figures
// count by); CompleteGrant marks it once, at the time given, and reports
// whether this call marked it.
func testGrantComplete(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, _ := seedGrant(t, s)
	a := seedArtifact(t, s, p, "2.0.0")
	complete := func(what, id string, at time.Time, want bool) {
		t.Helper()
		got, err := s.CompleteGrant(ctx, id, at)
		noErr(t, what, err)
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	dl := func(g *freight.Grant, rng string, bytes int64, completed bool) {
		t.Helper()
		MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", Range: rng, Bytes: bytes, Completed: completed, StartedAt: ts(time.Minute)})
	}

	// Two ranges that together make the file.
	ranged := sizedGrant(t, s, a, o.ID, 100)
	complete("CompleteGrant(no download)", ranged.ID, ts(time.Hour), false)
	dl(ranged, "bytes=0-49", 50, true)
	complete("CompleteGrant(half the file)", ranged.ID, ts(time.Hour), false)
	checkCompleted(t, "half the file", s, ranged.ID, nil)
	dl(ranged, "bytes=50-", 50, true)
	complete("CompleteGrant(both halves)", ranged.ID, ts(2*time.Hour), true)
	checkCompleted(t, "both halves", s, ranged.ID, ptr(ts(2*time.Hour)))
	dl(ranged, "", 100, true)
	complete("CompleteGrant(completed before)", ranged.ID, ts(3*time.Hour), false)
	checkCompleted(t, "completed before", s, ranged.ID, ptr(ts(2*time.Hour)))

	// One request for the whole file that finished.
	whole := sizedGrant(t, s, a, o.ID, 100)
	dl(whole, "", 100, true)
	complete("CompleteGrant(the whole file)", whole.ID, ts(time.Hour).In(time.FixedZone("CET", 3600)), true)
	checkCompleted(t, "the whole file", s, whole.ID, ptr(ts(time.Hour)))

	// A request for the whole file that broke off, then resumed.
	resumed := sizedGrant(t, s, a, "", 100)
	dl(resumed, "", 30, false)
	complete("CompleteGrant(broken off)", resumed.ID, ts(time.Hour), false)
	dl(resumed, "bytes=30-", 70, true)
	complete("CompleteGrant(resumed)", resumed.ID, ts(time.Hour), true)

	// An empty file completes with its one request, not before.
	empty := sizedGrant(t, s, a, o.ID, 0)
	complete("CompleteGrant(empty file, no download)", empty.ID, ts(time.Hour), false)
	dl(empty, "", 0, true)
	complete("CompleteGrant(empty file)", empty.ID, ts(time.Hour), true)

	// A zero time is now.
	now := sizedGrant(t, s, a, o.ID, 10)
	dl(now, "", 10, true)
	complete("CompleteGrant(zero time)", now.ID, time.Time{}, true)
	checkRecent(t, "CompletedAt after CompleteGrant(zero time)", *storedGrant(t, s, now.ID).CompletedAt)

	_, err := s.CompleteGrant(ctx, missingID(freight.PrefixGrant), ts(0))
	wantCode(t, "CompleteGrant(missing)", err, freight.ENOTFOUND)
}

// The origin records a request as it starts, with no bytes, and then how
// it ended, possibly more than once (the last report wins): the grant
// completes by what the downloads hold after the last report, each
// counted once.
func testGrantCompleteFinished(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, _ := seedGrant(t, s)
	a := seedArtifact(t, s, p, "2.0.0")
	complete := func(what, id string, want bool) {
		t.Helper()
		got, err := s.CompleteGrant(ctx, id, ts(time.Hour))
		noErr(t, what, err)
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	finish := func(d *freight.Download, bytes int64, completed bool) {
		t.Helper()
		noErr(t, "FinishDownload", s.FinishDownload(ctx, d.ID, bytes, completed, ts(time.Minute)))
	}

	ranged := sizedGrant(t, s, a, o.ID, 100)
	first := MustCreateDownload(t, s, &freight.Download{GrantID: ranged.ID, Via: "origin", Range: "bytes=0-59"})
	complete("CompleteGrant(a request started)", ranged.ID, false)
	finish(first, 60, true)
	finish(first, 60, true) // the same report again
	complete("CompleteGrant(60 of 100 bytes, reported twice)", ranged.ID, false)
	second := MustCreateDownload(t, s, &freight.Download{GrantID: ranged.ID, Via: "origin", Range: "bytes=60-"})
	finish(second, 40, true)
	finish(first, 10, false) // the first one broke off after all
	complete("CompleteGrant(10 and 40 of 100 bytes)", ranged.ID, false)
	finish(first, 60, true)
	complete("CompleteGrant(60 and 40 of 100 bytes)", ranged.ID, true)

	whole := sizedGrant(t, s, a, o.ID, 100)
	d := MustCreateDownload(t, s, &freight.Download{GrantID: whole.ID, Via: "origin"})
	finish(d, 100, true)
	finish(d, 30, false)
	complete("CompleteGrant(a whole-file request reported broken off last)", whole.ID, false)
	finish(d, 30, true)
	complete("CompleteGrant(a whole-file request reported completed last)", whole.ID, true)
}

// The same report of how a request ended, sent by many callers at once
// (retries that crossed), counts the request once.
func testGrantCompleteFinishedConcurrent(t *testing.T, s freight.Store) {
	const callers = 16
	o, p, _ := seedGrant(t, s)
	g := sizedGrant(t, s, seedArtifact(t, s, p, "2.0.0"), o.ID, 100)
	d := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", Range: "bytes=0-59"})
	run(callers, func(i int) {
		if err := s.FinishDownload(t.Context(), d.ID, 60, true, ts(time.Minute)); err != nil {
			t.Errorf("FinishDownload #%d: %v", i, err)
		}
	})
	marked, err := s.CompleteGrant(t.Context(), g.ID, ts(time.Hour))
	noErr(t, "CompleteGrant", err)
	if marked {
		t.Errorf("CompleteGrant after %d reports of the same 60 of 100 bytes = true, want false", callers)
	}
}

// A download the store refuses, alone or inside a transaction that goes
// on and commits, counts for nothing towards its grant's completion.
func testGrantCompleteRefused(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, _ := seedGrant(t, s)
	a := seedArtifact(t, s, p, "2.0.0")
	g := sizedGrant(t, s, a, o.ID, 100)
	first := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", Range: "bytes=0-9", Bytes: 10, Completed: true})

	whole := &freight.Download{GrantID: g.ID, Via: "origin", Bytes: 100, Completed: true}
	wrongOrg := *whole
	wrongOrg.OrgID = missingID(freight.PrefixOrganization)
	wantCode(t, "CreateDownload(another organization)", s.CreateDownload(ctx, &wrongOrg), freight.EINVALID)
	again := *whole
	again.ID = first.ID
	wantCode(t, "CreateDownload(an id taken)", s.CreateDownload(ctx, &again), freight.ECONFLICT)
	noErr(t, "Tx", s.Tx(ctx, func(tx freight.Store) error {
		again := *whole
		again.ID = first.ID
		wantCode(t, "CreateDownload(an id taken) in a transaction", tx.CreateDownload(ctx, &again), freight.ECONFLICT)
		wrongOrg := wrongOrg
		wantCode(t, "CreateDownload(another organization) in a transaction", tx.CreateDownload(ctx, &wrongOrg), freight.EINVALID)
		MustCreateDownload(t, tx, &freight.Download{GrantID: g.ID, Via: "origin", Range: "bytes=10-19", Bytes: 10, Completed: true})
		return nil
	}))
	marked, err := s.CompleteGrant(ctx, g.ID, ts(time.Hour))
	noErr(t, "CompleteGrant", err)
	if marked {
		t.Errorf("CompleteGrant after 20 of 100 bytes and refused whole-file downloads = true, want false")
	}
	wantCode(t, "FinishDownload(missing)", s.FinishDownload(ctx, missingID(freight.PrefixDownload), 100, true, ts(0)), freight.ENOTFOUND)
	MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", Range: "bytes=20-", Bytes: 80, Completed: true})
	marked, err = s.CompleteGrant(ctx, g.ID, ts(time.Hour))
	noErr(t, "CompleteGrant", err)
	if !marked {
		t.Errorf("CompleteGrant after 10, 10 and 80 of 100 bytes = false, want true")
	}
}

// Reports of absurd sizes (an edge reports the bytes it served) are
// recorded, and later requests of the grant too.
func testGrantCompleteHuge(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, _ := seedGrant(t, s)
	g := sizedGrant(t, s, seedArtifact(t, s, p, "2.0.0"), o.ID, 100)
	for range 2 {
		MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "edge-fra", Range: "bytes=0-", Bytes: math.MaxInt64})
	}
	d := MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "edge-fra", Range: "bytes=0-"})
	noErr(t, "FinishDownload(the largest size)", s.FinishDownload(ctx, d.ID, math.MaxInt64, false, ts(time.Minute)))
	marked, err := s.CompleteGrant(ctx, g.ID, ts(time.Hour))
	noErr(t, "CompleteGrant", err)
	if !marked {
		t.Errorf("CompleteGrant after three reports of %d bytes = false, want true", int64(math.MaxInt64))
	}
}

// In the transaction that records the completing download, the mark
// commits with it or not at all.
func testGrantCompleteInTx(t *testing.T, s freight.Store) {
	ctx := t.Context()
	o, p, _ := seedGrant(t, s)
	g := sizedGrant(t, s, seedArtifact(t, s, p, "2.0.0"), o.ID, 100)
	boom := fmt.Errorf("the transaction fails after the mark")
	err := s.Tx(ctx, func(tx freight.Store) error {
		MustCreateDownload(t, tx, &freight.Download{GrantID: g.ID, Via: "origin", Bytes: 100, Completed: true})
		marked, err := tx.CompleteGrant(ctx, g.ID, ts(time.Hour))
		if err != nil || !marked {
			t.Errorf("CompleteGrant in the transaction = %v, %v; want true", marked, err)
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Tx = %v, want the function's error", err)
	}
	checkCompleted(t, "after a rollback", s, g.ID, nil)
	marked, err := s.CompleteGrant(ctx, g.ID, ts(time.Hour))
	noErr(t, "CompleteGrant after a rollback", err)
	if marked {
		t.Errorf("CompleteGrant after the rolled-back download = true, want false: the download is gone too")
	}
	noErr(t, "Tx", s.Tx(ctx, func(tx freight.Store) error {
		MustCreateDownload(t, tx, &freight.Download{GrantID: g.ID, Via: "origin", Bytes: 100, Completed: true})
		marked, err := tx.CompleteGrant(ctx, g.ID, ts(2*time.Hour))
		if err != nil || !marked {
			t.Errorf("CompleteGrant in a committed transaction = %v, %v; want true", marked, err)
		}
		return err
	}))
	checkCompleted(t, "after a commit", s, g.ID, ptr(ts(2*time.Hour)))
}

// A segmented download finishing on many replicas at once: each segment's
// transaction records its range and asks CompleteGrant. Exactly one of
// them marks the grant, neither none (each seeing only its own range)
// nor two.
func testGrantCompleteConcurrent(t *testing.T, s freight.Store) {
	const segments, size = 16, 1600
	o, p, _ := seedGrant(t, s)
	g := sizedGrant(t, s, seedArtifact(t, s, p, "2.0.0"), o.ID, size)
	marked := make([]bool, segments)
	run(segments, func(i int) {
		err := s.Tx(t.Context(), func(tx freight.Store) error {
			from := int64(i) * size / segments
			d := &freight.Download{GrantID: g.ID, Via: "origin", Range: fmt.Sprintf("bytes=%d-%d", from, from+size/segments-1), Bytes: size / segments, Completed: true}
			if err := tx.CreateDownload(t.Context(), d); err != nil {
				return err
			}
			var err error
			marked[i], err = tx.CompleteGrant(t.Context(), g.ID, ts(time.Duration(i)*time.Second))
			return err
		})
		if err != nil {
			t.Errorf("segment %d: %v", i, err)
		}
	})
	n := 0
	for _, m := range marked {
		if m {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of %d concurrent segments marked the grant completed, want exactly 1", n, segments)
	}
	if storedGrant(t, s, g.ID).CompletedAt == nil {
		t.Errorf("CompletedAt after every segment = nil, want set")
	}
}
