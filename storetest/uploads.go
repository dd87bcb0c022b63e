package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var uploadTests = []subtest{
	{"CreateGet", testUploadCreateGet},
	{"Invalid", testUploadInvalid},
	{"MissingArtifact", testUploadMissingArtifact},
	{"NotFound", testUploadNotFound},
	{"Update", testUploadUpdate},
	{"UpdateKeepsIDAndCreatedAt", testUploadUpdateKeepsIDAndCreatedAt},
	{"UpdateFnError", testUploadUpdateFnError},
	{"UpdateInvalid", testUploadUpdateInvalid},
	{"UpdateParent", testUploadUpdateParent},
	{"StateTransitions", testUploadStateTransitions},
	{"ConcurrentClaim", testUploadConcurrentClaim},
	{"Pagination", testUploadPagination},
	{"Filters", testUploadFilters},
	{"DeleteArtifact", testUploadDeleteArtifact},
	{"DeleteRelease", testUploadDeleteRelease},
}

var blobTests = []subtest{
	{"Referenced", testBlobReferenced},
	{"ReferencedInvalid", testBlobReferencedInvalid},
	{"Lock", testBlobLock},
	{"LockExtend", testBlobLockExtend},
	{"LockExpired", testBlobLockExpired},
	{"LockInvalid", testBlobLockInvalid},
	{"LockConcurrent", testBlobLockConcurrent},
	{"LockInTx", testBlobLockInTx},
}

// newUpload returns an open upload of 12 MiB in parts of 5 MiB, with the
// fields the server sets.
func newUpload(artifactID string) *freight.Upload {
	return &freight.Upload{
		ArtifactID: artifactID, Size: 12 << 20, PartSize: 5 << 20, State: freight.UploadOpen,
		ExpiresAt: ts(24 * time.Hour), CreatedBy: "usr_test", BackendID: "staging-1", URLKey: bytes.Repeat([]byte{0x5a}, 32),
	}
}

// MustCreateUpload creates u or fails the test.
func MustCreateUpload(t testing.TB, s freight.Store, u *freight.Upload) *freight.Upload {
	t.Helper()
	if err := s.CreateUpload(t.Context(), u); err != nil {
		t.Fatalf("CreateUpload(artifact %s): %v", u.ArtifactID, err)
	}
	return u
}

func uploadID(u *freight.Upload) string { return u.ID }

// uploadArtifact creates a product, a draft release and an artifact for
// uploads to belong to.
func uploadArtifact(t testing.TB, s freight.Store) (*freight.Release, *freight.Artifact) {
	t.Helper()
	p := MustCreateProduct(t, s, newProduct("widget"))
	r := MustCreateRelease(t, s, newRelease(p.ID, "1.0.0"))
	return r, MustCreateArtifact(t, s, newArtifact(r.ID, "widget.tar.gz"))
}

// moveUpload takes the upload through the given states, one update each,
// and returns it as stored.
func moveUpload(t testing.TB, s freight.Store, id string, states ...freight.UploadState) *freight.Upload {
	t.Helper()
	u, err := s.Upload(t.Context(), id)
	noErr(t, "Upload", err)
	for _, st := range states {
		u, err = s.UpdateUpload(t.Context(), id, func(c *freight.Upload) error { c.State = st; return nil })
		noErr(t, fmt.Sprintf("UpdateUpload(%s)", st), err)
	}
	return u
}

// statesTo are the updates that bring a new, open upload to each state
// through transitions every store allows.
var statesTo = map[freight.UploadState][]freight.UploadState{
	freight.UploadOpen:       nil,
	freight.UploadCompleting: {freight.UploadCompleting},
	freight.UploadCompleted:  {freight.UploadCompleting, freight.UploadCompleted},
	freight.UploadFailed:     {freight.UploadFailed},
	freight.UploadAborted:    {freight.UploadAborted},
}

func testUploadCreateGet(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7) // includes 0x00 and bytes above 0x7f
	}
	job := missingID(freight.PrefixJob)
	u := &freight.Upload{
		ArtifactID: a.ID, Size: 40<<30 + 7, PartSize: 64 << 20, SHA256: sha, State: freight.UploadOpen,
		Error: "an earlier completion failed: part 3 is 12 bytes short", ExpiresAt: ts(24 * time.Hour),
		CreatedBy: "usr_01jq3v6k9x0000000000000000", BackendID: "2~Zx9/Q+w==?uploadId=abc&x=1 é",
		URLKey: key, JobID: job, Digest: digest3,
	}
	if err := s.CreateUpload(ctx, u); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	checkCreated(t, "CreateUpload", freight.PrefixUpload, u.ID, u.CreatedAt, &u.UpdatedAt)
	got, err := s.Upload(ctx, u.ID)
	noErr(t, "Upload", err)
	checkSame(t, "Upload(id) with every field", got, u)
	if got.Size != 40<<30+7 {
		t.Errorf("Size = %d, want %d (sizes beyond 32 bits)", got.Size, int64(40<<30+7))
	}
	if got.JobID != job || got.Digest != digest3 {
		t.Errorf("JobID, Digest = %q, %q; want %q, %q", got.JobID, got.Digest, job, digest3)
	}
	if !bytes.Equal(got.URLKey, key) {
		t.Errorf("URLKey = %x, want %x", got.URLKey, key)
	}

	// The optional fields left out: no digest, no key, no job, no
	// staging area yet, no error, an empty file.
	m := &freight.Upload{ArtifactID: a.ID, Size: 0, PartSize: 1, State: freight.UploadOpen, ExpiresAt: ts(0)}
	MustCreateUpload(t, s, m)
	checkCreated(t, "CreateUpload(minimal)", freight.PrefixUpload, m.ID, m.CreatedAt, &m.UpdatedAt)
	got, err = s.Upload(ctx, m.ID)
	noErr(t, "Upload(minimal)", err)
	checkSame(t, "Upload(id) with no optional field", got, m)
	if got.JobID != "" || got.Digest != "" || len(got.URLKey) != 0 || got.SHA256 != "" || got.BackendID != "" || got.Error != "" {
		t.Errorf("minimal upload read back with JobID %q, Digest %q, URLKey %x, SHA256 %q, BackendID %q, Error %q; want all empty",
			got.JobID, got.Digest, got.URLKey, got.SHA256, got.BackendID, got.Error)
	}
	if u.ID == m.ID {
		t.Errorf("two uploads got the same id %q", u.ID)
	}
}

func testUploadInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	mk := func(mod func(*freight.Upload)) *freight.Upload {
		u := newUpload(a.ID)
		mod(u)
		return u
	}
	for name, u := range map[string]*freight.Upload{
		"zero part size":     mk(func(u *freight.Upload) { u.PartSize = 0 }),
		"negative part size": mk(func(u *freight.Upload) { u.PartSize = -1 }),
		"negative size":      mk(func(u *freight.Upload) { u.Size = -1 }),
		"too many parts": mk(func(u *freight.Upload) {
			u.Size, u.PartSize = (freight.MaxUploadParts+1)*1024, 1024
		}),
		"one part too many": mk(func(u *freight.Upload) {
			u.Size, u.PartSize = freight.MaxUploadParts*1024+1, 1024
		}),
		"short sha256":      mk(func(u *freight.Upload) { u.SHA256 = "abc" }),
		"upper-case sha256": mk(func(u *freight.Upload) { u.SHA256 = strings.ToUpper(sha) }),
		"unknown state":     mk(func(u *freight.Upload) { u.State = "done" }),
		"bad job id":        mk(func(u *freight.Upload) { u.JobID = "job_1" }),
		"job id of a user":  mk(func(u *freight.Upload) { u.JobID = missingID(freight.PrefixUser) }),
		"bad digest":        mk(func(u *freight.Upload) { u.Digest = "abc" }),
		"upper-case digest": mk(func(u *freight.Upload) { u.Digest = strings.ToUpper(sha) }),
	} {
		wantCode(t, "CreateUpload with "+name, s.CreateUpload(ctx, u), freight.EINVALID)
	}
	checkKeys(t, "Uploads after invalid creates", uploadList(t, s, freight.UploadFilter{}), uploadID, []string{})

	// MaxUploadParts parts exactly is allowed.
	most := newUpload(a.ID)
	most.Size, most.PartSize = freight.MaxUploadParts*1024, 1024
	MustCreateUpload(t, s, most)

	// No state is either refused or the start of an upload's life.
	u := newUpload(a.ID)
	u.State = ""
	err := s.CreateUpload(ctx, u)
	wantCodeIn(t, "CreateUpload with no state", err, "", freight.EINVALID)
	if err == nil {
		if u.State != freight.UploadOpen {
			t.Errorf("State after create with no state = %q, want %q", u.State, freight.UploadOpen)
		}
		got, err := s.Upload(ctx, u.ID)
		noErr(t, "Upload", err)
		if got.State != freight.UploadOpen {
			t.Errorf("stored State after create with no state = %q, want %q", got.State, freight.UploadOpen)
		}
	}
}

// An upload belongs to an artifact: ENOTFOUND on create when there is none
// (store.go), and for a list filtered by one.
func testUploadMissingArtifact(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	err := s.CreateUpload(ctx, newUpload(missingID(freight.PrefixArtifact)))
	wantCode(t, "CreateUpload(missing artifact)", err, freight.ENOTFOUND)
	checkKeys(t, "Uploads", uploadList(t, s, freight.UploadFilter{}), uploadID, []string{})
	_, _, err = s.Uploads(ctx, freight.UploadFilter{ArtifactID: missingID(freight.PrefixArtifact)})
	wantCode(t, "Uploads(ArtifactID missing)", err, freight.ENOTFOUND)
	// An artifact without uploads is an empty list, not ENOTFOUND.
	checkKeys(t, "Uploads(artifact without uploads)", uploadList(t, s, freight.UploadFilter{ArtifactID: a.ID}), uploadID, []string{})
}

func testUploadNotFound(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	MustCreateUpload(t, s, newUpload(a.ID))
	id := missingID(freight.PrefixUpload)
	got, err := s.Upload(ctx, id)
	wantCode(t, "Upload(missing)", err, freight.ENOTFOUND)
	if got != nil {
		t.Errorf("Upload(missing) = %+v, want nil", got)
	}
	called := false
	got, err = s.UpdateUpload(ctx, id, func(*freight.Upload) error { called = true; return nil })
	wantCode(t, "UpdateUpload(missing)", err, freight.ENOTFOUND)
	if got != nil || called {
		t.Errorf("UpdateUpload(missing) = %+v, fn called %v; want nil, false", got, called)
	}
}

