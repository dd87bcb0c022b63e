package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

var statsTests = []subtest{
	{"ByDay", testStatsByDay},
	{"ByDayBounds", testStatsByDayBounds},
	{"Groups", testStatsGroups},
	{"Invalid", testStatsInvalid},
	{"FilterNamesMissingObject", testStatsMissing},
}

// utcDay returns an instant of March 2025 in UTC.
func utcDay(day, hour, min, sec, usec int) time.Time {
	return time.Date(2025, 3, day, hour, min, sec, usec*1000, time.UTC)
}

// request records one request of a grant.
func request(t testing.TB, s freight.Store, g *freight.Grant, at time.Time, rng string, bytes int64, completed bool) {
	t.Helper()
	MustCreateDownload(t, s, &freight.Download{GrantID: g.ID, Via: "origin", StartedAt: at, Range: rng, Bytes: bytes, Completed: completed})
}

func stats(t testing.TB, s freight.Store, f freight.DownloadStatsFilter) *freight.DownloadStats {
	t.Helper()
	st, err := s.DownloadStats(t.Context(), f)
	if err != nil {
		t.Fatalf("DownloadStats(%+v): %v", f, err)
	}
	if st.Rows == nil {
		t.Errorf("DownloadStats(%+v).Rows = nil, want a list", f)
	}
	return st
}

// dayCounts writes day rows as "day downloads/completed/requests/bytes",
// for messages that show the whole series.
func dayCounts(rows []freight.DownloadStat) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s %d/%d/%d/%d", r.Key, r.Downloads, r.Completed, r.Requests, r.Bytes)
	}
	return out
}

func checkDays(t testing.TB, what string, got *freight.DownloadStats, want []string) {
	t.Helper()
	if g := dayCounts(got.Rows); !slices.Equal(g, want) {
		t.Errorf("%s: days (downloads/completed/requests/bytes)\n\t%q\nwant\n\t%q", what, g, want)
	}
}

func checkTotal(t testing.TB, what string, got *freight.DownloadStats, want freight.DownloadCounts) {
	t.Helper()
	if got.Total != want {
		t.Errorf("%s: Total = %+v, want %+v", what, got.Total, want)
	}
}

