package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// prefetchFixture is a catalogue for the prefetch tests: a product that
// prefetches and one that does not, and a way to publish releases of
// them with files of given digests.
type prefetchFixture struct {
	t       *testing.T
	s       freight.Store
	on, off *freight.Product
	now     time.Time
}

func newPrefetchFixture(t *testing.T, s freight.Store) *prefetchFixture {
	on := newProduct("on")
	on.PrefetchEdges = true
	MustCreateProduct(t, s, on)
	return &prefetchFixture{t: t, s: s, on: on, off: MustCreateProduct(t, s, newProduct("off")), now: time.Now().UTC().Truncate(time.Microsecond)}
}

// digest is a well-formed SHA-256 made of one repeated character.
func digest(c byte) string { return strings.Repeat(string(c), 64) }

// release publishes, at the given time, a release of p with one
// available file per digest.
func (f *prefetchFixture) release(p *freight.Product, version string, at time.Time, digests ...string) *freight.Release {
	f.t.Helper()
	r := MustCreateRelease(f.t, f.s, newRelease(p.ID, version))
	for i, d := range digests {
		a := newArtifact(r.ID, "f"+string(rune('a'+i))+".bin")
		a.SHA256, a.State = d, freight.ArtifactAvailable
		MustCreateArtifact(f.t, f.s, a)
	}
	return MustPublishRelease(f.t, f.s, r.ID, at)
}

// reconcile reconciles with a window of a day and checks the counts.
func (f *prefetchFixture) reconcile(scope freight.EdgePrefetchScope, wantAdded, wantDeleted int) {
	f.t.Helper()
	added, deleted, err := f.s.ReconcileEdgePrefetch(f.t.Context(), scope, f.now.Add(-24*time.Hour), f.now)
	noErr(f.t, "ReconcileEdgePrefetch", err)
	if added != wantAdded || deleted != wantDeleted {
		f.t.Errorf("ReconcileEdgePrefetch(%+v) added %d, deleted %d; want %d, %d", scope, added, deleted, wantAdded, wantDeleted)
	}
}