// The fields a server changes during an upload's life round-trip through
// UpdateUpload, and so does clearing them: a job and a digest set and
// dropped, a key replaced and dropped.
func testUploadUpdate(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	u := MustCreateUpload(t, s, newUpload(a.ID))
	job := missingID(freight.PrefixJob)
	key := bytes.Repeat([]byte{0xa5, 0x00}, 16)
	var seen freight.Upload
	got, err := s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error {
		seen = *c
		c.State, c.JobID, c.Digest, c.SHA256, c.Error = freight.UploadCompleting, job, digest2, sha, "retrying"
		c.BackendID, c.URLKey, c.ExpiresAt = "staging-2", key, ts(48*time.Hour)
		return nil
	})
	noErr(t, "UpdateUpload(completing)", err)
	checkSame(t, "the upload passed to fn", &seen, u)
	want := *u
	want.State, want.JobID, want.Digest, want.SHA256, want.Error = freight.UploadCompleting, job, digest2, sha, "retrying"
	want.BackendID, want.URLKey, want.ExpiresAt, want.UpdatedAt = "staging-2", key, ts(48*time.Hour), got.UpdatedAt
	checkSame(t, "UpdateUpload result", got, &want)
	checkUpdated(t, "UpdateUpload", got.CreatedAt, got.UpdatedAt, u.CreatedAt, u.UpdatedAt)
	stored, err := s.Upload(ctx, u.ID)
	noErr(t, "Upload", err)
	checkSame(t, "Upload after update", stored, got)

	// A verification that cannot finish reopens the upload; every
	// optional field can be cleared.
	prev := got
	got, err = s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error {
		c.State, c.JobID, c.Digest, c.SHA256, c.Error, c.BackendID, c.URLKey = freight.UploadOpen, "", "", "", "", "", nil
		return nil
	})
	noErr(t, "UpdateUpload(reopen, clear)", err)
	want = *prev
	want.State, want.JobID, want.Digest, want.SHA256, want.Error, want.BackendID, want.URLKey = freight.UploadOpen, "", "", "", "", "", nil
	want.UpdatedAt = got.UpdatedAt
	checkSame(t, "UpdateUpload result after clearing", got, &want)
	checkUpdated(t, "UpdateUpload", got.CreatedAt, got.UpdatedAt, prev.CreatedAt, prev.UpdatedAt)
	stored, err = s.Upload(ctx, u.ID)
	noErr(t, "Upload", err)
	checkSame(t, "Upload after clearing", stored, &want)
	if stored.JobID != "" || stored.Digest != "" || len(stored.URLKey) != 0 {
		t.Errorf("JobID, Digest, URLKey after clearing = %q, %q, %x; want all empty", stored.JobID, stored.Digest, stored.URLKey)
	}
}

func testUploadUpdateKeepsIDAndCreatedAt(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	u := MustCreateUpload(t, s, newUpload(a.ID))
	otherID := missingID(freight.PrefixUpload)
	got, err := s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error {
		c.ID, c.CreatedAt, c.Error = otherID, ts(-time.Hour*24*400), "changed"
		return nil
	})
	wantCodeIn(t, "UpdateUpload changing ID and CreatedAt", err, "", freight.EINVALID)
	if err == nil && (got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt)) {
		t.Errorf("UpdateUpload result ID, CreatedAt = %q, %v; want %q, %v", got.ID, got.CreatedAt, u.ID, u.CreatedAt)
	}
	stored, err := s.Upload(ctx, u.ID)
	noErr(t, "Upload(original id)", err)
	if !stored.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, u.CreatedAt)
	}
	_, err = s.Upload(ctx, otherID)
	wantCode(t, "Upload(id set by fn)", err, freight.ENOTFOUND)
}

func testUploadUpdateFnError(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	u := MustCreateUpload(t, s, newUpload(a.ID))
	got, err := s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error {
		c.State, c.JobID, c.Digest, c.URLKey[0] = freight.UploadCompleting, missingID(freight.PrefixJob), sha, 0
		return errSentinel
	})
	wantSentinel(t, "UpdateUpload with fn failing", err)
	if got != nil {
		t.Errorf("UpdateUpload with fn failing = %+v, want nil", got)
	}
	stored, err := s.Upload(ctx, u.ID)
	noErr(t, "Upload", err)
	checkSame(t, "Upload after a failed update", stored, u)
}

func testUploadUpdateInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	u := MustCreateUpload(t, s, newUpload(a.ID))
	for name, fn := range map[string]func(*freight.Upload){
		"unknown state":  func(c *freight.Upload) { c.State = "done" },
		"empty state":    func(c *freight.Upload) { c.State = "" },
		"zero part size": func(c *freight.Upload) { c.PartSize = 0 },
		"negative size":  func(c *freight.Upload) { c.Size = -1 },
		"too many parts": func(c *freight.Upload) { c.PartSize = 1 },
		"bad sha256":     func(c *freight.Upload) { c.SHA256 = "xyz" },
		"bad job id":     func(c *freight.Upload) { c.JobID = "job_1" },
		"bad digest":     func(c *freight.Upload) { c.Digest = "xyz" },
	} {
		_, err := s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error { fn(c); return nil })
		wantCode(t, "UpdateUpload with "+name, err, freight.EINVALID)
	}
	stored, err := s.Upload(ctx, u.ID)
	noErr(t, "Upload", err)
	checkSame(t, "Upload after invalid updates", stored, u)
}