// Days are UTC days, every one of the range present, those without
// downloads as zeros. A download is a grant: its range requests count
// once, on the day of the first, and it is completed when they sent the
// file's size, or one sent the whole file.
func testStatsByDay(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, newOrg("acme"))
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	other := MustCreateProduct(t, s, newProduct("gadget"))
	a := seedArtifact(t, s, p, "1.0.0")
	size := a.Size
	half := size / 2
	east := time.FixedZone("UTC+5", 5*3600)
	west := time.FixedZone("UTC-5", -5*3600)

	// Two ranges across midnight: one download on the 14th, completed.
	g1 := MustCreateGrant(t, s, newGrant(a, acme.ID))
	request(t, s, g1, utcDay(14, 23, 59, 59, 999999).In(east), fmt.Sprintf("bytes=0-%d", half-1), half, true)
	request(t, s, g1, utcDay(15, 0, 0, 1, 0), fmt.Sprintf("bytes=%d-", half), size-half, true)
	// Stopped early: the 15th (written at 19:00 the day before, in UTC-5).
	g2 := MustCreateGrant(t, s, newGrant(a, acme.ID))
	request(t, s, g2, utcDay(15, 0, 0, 0, 0).In(west), "", 100, false)
	// Whole file in one request, completed.
	g3 := MustCreateGrant(t, s, newGrant(a, globex.ID))
	request(t, s, g3, utcDay(17, 12, 0, 0, 0), "", size, true)
	// A redirect: the whole file charged, completion unknown to the
	// request; the bytes say it.
	g4 := MustCreateGrant(t, s, newGrant(a, acme.ID))
	request(t, s, g4, utcDay(17, 8, 0, 0, 0), "", size, false)
	// A completed request of a range only is not the whole file.
	g5 := MustCreateGrant(t, s, newGrant(a, acme.ID))
	request(t, s, g5, utcDay(19, 1, 0, 0, 0), "bytes=0-99", 100, true)

	week := freight.DownloadStatsFilter{Group: freight.GroupDay, Since: utcDay(13, 0, 0, 0, 0), Until: utcDay(20, 0, 0, 0, 0)}
	got := stats(t, s, week)
	checkDays(t, "the week", got, []string{
		"2025-03-13 0/0/0/0",
		fmt.Sprintf("2025-03-14 1/1/2/%d", size),
		"2025-03-15 1/0/1/100",
		"2025-03-16 0/0/0/0",
		fmt.Sprintf("2025-03-17 2/2/2/%d", 2*size),
		"2025-03-18 0/0/0/0",
		"2025-03-19 1/0/1/100",
	})
	checkTotal(t, "the week", got, freight.DownloadCounts{Downloads: 5, Completed: 3, Requests: 6, Bytes: 3*size + 200})
	if r := got.Total.CompletionRate(); r != 0.6 {
		t.Errorf("CompletionRate = %v, want 0.6", r)
	}

	// A range that starts after the first half of g1: its second request
	// alone is a download of the 15th, and not complete.
	f := week
	f.Since = utcDay(15, 0, 0, 0, 0)
	got = stats(t, s, f)
	checkDays(t, "from the 15th", got, []string{
		fmt.Sprintf("2025-03-15 2/0/2/%d", size-half+100),
		"2025-03-16 0/0/0/0",
		fmt.Sprintf("2025-03-17 2/2/2/%d", 2*size),
		"2025-03-18 0/0/0/0",
		"2025-03-19 1/0/1/100",
	})

	f = week
	f.OrgID = globex.ID
	got = stats(t, s, f)
	checkDays(t, "globex", got, []string{"2025-03-13 0/0/0/0", "2025-03-14 0/0/0/0", "2025-03-15 0/0/0/0", "2025-03-16 0/0/0/0",
		fmt.Sprintf("2025-03-17 1/1/1/%d", size), "2025-03-18 0/0/0/0", "2025-03-19 0/0/0/0"})
	checkTotal(t, "globex", got, freight.DownloadCounts{Downloads: 1, Completed: 1, Requests: 1, Bytes: size})

	f = week
	f.ProductID = other.ID
	got = stats(t, s, f)
	checkTotal(t, "another product", got, freight.DownloadCounts{})
	if len(got.Rows) != 7 || got.Rows[0].Key != "2025-03-13" {
		t.Errorf("another product: days %q, want the 7 days with zeros", dayCounts(got.Rows))
	}
	if r := got.Total.CompletionRate(); r != 0 {
		t.Errorf("CompletionRate of nothing = %v, want 0", r)
	}

	f = week
	f.OrgID, f.ProductID = acme.ID, p.ID
	checkTotal(t, "acme, widget", stats(t, s, f), freight.DownloadCounts{Downloads: 4, Completed: 2, Requests: 5, Bytes: 2*size + 200})
}

// The days of a range are the UTC days its instants touch, whatever zone
// the bounds are written in: Since is inclusive and Until exclusive.
func testStatsByDayBounds(t *testing.T, s freight.Store) {
	o := MustCreateOrganization(t, s, newOrg("acme"))
	p := MustCreateProduct(t, s, newProduct("widget"))
	a := seedArtifact(t, s, p, "1.0.0")
	g := MustCreateGrant(t, s, newGrant(a, o.ID))
	request(t, s, g, utcDay(14, 22, 0, 0, 0), "", 1, false)
	request(t, s, MustCreateGrant(t, s, newGrant(a, o.ID)), utcDay(16, 0, 0, 0, 0), "", 2, false)
	east := time.FixedZone("UTC+5", 5*3600)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         []string
	}{
		{"from 22:00 UTC on the 14th, written in UTC+5, to midnight of the 16th", time.Date(2025, 3, 15, 3, 0, 0, 0, east), utcDay(16, 0, 0, 0, 0),
			[]string{"2025-03-14 1/0/1/1", "2025-03-15 0/0/0/0"}},
		{"to a microsecond after midnight of the 16th", utcDay(14, 22, 0, 0, 1), utcDay(16, 0, 0, 0, 1),
			[]string{"2025-03-14 0/0/0/0", "2025-03-15 0/0/0/0", "2025-03-16 1/0/1/2"}},
		{"one instant", utcDay(16, 0, 0, 0, 0), utcDay(16, 0, 0, 0, 1), []string{"2025-03-16 1/0/1/2"}},
	} {
		checkDays(t, tc.name, stats(t, s, freight.DownloadStatsFilter{Group: freight.GroupDay, Since: tc.since, Until: tc.until}), tc.want)
	}
}