// rows returns an edge's rows as "digest-initial:release-version[:done]",
// sorted.
func (f *prefetchFixture) rows(edgeID string, versions map[string]string) []string {
	f.t.Helper()
	ps, err := f.s.EdgePrefetches(f.t.Context(), freight.EdgePrefetchFilter{EdgeID: edgeID})
	noErr(f.t, "EdgePrefetches", err)
	var out []string
	for _, p := range ps {
		if p.EdgeID != edgeID {
			f.t.Errorf("EdgePrefetches(edge %s) returned a row of %s", edgeID, p.EdgeID)
		}
		s := p.SHA256[:1] + ":" + versions[p.ReleaseID]
		if p.DoneAt != nil {
			s += ":done"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func wantRows(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: rows %v, want %v", what, got, want)
	}
}

// The wanted blobs are those of the available files of releases published
// within the window, not yanked, of products that prefetch, for every
// edge; a blob shared by releases is one row per edge, named after the
// newest release. Yanking takes a blob out unless another release still
// wants it.
func testPrefetchReconcile(t *testing.T, s freight.Store) {
	f := newPrefetchFixture(t, s)
	now := f.now
	a, b := MustCreateEdge(t, s, "a", ""), MustCreateEdge(t, s, "b", "")
	f.release(f.on, "1.0.0", now.Add(-48*time.Hour), digest('1')) // too old
	r20 := f.release(f.on, "2.0.0", now.Add(-time.Hour), digest('2'), digest('3'))
	r21 := f.release(f.on, "2.1.0", now.Add(-time.Minute), digest('3')) // shared blob: once
	f.release(f.off, "1.0.0", now, digest('4'))                         // product not prefetching
	yanked := f.release(f.on, "2.2.0", now, digest('5'))
	MustYankRelease(t, s, yanked.ID, now, "broken")
	draft := MustCreateRelease(t, s, newRelease(f.on.ID, "3.0.0"))
	d := newArtifact(draft.ID, "d.bin")
	d.SHA256, d.State = digest('6'), freight.ArtifactAvailable
	MustCreateArtifact(t, s, d)
	r23 := MustCreateRelease(t, s, newRelease(f.on.ID, "2.3.0"))
	up := newArtifact(r23.ID, "u.bin")
	up.SHA256 = digest('7') // still uploading: not wanted
	MustCreateArtifact(t, s, up)
	v := map[string]string{r20.ID: "2.0.0", r21.ID: "2.1.0"}

	f.reconcile(freight.EdgePrefetchScope{}, 4, 0)
	for _, e := range []*freight.Edge{a, b} {
		wantRows(t, "after the first reconciliation", f.rows(e.ID, v), "2:2.0.0", "3:2.1.0")
	}
	got, err := s.EdgePrefetch(t.Context(), a.ID, digest('2'))
	noErr(t, "EdgePrefetch", err)
	want := &freight.EdgePrefetch{EdgeID: a.ID, SHA256: digest('2'), Size: 1 << 20, ReleaseID: r20.ID, RequestedAt: now}
	checkSame(t, "EdgePrefetch", got, want)
	_, err = s.EdgePrefetch(t.Context(), a.ID, digest('4'))
	wantCode(t, "EdgePrefetch(not wanted)", err, freight.ENOTFOUND)
	_, err = s.EdgePrefetch(t.Context(), missingID(freight.PrefixEdge), digest('2'))
	wantCode(t, "EdgePrefetch(missing edge)", err, freight.ENOTFOUND)

	// Idempotent: nothing to add or delete, and the rows keep their
	// request time.
	f.now = now.Add(time.Minute)
	f.reconcile(freight.EdgePrefetchScope{}, 0, 0)
	if got, _ := s.EdgePrefetch(t.Context(), a.ID, digest('2')); got == nil || !got.RequestedAt.Equal(now) {
		t.Errorf("a second reconciliation changed the row: %+v", got)
	}

	// 2.1.0 yanked: its blob is still 2.0.0's, so every row stays.
	MustYankRelease(t, s, r21.ID, now, "bad")
	f.reconcile(freight.EdgePrefetchScope{ReleaseID: r21.ID}, 0, 0)
	wantRows(t, "after yanking 2.1.0", f.rows(a.ID, v), "2:2.0.0", "3:2.1.0")
	// 2.0.0 yanked as well: nothing is wanted any more.
	MustYankRelease(t, s, r20.ID, now, "bad")
	f.reconcile(freight.EdgePrefetchScope{ReleaseID: r20.ID}, 0, 4)
	wantRows(t, "after yanking 2.0.0", f.rows(a.ID, v))

	// A release that leaves the window goes out too.
	r30 := f.release(f.on, "3.1.0", now.Add(-23*time.Hour), digest('8'))
	v[r30.ID] = "3.1.0"
	f.reconcile(freight.EdgePrefetchScope{ReleaseID: r30.ID}, 2, 0)
	wantRows(t, "3.1.0 published", f.rows(b.ID, v), "8:3.1.0")
	f.now = now.Add(2 * time.Hour)
	f.reconcile(freight.EdgePrefetchScope{}, 0, 2)
	wantRows(t, "3.1.0 out of the window", f.rows(b.ID, v))

	// Deleting an edge deletes its rows.
	f.now = now
	f.reconcile(freight.EdgePrefetchScope{}, 2, 0)
	noErr(t, "DeleteEdge", s.DeleteEdge(t.Context(), b.ID))
	if ps, err := s.EdgePrefetches(t.Context(), freight.EdgePrefetchFilter{}); err != nil || len(ps) != 1 || ps[0].EdgeID != a.ID {
		t.Errorf("rows after deleting edge b: %v, %v; want only a's", ps, err)
	}

	// No edge: nothing to do.
	noErr(t, "DeleteEdge", s.DeleteEdge(t.Context(), a.ID))
	f.reconcile(freight.EdgePrefetchScope{}, 0, 0)
}

// A scope narrows what is added to the blobs of one release or one
// product, and the rows touched to one edge's; what is deleted is what
// nobody wants, whatever the scope.
func testPrefetchScope(t *testing.T, s freight.Store) {
	f := newPrefetchFixture(t, s)
	now := f.now
	other := newProduct("other")
	other.PrefetchEdges = true
	MustCreateProduct(t, s, other)
	a := MustCreateEdge(t, s, "a", "")
	r1 := f.release(f.on, "1.0.0", now.Add(-time.Hour), digest('1'))
	r2 := f.release(f.on, "2.0.0", now.Add(-time.Minute), digest('2'))
	r3 := f.release(other, "1.0.0", now.Add(-time.Minute), digest('3'))
	v := map[string]string{r1.ID: "on-1", r2.ID: "on-2", r3.ID: "other-1"}

	f.reconcile(freight.EdgePrefetchScope{ReleaseID: r2.ID}, 1, 0)
	wantRows(t, "scope release on 2.0.0", f.rows(a.ID, v), "2:on-2")
	f.reconcile(freight.EdgePrefetchScope{ProductID: other.ID}, 1, 0)
	wantRows(t, "scope product other", f.rows(a.ID, v), "2:on-2", "3:other-1")
	f.reconcile(freight.EdgePrefetchScope{ProductID: f.on.ID}, 1, 0)
	wantRows(t, "scope product on", f.rows(a.ID, v), "1:on-1", "2:on-2", "3:other-1")

	// A new edge, reconciled alone, gets everything; the first is not
	// touched.
	b := MustCreateEdge(t, s, "b", "")
	f.reconcile(freight.EdgePrefetchScope{EdgeID: b.ID}, 3, 0)
	wantRows(t, "scope edge b", f.rows(b.ID, v), "1:on-1", "2:on-2", "3:other-1")

	// Prefetch turned off for a product: its blobs go, whatever edge.
	_, err := s.UpdateProduct(t.Context(), other.ID, func(p *freight.Product) error { p.PrefetchEdges = false; return nil })
	noErr(t, "UpdateProduct", err)
	f.reconcile(freight.EdgePrefetchScope{EdgeID: a.ID, ProductID: other.ID}, 0, 1)
	wantRows(t, "other off, edge a", f.rows(a.ID, v), "1:on-1", "2:on-2")
	wantRows(t, "other off, edge b not yet", f.rows(b.ID, v), "1:on-1", "2:on-2", "3:other-1")
	f.reconcile(freight.EdgePrefetchScope{ProductID: other.ID}, 0, 1)
	wantRows(t, "other off, edge b", f.rows(b.ID, v), "1:on-1", "2:on-2")

	// Objects that do not exist (deleted since the change) reconcile
	// nothing for them; malformed ids are refused.
	f.reconcile(freight.EdgePrefetchScope{EdgeID: missingID(freight.PrefixEdge)}, 0, 0)
	f.reconcile(freight.EdgePrefetchScope{ReleaseID: missingID(freight.PrefixRelease)}, 0, 0)
	for name, sc := range map[string]freight.EdgePrefetchScope{
		"edge":    {EdgeID: "edg_nope"},
		"release": {ReleaseID: missingID(freight.PrefixProduct)},
		"product": {ProductID: "x"},
	} {
		_, _, err := s.ReconcileEdgePrefetch(t.Context(), sc, now.Add(-time.Hour), now)
		wantCode(t, "ReconcileEdgePrefetch(malformed "+name+")", err, freight.EINVALID)
	}
}

// An edge's report of blobs its cache dropped makes its done rows of them
// pending again, and only its own; the counts follow, and a new report of
// the blob cached marks the row done again.
func testPrefetchEvicted(t *testing.T, s freight.Store) {
	ctx := t.Context()
	f := newPrefetchFixture(t, s)
	now := f.now
	a, b := MustCreateEdge(t, s, "a", ""), MustCreateEdge(t, s, "b", "")
	r1 := f.release(f.on, "1.0.0", now.Add(-time.Hour), digest('1'), digest('2'), digest('3'))
	f.reconcile(freight.EdgePrefetchScope{}, 6, 0)
	v := map[string]string{r1.ID: "1"}
	at := now.Add(time.Hour)
	for _, e := range []*freight.Edge{a, b} {
		if _, err := s.MarkEdgePrefetched(ctx, e.ID, []string{digest('1'), digest('2')}, at); err != nil {
			t.Fatalf("MarkEdgePrefetched: %v", err)
		}
	}

	n, err := s.MarkEdgeEvicted(ctx, a.ID, []string{digest('1'), digest('1'), digest('3'), digest('9')})
	noErr(t, "MarkEdgeEvicted", err)
	if n != 1 {
		t.Errorf("MarkEdgeEvicted changed %d rows, want 1 (a digest twice, one pending, one not asked for)", n)
	}
	wantRows(t, "edge a", f.rows(a.ID, v), "1:1", "2:1:done", "3:1")
	wantRows(t, "edge b, untouched by a's report", f.rows(b.ID, v), "1:1:done", "2:1:done", "3:1")
	if got, _ := s.EdgePrefetch(ctx, a.ID, digest('1')); got == nil || got.DoneAt != nil || !got.RequestedAt.Equal(now) {
		t.Errorf("evicted row: %+v, want pending, requested at %v as before", got, now)
	}
	n, err = s.MarkEdgeEvicted(ctx, a.ID, []string{digest('1')})
	if err != nil || n != 0 {
		t.Errorf("MarkEdgeEvicted of a pending row = %d, %v; want 0", n, err)
	}
	if n, err := s.MarkEdgeEvicted(ctx, a.ID, nil); err != nil || n != 0 {
		t.Errorf("MarkEdgeEvicted(nothing) = %d, %v", n, err)
	}
	_, err = s.MarkEdgeEvicted(ctx, a.ID, []string{"ABC"})
	wantCode(t, "MarkEdgeEvicted(malformed)", err, freight.EINVALID)
	if fe, ok := errors.AsType[*freight.Error](err); !ok || fe.Field != "evicted" {
		t.Errorf("MarkEdgeEvicted(malformed): %v, want an error about the field evicted", err)
	}

	counts, err := s.EdgePrefetchCounts(ctx, []string{a.ID, b.ID})
	noErr(t, "EdgePrefetchCounts", err)
	checkSame(t, "EdgePrefetchCounts", counts, map[string]freight.EdgePrefetchCounts{
		a.ID: {Pending: 2, Done: 1, PendingBytes: 2 << 20},
		b.ID: {Pending: 1, Done: 2, PendingBytes: 1 << 20},
	})
	pending, err := s.EdgePrefetches(ctx, freight.EdgePrefetchFilter{EdgeID: a.ID, Pending: true})
	noErr(t, "EdgePrefetches(pending)", err)
	if len(pending) != 2 || pending[0].SHA256 != digest('1') && pending[1].SHA256 != digest('1') {
		t.Errorf("edge a's pending rows: %+v, want the evicted one among 2", pending)
	}

	later := at.Add(time.Hour)
	if n, err := s.MarkEdgePrefetched(ctx, a.ID, []string{digest('1')}, later); err != nil || n != 1 {
		t.Errorf("MarkEdgePrefetched after the eviction = %d, %v; want 1", n, err)
	}
	if got, _ := s.EdgePrefetch(ctx, a.ID, digest('1')); got == nil || got.DoneAt == nil || !got.DoneAt.Equal(later) {
		t.Errorf("row cached again: %+v, want done at %v", got, later)
	}
}

// An edge's report marks its pending rows done, once, and only its own;
// the counts and the filters follow. A done row goes like a pending one
// when its blob is no longer wanted.
func testPrefetchDone(t *testing.T, s freight.Store) {
	ctx := t.Context()
	f := newPrefetchFixture(t, s)
	now := f.now
	a, b := MustCreateEdge(t, s, "a", ""), MustCreateEdge(t, s, "b", "")
	r1 := f.release(f.on, "1.0.0", now.Add(-time.Hour), digest('1'), digest('2'))
	f.reconcile(freight.EdgePrefetchScope{EdgeID: a.ID}, 2, 0)
	f.now = now.Add(time.Minute)
	r2 := f.release(f.on, "2.0.0", now, digest('3'))
	f.reconcile(freight.EdgePrefetchScope{}, 4, 0)
	v := map[string]string{r1.ID: "1", r2.ID: "2"}

	at := now.Add(time.Hour)
	n, err := s.MarkEdgePrefetched(ctx, a.ID, []string{digest('1'), digest('1'), digest('3'), digest('9')}, at)
	noErr(t, "MarkEdgePrefetched", err)
	if n != 2 {
		t.Errorf("MarkEdgePrefetched marked %d rows, want 2 (a digest twice, one not asked for)", n)
	}
	n, err = s.MarkEdgePrefetched(ctx, a.ID, []string{digest('1')}, at.Add(time.Hour))
	noErr(t, "MarkEdgePrefetched(again)", err)
	if n != 0 {
		t.Errorf("MarkEdgePrefetched of a done row marked %d, want 0", n)
	}
	if got, _ := s.EdgePrefetch(ctx, a.ID, digest('1')); got == nil || got.DoneAt == nil || !got.DoneAt.Equal(at) {
		t.Errorf("done row: %+v, want done at the first report, %v", got, at)
	}
	wantRows(t, "edge a", f.rows(a.ID, v), "1:1:done", "2:1", "3:2:done")
	wantRows(t, "edge b, untouched by a's report", f.rows(b.ID, v), "1:1", "2:1", "3:2")
	n, err = s.MarkEdgePrefetched(ctx, a.ID, nil, at)
	if err != nil || n != 0 {
		t.Errorf("MarkEdgePrefetched(nothing) = %d, %v", n, err)
	}
	_, err = s.MarkEdgePrefetched(ctx, a.ID, []string{"ABC"}, at)
	wantCode(t, "MarkEdgePrefetched(malformed)", err, freight.EINVALID)

	missing := missingID(freight.PrefixEdge)
	counts, err := s.EdgePrefetchCounts(ctx, []string{a.ID, b.ID, missing})
	noErr(t, "EdgePrefetchCounts", err)
	wantCounts := map[string]freight.EdgePrefetchCounts{
		a.ID:    {Pending: 1, Done: 2, PendingBytes: 1 << 20},
		b.ID:    {Pending: 3, Done: 0, PendingBytes: 3 << 20},
		missing: {},
	}
	checkSame(t, "EdgePrefetchCounts", counts, wantCounts)
	if c, err := s.EdgePrefetchCounts(ctx, nil); err != nil || len(c) != 0 {
		t.Errorf("EdgePrefetchCounts(none) = %v, %v", c, err)
	}

	// Filters: pending, since, release, limit; ordered by edge, request
	// time, digest.
	list := func(f freight.EdgePrefetchFilter) []string {
		t.Helper()
		ps, err := s.EdgePrefetches(ctx, f)
		noErr(t, "EdgePrefetches", err)
		var out []string
		for _, p := range ps {
			e := "a"
			if p.EdgeID == b.ID {
				e = "b"
			}
			out = append(out, e+p.SHA256[:1])
		}
		return out
	}
	for name, tc := range map[string]struct {
		f    freight.EdgePrefetchFilter
		want []string
	}{
		"all":           {freight.EdgePrefetchFilter{}, []string{"a1", "a2", "a3", "b1", "b2", "b3"}},
		"pending of a":  {freight.EdgePrefetchFilter{EdgeID: a.ID, Pending: true}, []string{"a2"}},
		"since":         {freight.EdgePrefetchFilter{EdgeID: b.ID, Since: f.now}, []string{"b1", "b2", "b3"}},
		"since later":   {freight.EdgePrefetchFilter{EdgeID: a.ID, Since: f.now}, []string{"a3"}},
		"release":       {freight.EdgePrefetchFilter{ReleaseID: r1.ID, Pending: true}, []string{"a2", "b1", "b2"}},
		"limit":         {freight.EdgePrefetchFilter{Limit: 2}, []string{"a1", "a2"}},
		"missing edge":  {freight.EdgePrefetchFilter{EdgeID: missing}, nil},
		"request order": {freight.EdgePrefetchFilter{EdgeID: a.ID}, []string{"a1", "a2", "a3"}},
	} {
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("EdgePrefetches(%s) = %v, want %v", name, got, tc.want)
		}
	}

	// Yanking 1.0.0 takes its done row as well as its pending one.
	MustYankRelease(t, s, r1.ID, now, "bad")
	f.reconcile(freight.EdgePrefetchScope{ReleaseID: r1.ID}, 0, 4)
	wantRows(t, "edge a after the yank", f.rows(a.ID, v), "3:2:done")
}

// A reconciliation in a transaction that rolls back leaves nothing.
func testPrefetchInTx(t *testing.T, s freight.Store) {
	f := newPrefetchFixture(t, s)
	a := MustCreateEdge(t, s, "a", "")
	f.release(f.on, "1.0.0", f.now, digest('1'))
	errRollback := freight.Errorf(freight.ECONFLICT, "roll back")
	err := s.Tx(t.Context(), func(tx freight.Store) error {
		added, _, err := tx.ReconcileEdgePrefetch(t.Context(), freight.EdgePrefetchScope{}, f.now.Add(-time.Hour), f.now)
		if err != nil || added != 1 {
			t.Errorf("ReconcileEdgePrefetch in a transaction added %d, %v; want 1", added, err)
		}
		if ps, err := tx.EdgePrefetches(t.Context(), freight.EdgePrefetchFilter{EdgeID: a.ID}); err != nil || len(ps) != 1 {
			t.Errorf("rows inside the transaction: %d, %v; want 1", len(ps), err)
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatalf("Tx = %v", err)
	}
	if ps, err := s.EdgePrefetches(t.Context(), freight.EdgePrefetchFilter{}); err != nil || len(ps) != 0 {
		t.Errorf("rows after the rollback: %d, %v; want none", len(ps), err)
	}
}

// Reconciliations of the same edges run one after the other: one that
// starts while another is open waits for it, so that it reads what is
// wanted after the first committed and never deletes a row the first
// added on newer knowledge. Here neither has anything to add, so only
// the lock on the edges can make the second wait.
func testPrefetchSerialized(t *testing.T, s freight.Store) {
	f := newPrefetchFixture(t, s)
	MustCreateEdge(t, s, "a", "")
	f.release(f.on, "1.0.0", f.now, digest('1'))
	f.reconcile(freight.EdgePrefetchScope{}, 1, 0)

	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Tx(context.Background(), func(tx freight.Store) error {
			if _, _, err := tx.ReconcileEdgePrefetch(context.Background(), freight.EdgePrefetchScope{}, f.now.Add(-time.Hour), f.now); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	second := make(chan error, 1)
	go func() {
		_, _, err := s.ReconcileEdgePrefetch(timeout(t, 30*time.Second), freight.EdgePrefetchScope{}, f.now.Add(-time.Hour), f.now)
		second <- err
	}()
	select {
	case err := <-second:
		t.Errorf("a second reconciliation finished (%v) while the first was open", err)
		second <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	noErr(t, "first reconciliation", <-first)
	noErr(t, "second reconciliation", <-second)
}