// As for artifacts: an upload moved to another artifact is moved, or the
// move is refused with EINVALID; never silently ignored.
func testUploadUpdateParent(t *testing.T, s freight.Store) {
	ctx := t.Context()
	r, a := uploadArtifact(t, s)
	a2 := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.zip"))
	u := MustCreateUpload(t, s, newUpload(a.ID))
	got, err := s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error { c.ArtifactID = a2.ID; return nil })
	wantCodeIn(t, "UpdateUpload to another artifact", err, "", freight.EINVALID)
	stored, serr := s.Upload(ctx, u.ID)
	noErr(t, "Upload", serr)
	if err == nil {
		if got.ArtifactID != a2.ID || stored.ArtifactID != a2.ID {
			t.Errorf("UpdateUpload succeeded, result and stored ArtifactID = %s, %s; want what fn set, %s (or an error)", got.ArtifactID, stored.ArtifactID, a2.ID)
		}
	} else {
		checkSame(t, "Upload after a refused move", stored, u)
	}
}

// An upload's life (upload.go): open → completing → completed, where a
// failed completion attempt may reopen it or fail it; an open upload may be
// aborted or failed. Completed, failed and aborted are final. Every other
// change of state is refused with ECONFLICT and leaves the upload as it
// was. An update that keeps the state is not a transition: it is allowed
// in every state (the server records digests and errors that way).
func testUploadStateTransitions(t *testing.T, s freight.Store) {
	ctx := t.Context()
	_, a := uploadArtifact(t, s)
	states := []freight.UploadState{freight.UploadOpen, freight.UploadCompleting, freight.UploadCompleted, freight.UploadFailed, freight.UploadAborted}
	allowed := map[freight.UploadState][]freight.UploadState{
		freight.UploadOpen:       {freight.UploadOpen, freight.UploadCompleting, freight.UploadAborted, freight.UploadFailed},
		freight.UploadCompleting: {freight.UploadCompleting, freight.UploadOpen, freight.UploadCompleted, freight.UploadFailed},
		freight.UploadCompleted:  {freight.UploadCompleted},
		freight.UploadFailed:     {freight.UploadFailed},
		freight.UploadAborted:    {freight.UploadAborted},
	}
	for _, from := range states {
		for _, to := range states {
			what := fmt.Sprintf("UpdateUpload(%s → %s)", from, to)
			u := MustCreateUpload(t, s, newUpload(a.ID))
			u = moveUpload(t, s, u.ID, statesTo[from]...)
			if u.State != from {
				t.Fatalf("upload brought to %s is %s", from, u.State)
			}
			got, err := s.UpdateUpload(ctx, u.ID, func(c *freight.Upload) error {
				c.State, c.Error = to, "note "+string(to)
				return nil
			})
			stored, serr := s.Upload(ctx, u.ID)
			noErr(t, "Upload", serr)
			if slices.Contains(allowed[from], to) {
				if err != nil {
					t.Errorf("%s: %v, want it allowed", what, err)
					continue
				}
				if got.State != to || stored.State != to || stored.Error != "note "+string(to) {
					t.Errorf("%s: result State %q, stored State %q, Error %q; want %q, %q, %q",
						what, got.State, stored.State, stored.Error, to, to, "note "+string(to))
				}
			} else {
				wantCode(t, what, err, freight.ECONFLICT)
				if got != nil {
					t.Errorf("%s refused = %+v, want nil", what, got)
				}
				checkSame(t, what+": Upload after the refusal", stored, u)
			}
		}
	}
}