// Releases, organizations and artifacts come most downloaded first, with
// their names, cut at the limit; vendor staff's downloads are the
// organization "".
func testStatsGroups(t *testing.T, s freight.Store) {
	acme := MustCreateOrganization(t, s, &freight.Organization{Slug: "acme", Name: "=Acme, \"Inc\""})
	globex := MustCreateOrganization(t, s, newOrg("globex"))
	widget := MustCreateProduct(t, s, newProduct("widget"))
	gadget := MustCreateProduct(t, s, newProduct("gadget"))
	wa := seedArtifact(t, s, widget, "1.0.0")
	wb := seedArtifact(t, s, widget, "2.0.0")
	ga := seedArtifact(t, s, gadget, "1.0.0")
	at := utcDay(14, 12, 0, 0, 0)
	for i, d := range []struct {
		a     *freight.Artifact
		org   string
		bytes int64
	}{
		{wa, acme.ID, 10}, {wa, acme.ID, 10}, {wa, acme.ID, wa.Size}, {wb, acme.ID, 5},
		{wa, globex.ID, 7}, {ga, "", 1}, {ga, globex.ID, 3}, {ga, globex.ID, ga.Size},
	} {
		request(t, s, MustCreateGrant(t, s, newGrant(d.a, d.org)), at.Add(time.Duration(i)*time.Minute), "", d.bytes, false)
	}
	wr, err := s.Artifact(t.Context(), wa.ID)
	noErr(t, "Artifact", err)
	gr, err := s.Artifact(t.Context(), ga.ID)
	noErr(t, "Artifact", err)
	wbr, err := s.Artifact(t.Context(), wb.ID)
	noErr(t, "Artifact", err)
	size := wa.Size

	row := func(key, name, version, product string, downloads, completed, bytes int64) freight.DownloadStat {
		return freight.DownloadStat{Key: key, Name: name, Version: version, ProductID: product,
			DownloadCounts: freight.DownloadCounts{Downloads: downloads, Completed: completed, Requests: downloads, Bytes: bytes}}
	}
	for _, tc := range []struct {
		name string
		f    freight.DownloadStatsFilter
		want []freight.DownloadStat
	}{
		{"releases", freight.DownloadStatsFilter{Group: freight.GroupRelease}, []freight.DownloadStat{
			row(wr.ReleaseID, "", "1.0.0", widget.ID, 4, 1, size+27),
			row(gr.ReleaseID, "", "1.0.0", gadget.ID, 3, 1, size+4),
			row(wbr.ReleaseID, "", "2.0.0", widget.ID, 1, 0, 5),
		}},
		{"organizations", freight.DownloadStatsFilter{Group: freight.GroupOrganization}, []freight.DownloadStat{
			row(acme.ID, acme.Name, "", "", 4, 1, size+25),
			row(globex.ID, globex.Name, "", "", 3, 1, size+10),
			row("", "", "", "", 1, 0, 1),
		}},
		{"artifacts", freight.DownloadStatsFilter{Group: freight.GroupArtifact}, []freight.DownloadStat{
			row(wa.ID, wa.Filename, "1.0.0", widget.ID, 4, 1, size+27),
			row(ga.ID, ga.Filename, "1.0.0", gadget.ID, 3, 1, size+4),
			row(wb.ID, wb.Filename, "2.0.0", widget.ID, 1, 0, 5),
		}},
		{"top two artifacts", freight.DownloadStatsFilter{Group: freight.GroupArtifact, Limit: 2}, []freight.DownloadStat{
			row(wa.ID, wa.Filename, "1.0.0", widget.ID, 4, 1, size+27),
			row(ga.ID, ga.Filename, "1.0.0", gadget.ID, 3, 1, size+4),
		}},
		{"organizations of widget", freight.DownloadStatsFilter{Group: freight.GroupOrganization, ProductID: widget.ID}, []freight.DownloadStat{
			row(acme.ID, acme.Name, "", "", 4, 1, size+25),
			row(globex.ID, globex.Name, "", "", 1, 0, 7),
		}},
		{"releases of globex", freight.DownloadStatsFilter{Group: freight.GroupRelease, OrgID: globex.ID}, []freight.DownloadStat{
			row(gr.ReleaseID, "", "1.0.0", gadget.ID, 2, 1, size+3),
			row(wr.ReleaseID, "", "1.0.0", widget.ID, 1, 0, 7),
		}},
		{"releases after the third download", freight.DownloadStatsFilter{Group: freight.GroupRelease, Since: at.Add(3 * time.Minute)}, []freight.DownloadStat{
			row(gr.ReleaseID, "", "1.0.0", gadget.ID, 3, 1, size+4),
			row(wr.ReleaseID, "", "1.0.0", widget.ID, 1, 0, 7),
			row(wbr.ReleaseID, "", "2.0.0", widget.ID, 1, 0, 5),
		}},
	} {
		got := stats(t, s, tc.f)
		checkSame(t, "DownloadStats("+tc.name+")", got.Rows, tc.want)
	}
	got := stats(t, s, freight.DownloadStatsFilter{Group: freight.GroupArtifact, Limit: 1})
	checkTotal(t, "the total under a limit", got, freight.DownloadCounts{Downloads: 8, Completed: 2, Requests: 8, Bytes: 2*size + 36})

	// A deleted organization's downloads stay, under its id, without a
	// name.
	noErr(t, "DeleteOrganization", s.DeleteOrganization(t.Context(), globex.ID))
	got = stats(t, s, freight.DownloadStatsFilter{Group: freight.GroupOrganization, OrgID: globex.ID})
	checkSame(t, "the deleted organization", got.Rows, []freight.DownloadStat{row(globex.ID, "", "", "", 3, 1, size+10)})
}

func testStatsInvalid(t *testing.T, s freight.Store) {
	ctx := t.Context()
	since := utcDay(1, 0, 0, 0, 0)
	for name, f := range map[string]freight.DownloadStatsFilter{
		"no group":             {Since: since, Until: since.Add(time.Hour)},
		"an unknown group":     {Group: "week", Since: since, Until: since.Add(time.Hour)},
		"days without a range": {Group: freight.GroupDay},
		"days without until":   {Group: freight.GroupDay, Since: since},
		"days without since":   {Group: freight.GroupDay, Until: since},
		"days, until = since":  {Group: freight.GroupDay, Since: since, Until: since},
		"days, until < since":  {Group: freight.GroupDay, Since: since, Until: since.Add(-time.Hour)},
		"days, too many":       {Group: freight.GroupDay, Since: since, Until: since.AddDate(0, 0, freight.MaxStatsDays).Add(time.Microsecond)},
	} {
		_, err := s.DownloadStats(ctx, f)
		wantCode(t, "DownloadStats("+name+")", err, freight.EINVALID)
	}
	got := stats(t, s, freight.DownloadStatsFilter{Group: freight.GroupDay, Since: since, Until: since.AddDate(0, 0, freight.MaxStatsDays)})
	if len(got.Rows) != freight.MaxStatsDays {
		t.Errorf("DownloadStats(the most days) = %d rows, want %d", len(got.Rows), freight.MaxStatsDays)
	}
}

// As with Downloads, a filter naming an object that does not exist counts
// nothing, without an error.
func testStatsMissing(t *testing.T, s freight.Store) {
	_, _, g := seedGrant(t, s)
	request(t, s, g, utcDay(14, 0, 0, 0, 0), "", 1, true)
	for name, f := range map[string]freight.DownloadStatsFilter{
		"missing organization": {Group: freight.GroupRelease, OrgID: missingID(freight.PrefixOrganization)},
		"missing product":      {Group: freight.GroupArtifact, ProductID: missingID(freight.PrefixProduct)},
		"malformed product":    {Group: freight.GroupOrganization, ProductID: "nonsense"},
	} {
		got := stats(t, s, f)
		checkTotal(t, name, got, freight.DownloadCounts{})
		if len(got.Rows) != 0 {
			t.Errorf("DownloadStats(%s).Rows = %+v, want none", name, got.Rows)
		}
	}
	got := stats(t, s, freight.DownloadStatsFilter{Group: freight.GroupDay, OrgID: missingID(freight.PrefixOrganization),
		Since: utcDay(13, 0, 0, 0, 0), Until: utcDay(15, 0, 0, 0, 0)})
	checkDays(t, "missing organization by day", got, []string{"2025-03-13 0/0/0/0", "2025-03-14 0/0/0/0"})
	got = stats(t, s, freight.DownloadStatsFilter{Group: freight.GroupDay, Since: utcDay(13, 0, 0, 0, 0), Until: utcDay(15, 0, 0, 0, 0)})
	checkDays(t, "every organization by day", got, []string{"2025-03-13 0/0/0/0", "2025-03-14 1/1/1/1"})
}