// The server moves an upload to completing, naming the job that verifies
// it, with an update whose fn refuses an upload that is no longer open:
// concurrent completions are serialized, so exactly one wins and every
// other one sees its job.
func testUploadConcurrentClaim(t *testing.T, s freight.Store) {
	const n = 10
	_, a := uploadArtifact(t, s)
	u := MustCreateUpload(t, s, newUpload(a.ID))
	errs := make([]error, n)
	jobs := make([]string, n)
	for i := range jobs {
		jobs[i] = missingID(freight.PrefixJob)
	}
	run(n, func(i int) {
		_, errs[i] = s.UpdateUpload(t.Context(), u.ID, func(c *freight.Upload) error {
			if c.State != freight.UploadOpen {
				return freight.Errorf(freight.ECONFLICT, "claimed by %s", c.Error)
			}
			// Hold the upload a little, so that the claims overlap
			// even when each is quick: a store that does not
			// serialize them lets several through.
			time.Sleep(10 * time.Millisecond)
			c.State, c.JobID, c.Error = freight.UploadCompleting, jobs[i], num(i)
			return nil
		})
	})
	var winners []int
	for i, err := range errs {
		switch freight.ErrorCode(err) {
		case "":
			winners = append(winners, i)
		case freight.ECONFLICT:
		default:
			t.Errorf("claim %d: %v (code %q), want success or %q", i, err, freight.ErrorCode(err), freight.ECONFLICT)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent claims succeeded (%v), want exactly 1", len(winners), n, winners)
	}
	winner := winners[0]
	stored, err := s.Upload(t.Context(), u.ID)
	noErr(t, "Upload", err)
	if stored.State != freight.UploadCompleting || stored.Error != num(winner) || stored.JobID != jobs[winner] {
		t.Errorf("claimed upload State %q, Error %q, JobID %q; want %q, %q, %q",
			stored.State, stored.Error, stored.JobID, freight.UploadCompleting, num(winner), jobs[winner])
	}
}

func num(i int) string { return fmt.Sprint(i) }

func testUploadPagination(t *testing.T, s freight.Store) {
	_, a := uploadArtifact(t, s)
	list := uploadList(t, s, freight.UploadFilter{})
	checkPaging(t, "Uploads of an empty store", list, uploadID, nil)
	var want []string
	for i := range 7 {
		// Expiry goes down while creation goes on, so that sorting by
		// expiry instead of id shows.
		u := newUpload(a.ID)
		u.ExpiresAt = ts(time.Duration(10-i) * time.Hour)
		want = append(want, MustCreateUpload(t, s, u).ID)
		settle()
	}
	checkPaging(t, "Uploads", list, uploadID, want)
	_, _, err := s.Uploads(t.Context(), freight.UploadFilter{Page: freight.Page{After: "not-a-cursor"}})
	wantCode(t, "Uploads(After a bad cursor)", err, freight.EINVALID)
}

func testUploadFilters(t *testing.T, s freight.Store) {
	ctx := t.Context()
	r, a1 := uploadArtifact(t, s)
	a2 := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.zip"))
	empty := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.7z"))
	states := []freight.UploadState{
		freight.UploadOpen, freight.UploadAborted, freight.UploadOpen, freight.UploadCompleting,
		freight.UploadFailed, freight.UploadOpen, freight.UploadCompleted, freight.UploadOpen,
	}
	var all []*freight.Upload
	for i, st := range states {
		art := a1
		if i%2 == 1 {
			art = a2
		}
		u := newUpload(art.ID)
		u.ExpiresAt = ts(time.Duration(i) * time.Hour)
		MustCreateUpload(t, s, u)
		all = append(all, moveUpload(t, s, u.ID, statesTo[st]...))
		settle()
	}
	match := func(keep func(*freight.Upload) bool) []string {
		var ids []string
		for _, u := range all {
			if keep(u) {
				ids = append(ids, u.ID)
			}
		}
		return ids
	}
	// ExpiredBefore is strict: an upload that expires at the instant is
	// not expired before it.
	before := func(h int) func(*freight.Upload) bool {
		return func(u *freight.Upload) bool { return u.ExpiresAt.Before(ts(time.Duration(h) * time.Hour)) }
	}
	// The plan above must exercise the filters: guard against a fixture
	// change that leaves the expiry cases trivial.
	if n := len(match(before(3))); n != 3 {
		t.Fatalf("fixture: %d uploads expire before +3h, want 3", n)
	}
	for _, tc := range []struct {
		name string
		f    freight.UploadFilter
		keep func(*freight.Upload) bool
	}{
		{"artifact 1", freight.UploadFilter{ArtifactID: a1.ID}, func(u *freight.Upload) bool { return u.ArtifactID == a1.ID }},
		{"artifact 2", freight.UploadFilter{ArtifactID: a2.ID}, func(u *freight.Upload) bool { return u.ArtifactID == a2.ID }},
		{"artifact without uploads", freight.UploadFilter{ArtifactID: empty.ID}, func(*freight.Upload) bool { return false }},
		{"open", freight.UploadFilter{State: freight.UploadOpen}, func(u *freight.Upload) bool { return u.State == freight.UploadOpen }},
		{"aborted", freight.UploadFilter{State: freight.UploadAborted}, func(u *freight.Upload) bool { return u.State == freight.UploadAborted }},
		{"completed", freight.UploadFilter{State: freight.UploadCompleted}, func(u *freight.Upload) bool { return u.State == freight.UploadCompleted }},
		{"expired before +3h", freight.UploadFilter{ExpiredBefore: ts(3 * time.Hour)}, before(3)},
		{"expired before +0h", freight.UploadFilter{ExpiredBefore: ts(0)}, before(0)},
		{"expired before +100h", freight.UploadFilter{ExpiredBefore: ts(100 * time.Hour)}, before(100)},
		{"expired before, in another zone", freight.UploadFilter{ExpiredBefore: ts(5 * time.Hour).In(time.FixedZone("UTC+9", 9*3600))}, before(5)},
		{"open, expired before +6h", freight.UploadFilter{State: freight.UploadOpen, ExpiredBefore: ts(6 * time.Hour)},
			func(u *freight.Upload) bool { return u.State == freight.UploadOpen && before(6)(u) }},
		{"artifact 1, open, expired before +5h", freight.UploadFilter{ArtifactID: a1.ID, State: freight.UploadOpen, ExpiredBefore: ts(5 * time.Hour)},
			func(u *freight.Upload) bool {
				return u.ArtifactID == a1.ID && u.State == freight.UploadOpen && before(5)(u)
			}},
		{"artifact 2, completing", freight.UploadFilter{ArtifactID: a2.ID, State: freight.UploadCompleting},
			func(u *freight.Upload) bool { return u.ArtifactID == a2.ID && u.State == freight.UploadCompleting }},
		{"all", freight.UploadFilter{}, func(*freight.Upload) bool { return true }},
	} {
		checkPaging(t, "Uploads("+tc.name+")", uploadList(t, s, tc.f), uploadID, match(tc.keep))
	}
	// Listed uploads are whole: every field as stored.
	got := listAll(t, uploadList(t, s, freight.UploadFilter{ArtifactID: a1.ID}))
	want := slices.DeleteFunc(slices.Clone(all), func(u *freight.Upload) bool { return u.ArtifactID != a1.ID })
	checkSame(t, "Uploads(artifact 1)", got, want)
	_, _, err := s.Uploads(ctx, freight.UploadFilter{ArtifactID: missingID(freight.PrefixArtifact)})
	wantCode(t, "Uploads(ArtifactID missing)", err, freight.ENOTFOUND)
}

// Deleting an artifact deletes its uploads (store.go), in every state, and
// no other.
func testUploadDeleteArtifact(t *testing.T, s freight.Store) {
	ctx := t.Context()
	r, a := uploadArtifact(t, s)
	keepA := MustCreateArtifact(t, s, newArtifact(r.ID, "widget.zip"))
	u1 := MustCreateUpload(t, s, newUpload(a.ID))
	u2 := MustCreateUpload(t, s, newUpload(a.ID))
	moveUpload(t, s, u2.ID, statesTo[freight.UploadCompleted]...)
	keep := MustCreateUpload(t, s, newUpload(keepA.ID))

	noErr(t, "DeleteArtifact", s.DeleteArtifact(ctx, a.ID))
	for _, u := range []*freight.Upload{u1, u2} {
		_, err := s.Upload(ctx, u.ID)
		wantCode(t, "Upload of the deleted artifact", err, freight.ENOTFOUND)
		_, err = s.UpdateUpload(ctx, u.ID, func(*freight.Upload) error { return nil })
		wantCode(t, "UpdateUpload of the deleted artifact", err, freight.ENOTFOUND)
	}
	checkKeys(t, "Uploads after DeleteArtifact", uploadList(t, s, freight.UploadFilter{}), uploadID, []string{keep.ID})
	_, _, err := s.Uploads(ctx, freight.UploadFilter{ArtifactID: a.ID})
	wantCode(t, "Uploads(deleted artifact)", err, freight.ENOTFOUND)
	stored, err := s.Upload(ctx, keep.ID)
	noErr(t, "Upload of the other artifact", err)
	checkSame(t, "Upload of the other artifact", stored, keep)
}

// Deleting a draft release deletes its artifacts (store.go) and so their
// uploads.
func testUploadDeleteRelease(t *testing.T, s freight.Store) {
	ctx := t.Context()
	r, a := uploadArtifact(t, s)
	keepR := MustCreateRelease(t, s, newRelease(r.ProductID, "1.1.0"))
	keepA := MustCreateArtifact(t, s, newArtifact(keepR.ID, "widget.tar.gz"))
	u := MustCreateUpload(t, s, newUpload(a.ID))
	keep := MustCreateUpload(t, s, newUpload(keepA.ID))

	noErr(t, "DeleteRelease(draft)", s.DeleteRelease(ctx, r.ID))
	_, err := s.Artifact(ctx, a.ID)
	wantCode(t, "Artifact of the deleted release", err, freight.ENOTFOUND)
	_, err = s.Upload(ctx, u.ID)
	wantCode(t, "Upload of the deleted release", err, freight.ENOTFOUND)
	checkKeys(t, "Uploads after DeleteRelease", uploadList(t, s, freight.UploadFilter{}), uploadID, []string{keep.ID})
	stored, err := s.Upload(ctx, keep.ID)
	noErr(t, "Upload of the other release", err)
	checkSame(t, "Upload of the other release", stored, keep)
}

// Digests for the blob tests, other than sha.
var (
	digest2 = strings.Repeat("0", 64)
	digest3 = strings.Repeat("ab", 32)
)

// The lock times: far enough from now that neither the test's duration
// nor the clock skew of a database server matters.
func farFuture() time.Time { return time.Now().Add(365 * 24 * time.Hour) }
func farPast() time.Time   { return time.Now().Add(-365 * 24 * time.Hour) }

// checkReferenced fails the test unless BlobReferenced(digest) is want.
func checkReferenced(t testing.TB, s freight.Store, what, digest string, want bool) {
	t.Helper()
	got, err := s.BlobReferenced(t.Context(), digest)
	if err != nil {
		t.Errorf("%s: BlobReferenced(%.8s…): %v", what, digest, err)
		return
	}
	if got != want {
		t.Errorf("%s: BlobReferenced(%.8s…) = %v, want %v", what, digest, got, want)
	}
}

// BlobReferenced is true while any artifact, in any state, names the
// digest, and only then.
func testBlobReferenced(t *testing.T, s freight.Store) {
	ctx := t.Context()
	checkReferenced(t, s, "empty store", sha, false)
	r, _ := uploadArtifact(t, s) // an artifact with no digest yet
	checkReferenced(t, s, "an artifact without a digest", sha, false)

	other := newArtifact(r.ID, "other.tar.gz")
	other.SHA256 = digest2
	MustCreateArtifact(t, s, other)
	checkReferenced(t, s, "an artifact naming another digest", sha, false)
	checkReferenced(t, s, "the other digest", digest2, true)

	for i, st := range []freight.ArtifactState{freight.ArtifactUploading, freight.ArtifactVerifying, freight.ArtifactFailed, freight.ArtifactAvailable} {
		a := newArtifact(r.ID, fmt.Sprintf("file-%d.bin", i))
		a.SHA256, a.State = sha, st
		MustCreateArtifact(t, s, a)
		checkReferenced(t, s, "an artifact in state "+string(st), sha, true)
		checkReferenced(t, s, "a third digest", digest3, false)
		noErr(t, "DeleteArtifact", s.DeleteArtifact(ctx, a.ID))
		checkReferenced(t, s, "after deleting the "+string(st)+" artifact", sha, false)
	}

	// Referenced through a published release too, and again after a
	// digest is set by an update.
	a := MustCreateArtifact(t, s, newArtifact(r.ID, "late.bin"))
	checkReferenced(t, s, "before the digest is set", digest3, false)
	_, err := s.UpdateArtifact(ctx, a.ID, func(c *freight.Artifact) error {
		c.State, c.SHA256 = freight.ArtifactAvailable, digest3
		return nil
	})
	noErr(t, "UpdateArtifact", err)
	MustPublishRelease(t, s, r.ID, ts(0))
	checkReferenced(t, s, "an artifact of a published release", digest3, true)
}

func testBlobReferencedInvalid(t *testing.T, s freight.Store) {
	for name, d := range map[string]string{
		"empty":      "",
		"short":      "abc",
		"upper-case": strings.ToUpper(sha),
		"too long":   sha + "0",
		"not hex":    strings.Repeat("g", 64),
		"wildcard":   strings.Repeat("_", 63) + "%",
	} {
		got, err := s.BlobReferenced(t.Context(), d)
		wantCode(t, "BlobReferenced("+name+")", err, freight.EINVALID)
		if got {
			t.Errorf("BlobReferenced(%s) = true, want false with the error", name)
		}
	}
}

func testBlobLock(t *testing.T, s freight.Store) {
	ctx := t.Context()
	lock := func(what, digest, owner string, want string) {
		t.Helper()
		wantCode(t, what+": LockBlob("+digest[:8]+"…, "+owner+")", s.LockBlob(ctx, digest, owner, farFuture()), want)
	}
	unlock := func(digest, owner string) {
		t.Helper()
		noErr(t, "UnlockBlob("+digest[:8]+"…, "+owner+")", s.UnlockBlob(ctx, digest, owner))
	}
	lock("free", sha, "a", "")
	lock("held by a", sha, "b", freight.ECONFLICT)
	lock("again by its owner", sha, "a", "")
	lock("held by a, still", sha, "b", freight.ECONFLICT)
	lock("another digest", digest2, "b", "") // locks are per digest
	lock("the other digest held by b", digest2, "a", freight.ECONFLICT)

	// Releasing a lock one does not hold does nothing.
	unlock(sha, "b")
	lock("held by a after b's unlock", sha, "b", freight.ECONFLICT)
	unlock(digest3, "a") // never locked

	// Released by its owner, the lock is free for anyone.
	unlock(sha, "a")
	lock("released by a", sha, "b", "")
	lock("taken by b", sha, "a", freight.ECONFLICT)
	unlock(sha, "a") // a no longer holds it
	lock("held by b after a's unlock", sha, "c", freight.ECONFLICT)
	unlock(sha, "b")
	unlock(sha, "b") // twice is fine
	lock("released by b", sha, "c", "")

	// digest2 was never touched by the unlocks of sha.
	lock("the other digest, still held by b", digest2, "c", freight.ECONFLICT)
}

// The same owner may take its lock again to extend it: a lock taken until a
// past time and then again until a future one holds off others.
func testBlobLockExtend(t *testing.T, s freight.Store) {
	ctx := t.Context()
	noErr(t, "LockBlob(until the past)", s.LockBlob(ctx, sha, "a", farPast()))
	noErr(t, "LockBlob(same owner, until the future)", s.LockBlob(ctx, sha, "a", farFuture()))
	wantCode(t, "LockBlob(other owner) after the extension", s.LockBlob(ctx, sha, "b", farFuture()), freight.ECONFLICT)
}

// A lock whose time has passed is taken over by another owner; the old
// owner then no longer holds it.
func testBlobLockExpired(t *testing.T, s freight.Store) {
	ctx := t.Context()
	noErr(t, "LockBlob(a, until the past)", s.LockBlob(ctx, sha, "a", farPast()))
	noErr(t, "LockBlob(b) of an expired lock", s.LockBlob(ctx, sha, "b", farFuture()))
	wantCode(t, "LockBlob(a) after b took over", s.LockBlob(ctx, sha, "a", farFuture()), freight.ECONFLICT)
	noErr(t, "UnlockBlob(a) after b took over", s.UnlockBlob(ctx, sha, "a"))
	wantCode(t, "LockBlob(c) while b holds it", s.LockBlob(ctx, sha, "c", farFuture()), freight.ECONFLICT)

	// A lock that has not expired is not taken over, however close its
	// end: an hour from now is far from the past.
	noErr(t, "LockBlob(a, in an hour)", s.LockBlob(ctx, digest2, "a", time.Now().Add(time.Hour)))
	wantCode(t, "LockBlob(b) of a live lock", s.LockBlob(ctx, digest2, "b", farFuture()), freight.ECONFLICT)
}

func testBlobLockInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	for name, d := range map[string]string{
		"empty digest":      "",
		"short digest":      "abc",
		"upper-case digest": strings.ToUpper(sha),
		"path digest":       "../" + sha[3:],
	} {
		wantCode(t, "LockBlob("+name+")", s.LockBlob(ctx, d, "a", farFuture()), freight.EINVALID)
		// Releasing nothing is not an error, so a store may do nothing.
		wantCodeIn(t, "UnlockBlob("+name+")", s.UnlockBlob(ctx, d, "a"), "", freight.EINVALID)
	}
	wantCode(t, "LockBlob(empty owner)", s.LockBlob(ctx, sha, "", farFuture()), freight.EINVALID)
	// None of the refused calls took a lock.
	noErr(t, "LockBlob after refused calls", s.LockBlob(ctx, sha, "a", farFuture()))
}

// Concurrent owners racing for one lock: exactly one wins, every other one
// is told the blob is locked (not an internal error, not a lock timeout).
// Once for a free digest, once for a digest whose lock has expired.
func testBlobLockConcurrent(t *testing.T, s freight.Store) {
	const n = 10
	ctx := t.Context()
	race := func(what, digest string) {
		t.Helper()
		errs := make([]error, n)
		run(n, func(i int) {
			errs[i] = s.LockBlob(ctx, digest, fmt.Sprintf("owner-%d", i), farFuture())
		})
		var winners []int
		for i, err := range errs {
			switch freight.ErrorCode(err) {
			case "":
				winners = append(winners, i)
			case freight.ECONFLICT:
			default:
				t.Errorf("%s: LockBlob(owner-%d): %v (code %q), want success or %q", what, i, err, freight.ErrorCode(err), freight.ECONFLICT)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%s: %d of %d concurrent LockBlob calls succeeded, want exactly 1 (winners %v)", what, len(winners), n, winners)
		}
		// The winner holds the lock.
		winner := fmt.Sprintf("owner-%d", winners[0])
		noErr(t, what+": LockBlob(winner) again", s.LockBlob(ctx, digest, winner, farFuture()))
		for i := range n {
			if i != winners[0] {
				wantCode(t, fmt.Sprintf("%s: LockBlob(owner-%d) after the race", what, i), s.LockBlob(ctx, digest, fmt.Sprintf("owner-%d", i), farFuture()), freight.ECONFLICT)
			}
		}
	}
	race("free digest", sha)
	noErr(t, "LockBlob(old, until the past)", s.LockBlob(ctx, digest2, "old", farPast()))
	race("expired lock", digest2)
}

// LockBlob and UnlockBlob belong to the transaction they run in: a lock
// taken in a rolled-back transaction is not kept, and a refused lock
// inside a transaction is an answer it may go on from.
func testBlobLockInTx(t *testing.T, s freight.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx freight.Store) error {
		noErr(t, "tx.LockBlob", tx.LockBlob(ctx, sha, "a", farFuture()))
		return errSentinel
	})
	wantSentinel(t, "Tx taking a lock and failing", err)
	noErr(t, "LockBlob(b) after the rollback", s.LockBlob(ctx, sha, "b", farFuture()))

	_, a := uploadArtifact(t, s)
	var u *freight.Upload
	err = s.Tx(ctx, func(tx freight.Store) error {
		wantCode(t, "tx.LockBlob(held by b)", tx.LockBlob(ctx, sha, "c", farFuture()), freight.ECONFLICT)
		wantCode(t, "tx.CreateUpload(missing artifact)", tx.CreateUpload(ctx, newUpload(missingID(freight.PrefixArtifact))), freight.ENOTFOUND)
		if err := tx.LockBlob(ctx, digest2, "c", farFuture()); err != nil {
			return err
		}
		u = newUpload(a.ID)
		return tx.CreateUpload(ctx, u)
	})
	noErr(t, "Tx that handled a refused lock", err)
	wantCode(t, "LockBlob(d) of the lock taken in the transaction", s.LockBlob(ctx, digest2, "d", farFuture()), freight.ECONFLICT)
	stored, err := s.Upload(ctx, u.ID)
	noErr(t, "Upload created in the transaction", err)
	checkSame(t, "Upload created in the transaction", stored, u)

	err = s.Tx(ctx, func(tx freight.Store) error {
		noErr(t, "tx.UnlockBlob", tx.UnlockBlob(ctx, digest2, "c"))
		return errSentinel
	})
	wantSentinel(t, "Tx releasing a lock and failing", err)
	wantCode(t, "LockBlob(d) after the rolled-back unlock", s.LockBlob(ctx, digest2, "d", farFuture()), freight.ECONFLICT)
}
