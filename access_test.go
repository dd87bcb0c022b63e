package freight_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freight-portal/freight"
)

// The fixture: organization org_a holds one entitlement (ent_a) for
// product prd_a, whose published stable release rel_1 (2.1.0) has one
// available linux/x86_64 artifact. The base query is allowed; each case
// changes one thing.

var accessNow = time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC) // a Wednesday

func tp(t time.Time) *time.Time { return &t }

func baseProduct() *freight.Product {
	return &freight.Product{ID: "prd_a", Slug: "a", Name: "A"}
}

func baseRelease() *freight.Release {
	return &freight.Release{
		ID:          "rel_1",
		ProductID:   "prd_a",
		Version:     "2.1.0",
		Channel:     freight.ChannelStable,
		State:       freight.ReleasePublished,
		PublishedAt: tp(accessNow.AddDate(0, -1, 0)),
	}
}

func baseArtifact() *freight.Artifact {
	return &freight.Artifact{
		ID:        "art_1",
		ReleaseID: "rel_1",
		Filename:  "a-2.1.0-linux-x86_64.tar.gz",
		Platform:  "linux",
		Arch:      "x86_64",
		Size:      1000,
		State:     freight.ArtifactAvailable,
	}
}

func baseEntitlement() *freight.Entitlement {
	return &freight.Entitlement{
		ID:        "ent_a",
		OrgID:     "org_a",
		ProductID: "prd_a",
		Channels:  []freight.Channel{freight.ChannelStable},
	}
}

func baseQuery() freight.AccessQuery {
	return freight.AccessQuery{
		Principal:    freight.Principal{UserID: "usr_a", Role: freight.RoleMember, OrgID: "org_a"},
		Entitlements: []*freight.Entitlement{baseEntitlement()},
		Product:      baseProduct(),
		Release:      baseRelease(),
		Artifact:     baseArtifact(),
		Download:     true,
		Now:          accessNow,
	}
}

// ent returns the first entitlement of q, for cases that change it.
func ent(q *freight.AccessQuery) *freight.Entitlement { return q.Entitlements[0] }

// accessCase is one row of the table tests: a change to the base query and
// the reason it must produce.
type accessCase struct {
	name   string
	mod    func(q *freight.AccessQuery)
	reason string
}

var allowedReasons = map[string]bool{"ok": true, "vendor_staff": true}

var knownReasons = []string{
	"ok", "vendor_staff", "invalid_query", "no_organization", "no_entitlement",
	"not_published", "artifact_unavailable", "channel", "version_range",
	"maintenance", "window", "platform", "arch", "download_limit", "byte_limit",
}

func runAccessCases(t *testing.T, cases []accessCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := baseQuery()
			if tc.mod != nil {
				tc.mod(&q)
			}
			d := freight.Decide(q)
			checkDecision(t, q, d, tc.reason)
		})
	}
}

// checkDecision checks the reason and everything that follows from it.
func checkDecision(t *testing.T, q freight.AccessQuery, d freight.Decision, reason string) {
	t.Helper()
	if got, want := d.Reason, reason; got != want {
		t.Errorf("Decide().Reason = %q, want %q (message %q)", got, want, d.Message)
	}
	if got, want := d.Allowed, allowedReasons[reason]; got != want {
		t.Errorf("Decide().Allowed = %v, want %v", got, want)
	}
	if d.Message == "" {
		t.Errorf("Decide().Message is empty")
	}
	if reason == "ok" {
		if d.Entitlement == nil {
			t.Fatalf("Decide().Entitlement = nil, want the allowing entitlement")
		}
		if got, want := d.Entitlement.OrgID, q.Principal.OrgID; got != want {
			t.Errorf("Decide().Entitlement.OrgID = %q, want %q", got, want)
		}
		if got, want := d.Entitlement.ProductID, q.Product.ID; got != want {
			t.Errorf("Decide().Entitlement.ProductID = %q, want %q", got, want)
		}
	} else if d.Entitlement != nil {
		t.Errorf("Decide().Entitlement = %+v, want nil for reason %q", d.Entitlement, reason)
	}
}

func TestDecideInvalidQuery(t *testing.T) {
	runAccessCases(t, []accessCase{
		{"nil product", func(q *freight.AccessQuery) { q.Product = nil }, "invalid_query"},
		{"nil release", func(q *freight.AccessQuery) { q.Release = nil }, "invalid_query"},
		{"nil product and release", func(q *freight.AccessQuery) { q.Product, q.Release = nil, nil }, "invalid_query"},
		{"download without artifact", func(q *freight.AccessQuery) { q.Artifact = nil }, "invalid_query"},
		{"release of another product", func(q *freight.AccessQuery) { q.Release.ProductID = "prd_b" }, "invalid_query"},
		{"artifact of another release", func(q *freight.AccessQuery) { q.Artifact.ReleaseID = "rel_2" }, "invalid_query"},
		{"empty product id", func(q *freight.AccessQuery) {
			q.Product.ID, q.Release.ProductID, ent(q).ProductID = "", "", ""
		}, "invalid_query"},
		{"vendor with mismatched ids", func(q *freight.AccessQuery) {
			q.Principal = freight.Principal{Role: freight.RoleAdmin}
			q.Artifact.ReleaseID = "rel_2"
		}, "invalid_query"},
		{"vendor downloading without artifact", func(q *freight.AccessQuery) {
			q.Principal = freight.Principal{Role: freight.RoleAdmin}
			q.Artifact = nil
		}, "invalid_query"},
		{"invalid before no organization", func(q *freight.AccessQuery) {
			q.Principal = freight.Principal{}
			q.Product = nil
		}, "invalid_query"},
		{"release listing without artifact", func(q *freight.AccessQuery) {
			q.Artifact = nil
			q.Download = false
		}, "ok"},
	})
}

func TestDecideVendor(t *testing.T) {
	var cases []accessCase
	for _, role := range []freight.Role{freight.RoleAdmin, freight.RolePublisher, freight.RoleSupport} {
		for _, state := range []freight.ReleaseState{freight.ReleaseDraft, freight.ReleasePublished, freight.ReleaseYanked} {
			for _, download := range []bool{false, true} {
				cases = append(cases, accessCase{
					fmt.Sprintf("%s/%s/download=%v", role, state, download),
					func(q *freight.AccessQuery) {
						q.Principal = freight.Principal{UserID: "usr_v", Role: role}
						q.Entitlements = nil
						q.Release.State = state
						q.Download = download
					},
					"vendor_staff",
				})
			}
		}
		for _, as := range []freight.ArtifactState{freight.ArtifactUploading, freight.ArtifactVerifying, freight.ArtifactFailed, ""} {
			cases = append(cases, accessCase{
				fmt.Sprintf("%s/artifact %q", role, as),
				func(q *freight.AccessQuery) {
					q.Principal = freight.Principal{Role: role}
					q.Artifact.State = as
				},
				"artifact_unavailable",
			})
		}
		cases = append(cases,
			accessCase{string(role) + "/release listing", func(q *freight.AccessQuery) {
				q.Principal = freight.Principal{Role: role}
				q.Release.State = freight.ReleaseDraft
				q.Artifact = nil
				q.Download = false
			}, "vendor_staff"},
			accessCase{string(role) + "/ignores every entitlement clause and limit", func(q *freight.AccessQuery) {
				q.Principal = freight.Principal{Role: role, OrgID: "org_a"}
				e := ent(q)
				e.Channels = []freight.Channel{freight.ChannelDev}
				e.VersionRange = "< 1.0"
				e.NotAfter = tp(accessNow.Add(-time.Hour))
				e.Platforms = []string{"windows"}
				e.Limits = freight.DownloadLimits{Downloads: 1, Bytes: 1}
				q.Usage = freight.Usage{Downloads: 100, Bytes: 100}
				q.Release.Channel = freight.ChannelAlpha
			}, "vendor_staff"},
		)
	}
	runAccessCases(t, cases)
}

func TestDecideNoOrganization(t *testing.T) {
	runAccessCases(t, []accessCase{
		{"empty role", func(q *freight.AccessQuery) { q.Principal.Role = "" }, "no_organization"},
		{"unknown role", func(q *freight.AccessQuery) { q.Principal.Role = "owner" }, "no_organization"},
		{"vendor role spelled differently", func(q *freight.AccessQuery) { q.Principal.Role = "Admin" }, "no_organization"},
		{"member without organization", func(q *freight.AccessQuery) { q.Principal.OrgID = "" }, "no_organization"},
		{"org-admin without organization", func(q *freight.AccessQuery) {
			q.Principal = freight.Principal{Role: freight.RoleOrgAdmin}
		}, "no_organization"},
		{"entitlement without organization does not help", func(q *freight.AccessQuery) {
			q.Principal.OrgID = ""
			ent(q).OrgID = ""
		}, "no_organization"},
		{"org-admin", func(q *freight.AccessQuery) { q.Principal.Role = freight.RoleOrgAdmin }, "ok"},
		{"token without user", func(q *freight.AccessQuery) {
			q.Principal = freight.Principal{TokenID: "tok_a", Role: freight.RoleMember, OrgID: "org_a"}
		}, "ok"},
	})
}

func TestDecideTenancy(t *testing.T) {
	runAccessCases(t, []accessCase{
		{"no entitlements", func(q *freight.AccessQuery) { q.Entitlements = nil }, "no_entitlement"},
		{"nil entitlement", func(q *freight.AccessQuery) { q.Entitlements = []*freight.Entitlement{nil} }, "no_entitlement"},
		{"other organization's entitlement", func(q *freight.AccessQuery) { ent(q).OrgID = "org_b" }, "no_entitlement"},
		{"entitlement for another product", func(q *freight.AccessQuery) { ent(q).ProductID = "prd_b" }, "no_entitlement"},
		{"other organization and other product", func(q *freight.AccessQuery) {
			other := baseEntitlement()
			other.ProductID = "prd_b"
			ent(q).OrgID = "org_b"
			q.Entitlements = append(q.Entitlements, other)
		}, "no_entitlement"},
		{"principal of another organization", func(q *freight.AccessQuery) { q.Principal.OrgID = "org_b" }, "no_entitlement"},
		{"organization ids are case sensitive", func(q *freight.AccessQuery) { q.Principal.OrgID = "ORG_A" }, "no_entitlement"},
		{"no entitlement hides drafts", func(q *freight.AccessQuery) {
			q.Entitlements = nil
			q.Release.State = freight.ReleaseDraft
		}, "no_entitlement"},
		{"other organization's allowing entitlement does not grant", func(q *freight.AccessQuery) {
			ent(q).Channels = []freight.Channel{freight.ChannelDev}
			other := baseEntitlement()
			other.ID, other.OrgID = "ent_b", "org_b"
			other.Channels = freight.Channels
			q.Entitlements = []*freight.Entitlement{other, q.Entitlements[0]}
		}, "channel"},
		{"other organization listed first", func(q *freight.AccessQuery) {
			other := baseEntitlement()
			other.ID, other.OrgID = "ent_b", "org_b"
			q.Entitlements = []*freight.Entitlement{other, q.Entitlements[0]}
		}, "ok"},
	})
}

func TestDecideReleaseAndArtifactState(t *testing.T) {
	runAccessCases(t, []accessCase{
		{"draft", func(q *freight.AccessQuery) { q.Release.State = freight.ReleaseDraft }, "not_published"},
		{"yanked", func(q *freight.AccessQuery) { q.Release.State = freight.ReleaseYanked }, "not_published"},
		{"empty state", func(q *freight.AccessQuery) { q.Release.State = "" }, "not_published"},
		{"unknown state", func(q *freight.AccessQuery) { q.Release.State = "Published" }, "not_published"},
		{"draft listing", func(q *freight.AccessQuery) {
			q.Release.State = freight.ReleaseDraft
			q.Artifact = nil
			q.Download = false
		}, "not_published"},
		{"yanked view", func(q *freight.AccessQuery) {
			q.Release.State = freight.ReleaseYanked
			q.Download = false
		}, "not_published"},
		{"org-admin and draft", func(q *freight.AccessQuery) {
			q.Principal.Role = freight.RoleOrgAdmin
			q.Release.State = freight.ReleaseDraft
		}, "not_published"},
		{"draft before unavailable artifact", func(q *freight.AccessQuery) {
			q.Release.State = freight.ReleaseDraft
			q.Artifact.State = freight.ArtifactUploading
		}, "not_published"},
		{"uploading", func(q *freight.AccessQuery) { q.Artifact.State = freight.ArtifactUploading }, "artifact_unavailable"},
		{"verifying", func(q *freight.AccessQuery) { q.Artifact.State = freight.ArtifactVerifying }, "artifact_unavailable"},
		{"failed", func(q *freight.AccessQuery) { q.Artifact.State = freight.ArtifactFailed }, "artifact_unavailable"},
		{"empty artifact state", func(q *freight.AccessQuery) { q.Artifact.State = "" }, "artifact_unavailable"},
		{"failed, view only", func(q *freight.AccessQuery) {
			q.Artifact.State = freight.ArtifactFailed
			q.Download = false
		}, "artifact_unavailable"},
		{"unavailable artifact before channel", func(q *freight.AccessQuery) {
			q.Artifact.State = freight.ArtifactVerifying
			q.Release.Channel = freight.ChannelDev
		}, "artifact_unavailable"},
	})
}

func TestChannelVisible(t *testing.T) {
	// visible[entitled][release] for single-channel entitlements.
	order := []freight.Channel{freight.ChannelStable, freight.ChannelRC, freight.ChannelBeta, freight.ChannelAlpha, freight.ChannelDev}
	visible := map[freight.Channel]map[freight.Channel]bool{
		freight.ChannelStable: {freight.ChannelStable: true},
		freight.ChannelRC:     {freight.ChannelStable: true, freight.ChannelRC: true},
		freight.ChannelBeta:   {freight.ChannelStable: true, freight.ChannelRC: true, freight.ChannelBeta: true},
		freight.ChannelAlpha:  {freight.ChannelStable: true, freight.ChannelRC: true, freight.ChannelBeta: true, freight.ChannelAlpha: true},
		freight.ChannelDev:    {freight.ChannelDev: true},
	}
	for _, e := range order {
		for _, c := range order {
			t.Run(fmt.Sprintf("%s sees %s", e, c), func(t *testing.T) {
				want := visible[e][c]
				if got := freight.ChannelVisible([]freight.Channel{e}, c); got != want {
					t.Errorf("ChannelVisible([%s], %s) = %v, want %v", e, c, got, want)
				}
				// The same matrix through Decide.
				q := baseQuery()
				ent(&q).Channels = []freight.Channel{e}
				q.Release.Channel = c
				reason := "channel"
				if want {
					reason = "ok"
				}
				checkDecision(t, q, freight.Decide(q), reason)
			})
		}
	}

	multi := []struct {
		name     string
		entitled []freight.Channel
		visible  []freight.Channel
	}{
		{"none", nil, nil},
		{"empty", []freight.Channel{}, nil},
		{"stable+dev", []freight.Channel{freight.ChannelStable, freight.ChannelDev}, []freight.Channel{freight.ChannelStable, freight.ChannelDev}},
		{"dev+beta", []freight.Channel{freight.ChannelDev, freight.ChannelBeta}, []freight.Channel{freight.ChannelStable, freight.ChannelRC, freight.ChannelBeta, freight.ChannelDev}},
		{"alpha+dev", []freight.Channel{freight.ChannelAlpha, freight.ChannelDev}, order},
		{"stable+rc", []freight.Channel{freight.ChannelStable, freight.ChannelRC}, []freight.Channel{freight.ChannelStable, freight.ChannelRC}},
		{"rc+alpha", []freight.Channel{freight.ChannelRC, freight.ChannelAlpha}, []freight.Channel{freight.ChannelStable, freight.ChannelRC, freight.ChannelBeta, freight.ChannelAlpha}},
		{"all", freight.Channels, order},
		{"duplicates", []freight.Channel{freight.ChannelRC, freight.ChannelRC}, []freight.Channel{freight.ChannelStable, freight.ChannelRC}},
		{"unknown entitled", []freight.Channel{"nightly", "Stable", ""}, nil},
		{"unknown next to known", []freight.Channel{"nightly", freight.ChannelBeta}, []freight.Channel{freight.ChannelStable, freight.ChannelRC, freight.ChannelBeta}},
	}
	for _, tt := range multi {
		for _, c := range append(slices.Clone(order), "nightly", "", "STABLE") {
			t.Run(fmt.Sprintf("%s sees %q", tt.name, c), func(t *testing.T) {
				if got, want := freight.ChannelVisible(tt.entitled, c), slices.Contains(tt.visible, c); got != want {
					t.Errorf("ChannelVisible(%v, %q) = %v, want %v", tt.entitled, c, got, want)
				}
			})
		}
	}
}

func TestDecideVersionRange(t *testing.T) {
	tests := []struct {
		rng, version string
		in           bool
	}{
		{"", "0.0.1", true},
		{">= 2.0, < 3.0", "2.0.0", true},
		{">= 2.0, < 3.0", "2.1.0", true},
		{">= 2.0, < 3.0", "2.9.99", true},
		{">= 2.0, < 3.0", "3.0.0", false},
		{">= 2.0, < 3.0", "1.9.9", false},
		// Pre-releases by precedence: 2.0.0-rc.1 < 2.0.0 < 2.1.0-rc.1 < 3.0.0-rc.1 < 3.0.0.
		{">= 2.0, < 3.0", "2.1.0-rc.1", true},
		{">= 2.0, < 3.0", "2.1.0-alpha", true},
		{">= 2.0, < 3.0", "2.0.0-rc.1", false},
		{">= 2.0, < 3.0", "3.0.0-rc.1", true},
		{"< 3.0.0", "3.0.0-rc.1", true},
		{"< 3.0.0", "3.0.0-0", true},
		{"<= 3.0.0", "3.0.0-rc.1", true},
		{"> 3.0.0", "3.0.1-rc.1", true},
		{"> 3.0.0", "3.0.0-rc.1", false},
		{">= 2.0.0", "2.0.0-rc.1", false},
		// The way to keep the next major's pre-releases out.
		{">= 2.0, < 3.0.0-0", "3.0.0-rc.1", false},
		{">= 2.0, < 3.0.0-0", "3.0.0-0", false},
		{">= 2.0, < 3.0.0-0", "2.99.0", true},
		{">= 2.0, < 3.0.0-0", "2.99.0-beta.2", true},
		// A range naming a pre-release.
		{">= 3.0.0-beta.1", "3.0.0-alpha.9", false},
		{">= 3.0.0-beta.1", "3.0.0-beta.1", true},
		{">= 3.0.0-beta.1", "3.0.0-beta.11", true},
		{">= 3.0.0-beta.1", "3.0.0-rc.1", true},
		{">= 3.0.0-beta.1", "3.0.0", true},
		// Exact versions.
		{"2.1.0", "2.1.0", true},
		{"= 2.1.0", "2.1.0-rc.1", false},
		{"2.1.0-rc.1", "2.1.0-rc.1", true},
		{"!= 2.1.0", "2.1.0-rc.1", true},
		{"!= 2.1.0", "2.1.0", false},
		// Tilde, caret and wildcards select by major/minor number.
		{"~2.4", "2.4.0", true},
		{"~2.4", "2.4.9", true},
		{"~2.4", "2.4.1-rc.1", true},
		{"~2.4", "2.4.0-rc.1", false},
		{"~2.4", "2.5.0-rc.1", false},
		{"~2.4", "2.5.0", false},
		{"^2", "2.9.0", true},
		{"^2", "2.9.0-beta.1", true},
		{"^2", "3.0.0-rc.1", false},
		{"2.x", "2.3.0", true},
		{"2.x", "2.3.0-rc.1", true},
		{"2.x", "3.0.0-rc.1", false},
		{"*", "0.1.0-alpha", true},
		// Or-groups.
		{"1.x || >= 3.0", "2.0.0", false},
		{"1.x || >= 3.0", "1.2.0-rc.1", true},
		{"1.x || >= 3.0", "3.1.0", true},
		// Build metadata does not count.
		{">= 2.0, < 3.0", "2.1.0+build.7", true},
		{"< 2.1.0", "2.1.0+build.7", false},
		// A malformed range denies everything.
		{"not a range", "2.1.0", false},
		{">= 2.0,, < 3.0", "2.1.0", false},
		{">== 2.0", "2.1.0", false},
		{"   ", "2.1.0", false},
		{strings.Repeat("1", 300), "2.1.0", false},
		// A release version that does not parse is outside every range,
		// but an entitlement without a range does not look at it.
		{">= 0.0.0", "v2.1.0", false},
		{">= 0.0.0", "2.1", false},
		{">= 0.0.0", "", false},
		{"", "v2.1.0", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q in %q", tt.version, tt.rng), func(t *testing.T) {
			q := baseQuery()
			ent(&q).VersionRange = tt.rng
			ent(&q).Channels = []freight.Channel{freight.ChannelAlpha}
			q.Release.Version = tt.version
			want := "version_range"
			if tt.in {
				want = "ok"
			}
			checkDecision(t, q, freight.Decide(q), want)
		})
	}
}

func TestDecideMaintenance(t *testing.T) {
	until := accessNow.AddDate(0, -1, 0)
	runAccessCases(t, []accessCase{
		{"unset", func(q *freight.AccessQuery) { q.Release.PublishedAt = tp(accessNow) }, "ok"},
		{"published before", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			q.Release.PublishedAt = tp(until.Add(-time.Hour))
		}, "ok"},
		{"published exactly at the end", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			q.Release.PublishedAt = tp(until)
		}, "ok"},
		{"published exactly at the end in another zone", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			q.Release.PublishedAt = tp(until.In(time.FixedZone("UTC+9", 9*3600)))
		}, "ok"},
		{"published a nanosecond after", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			q.Release.PublishedAt = tp(until.Add(time.Nanosecond))
		}, "maintenance"},
		{"no publication time", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			q.Release.PublishedAt = nil
		}, "maintenance"},
		{"old release stays allowed forever", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			q.Release.PublishedAt = tp(until.AddDate(-3, 0, 0))
			q.Now = until.AddDate(10, 0, 0)
		}, "ok"},
		{"maintenance before window", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			ent(q).NotAfter = tp(accessNow)
			q.Release.PublishedAt = tp(accessNow)
		}, "maintenance"},
		{"version range before maintenance", func(q *freight.AccessQuery) {
			ent(q).MaintenanceUntil = tp(until)
			ent(q).VersionRange = "< 2.0"
			q.Release.PublishedAt = tp(accessNow)
		}, "version_range"},
		{"channel before version range", func(q *freight.AccessQuery) {
			ent(q).VersionRange = "< 2.0"
			q.Release.Channel = freight.ChannelBeta
		}, "channel"},
	})
}

func TestDecideWindow(t *testing.T) {
	start := accessNow.Add(-24 * time.Hour)
	end := accessNow.Add(24 * time.Hour)
	window := func(q *freight.AccessQuery) {
		ent(q).NotBefore = tp(start)
		ent(q).NotAfter = tp(end)
	}
	runAccessCases(t, []accessCase{
		{"inside", window, "ok"},
		{"exactly at not_before", func(q *freight.AccessQuery) { window(q); q.Now = start }, "ok"},
		{"a nanosecond before not_before", func(q *freight.AccessQuery) { window(q); q.Now = start.Add(-time.Nanosecond) }, "window"},
		{"a nanosecond before not_after", func(q *freight.AccessQuery) { window(q); q.Now = end.Add(-time.Nanosecond) }, "ok"},
		{"exactly at not_after", func(q *freight.AccessQuery) { window(q); q.Now = end }, "window"},
		{"after not_after", func(q *freight.AccessQuery) { window(q); q.Now = end.AddDate(1, 0, 0) }, "window"},
		{"exactly at not_after in another zone", func(q *freight.AccessQuery) {
			window(q)
			q.Now = end.In(time.FixedZone("UTC-7", -7*3600))
		}, "window"},
		{"only not_before, long after", func(q *freight.AccessQuery) {
			ent(q).NotBefore = tp(start)
			q.Now = start.AddDate(50, 0, 0)
		}, "ok"},
		{"only not_after, long before", func(q *freight.AccessQuery) {
			ent(q).NotAfter = tp(end)
			q.Now = end.AddDate(-50, 0, 0)
		}, "ok"},
		{"expired entitlement hides the release too", func(q *freight.AccessQuery) {
			window(q)
			q.Now = end
			q.Download = false
			q.Artifact = nil
		}, "window"},
		{"window before platform", func(q *freight.AccessQuery) {
			window(q)
			q.Now = end
			ent(q).Platforms = []string{"windows"}
		}, "window"},
	})
}

func TestDecideArtifactFilter(t *testing.T) {
	runAccessCases(t, []accessCase{
		{"platform listed", func(q *freight.AccessQuery) { ent(q).Platforms = []string{"linux", "windows"} }, "ok"},
		{"platform not listed", func(q *freight.AccessQuery) { ent(q).Platforms = []string{"windows", "macos"} }, "platform"},
		{"any platform artifact", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"windows"}
			q.Artifact.Platform = "any"
		}, "ok"},
		{"platform case matters", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"linux"}
			q.Artifact.Platform = "Linux"
		}, "platform"},
		{"arch listed", func(q *freight.AccessQuery) { ent(q).Arches = []string{"x86_64"} }, "ok"},
		{"arch not listed", func(q *freight.AccessQuery) { ent(q).Arches = []string{"arm64"} }, "arch"},
		{"any arch artifact", func(q *freight.AccessQuery) {
			ent(q).Arches = []string{"arm64"}
			q.Artifact.Arch = "any"
		}, "ok"},
		{"any/any artifact under both filters", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"windows"}
			ent(q).Arches = []string{"arm64"}
			q.Artifact.Platform, q.Artifact.Arch = "any", "any"
		}, "ok"},
		{"platform before arch", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"windows"}
			ent(q).Arches = []string{"arm64"}
		}, "platform"},
		{"any platform but wrong arch", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"windows"}
			ent(q).Arches = []string{"arm64"}
			q.Artifact.Platform = "any"
		}, "arch"},
		{"release listing skips filters", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"windows"}
			ent(q).Arches = []string{"arm64"}
			q.Artifact = nil
			q.Download = false
		}, "ok"},
		{"filtered artifact hidden in view", func(q *freight.AccessQuery) {
			ent(q).Platforms = []string{"windows"}
			q.Download = false
		}, "platform"},
	})
}

func TestDecideLimits(t *testing.T) {
	limits := func(downloads, bytes int64) func(q *freight.AccessQuery) {
		return func(q *freight.AccessQuery) {
			ent(q).Limits = freight.DownloadLimits{Downloads: downloads, Bytes: bytes, Period: freight.LimitMonth}
		}
	}
	runAccessCases(t, []accessCase{
		{"unlimited", func(q *freight.AccessQuery) { q.Usage = freight.Usage{Downloads: math.MaxInt64, Bytes: math.MaxInt64} }, "ok"},
		{"downloads below limit", func(q *freight.AccessQuery) { limits(10, 0)(q); q.Usage.Downloads = 9 }, "ok"},
		{"downloads exactly at limit", func(q *freight.AccessQuery) { limits(10, 0)(q); q.Usage.Downloads = 10 }, "download_limit"},
		{"downloads over limit", func(q *freight.AccessQuery) { limits(10, 0)(q); q.Usage.Downloads = 11 }, "download_limit"},
		{"download limit of one, first download", func(q *freight.AccessQuery) { limits(1, 0)(q) }, "ok"},
		{"downloads at limit, view only", func(q *freight.AccessQuery) {
			limits(10, 0)(q)
			q.Usage.Downloads = 10
			q.Download = false
		}, "ok"},
		{"bytes: usage+size below limit", func(q *freight.AccessQuery) { limits(0, 5000)(q); q.Usage.Bytes = 3999 }, "ok"},
		{"bytes: usage+size exactly at limit", func(q *freight.AccessQuery) { limits(0, 5000)(q); q.Usage.Bytes = 4000 }, "ok"},
		{"bytes: usage+size one over limit", func(q *freight.AccessQuery) { limits(0, 5000)(q); q.Usage.Bytes = 4001 }, "byte_limit"},
		{"bytes: artifact alone over limit", func(q *freight.AccessQuery) { limits(0, 999)(q) }, "byte_limit"},
		{"bytes: artifact alone exactly the limit", func(q *freight.AccessQuery) { limits(0, 1000)(q) }, "ok"},
		{"bytes over limit, view only", func(q *freight.AccessQuery) {
			limits(0, 5000)(q)
			q.Usage.Bytes = 1 << 40
			q.Download = false
		}, "ok"},
		{"bytes: empty artifact at limit", func(q *freight.AccessQuery) {
			limits(0, 5000)(q)
			q.Usage.Bytes = 5000
			q.Artifact.Size = 0
		}, "ok"},
		{"download limit before byte limit", func(q *freight.AccessQuery) {
			limits(10, 5000)(q)
			q.Usage = freight.Usage{Downloads: 10, Bytes: 5000}
		}, "download_limit"},
		{"both limits, byte limit fails", func(q *freight.AccessQuery) {
			limits(10, 5000)(q)
			q.Usage = freight.Usage{Downloads: 9, Bytes: 4500}
		}, "byte_limit"},
		{"huge usage does not overflow", func(q *freight.AccessQuery) {
			limits(0, math.MaxInt64)(q)
			q.Usage.Bytes = math.MaxInt64 - 999
		}, "byte_limit"},
		{"huge usage exactly fits", func(q *freight.AccessQuery) {
			limits(0, math.MaxInt64)(q)
			q.Usage.Bytes = math.MaxInt64 - 1000
		}, "ok"},
		{"huge artifact does not overflow", func(q *freight.AccessQuery) {
			limits(0, 5000)(q)
			q.Usage.Bytes = 1
			q.Artifact.Size = math.MaxInt64
		}, "byte_limit"},
		{"negative usage buys nothing", func(q *freight.AccessQuery) {
			limits(0, 5000)(q)
			q.Usage.Bytes = -1 << 62
			q.Artifact.Size = 5001
		}, "byte_limit"},
		{"arch before limits", func(q *freight.AccessQuery) {
			limits(1, 0)(q)
			q.Usage.Downloads = 1
			ent(q).Arches = []string{"arm64"}
		}, "arch"},
	})
}

func TestDecideMultipleEntitlements(t *testing.T) {
	second := func(mod func(e *freight.Entitlement)) func(q *freight.AccessQuery) {
		return func(q *freight.AccessQuery) {
			e := baseEntitlement()
			e.ID = "ent_a2"
			mod(e)
			q.Entitlements = append(q.Entitlements, e)
		}
	}
	tests := []struct {
		accessCase
		allowedBy string // the id of the allowing entitlement
	}{
		{accessCase{"first allows", second(func(e *freight.Entitlement) {}), "ok"}, "ent_a"},
		{accessCase{"second allows the beta", func(q *freight.AccessQuery) {
			second(func(e *freight.Entitlement) { e.Channels = []freight.Channel{freight.ChannelBeta} })(q)
			q.Release.Channel = freight.ChannelBeta
		}, "ok"}, "ent_a2"},
		{accessCase{"second has downloads left", func(q *freight.AccessQuery) {
			ent(q).Limits.Downloads = 5
			second(func(e *freight.Entitlement) { e.Limits.Downloads = 50 })(q)
			q.Usage.Downloads = 5
		}, "ok"}, "ent_a2"},
		{accessCase{"reason of the entitlement that got furthest", func(q *freight.AccessQuery) {
			q.Release.Channel = freight.ChannelBeta
			second(func(e *freight.Entitlement) {
				e.Channels = []freight.Channel{freight.ChannelBeta}
				e.VersionRange = "< 2.0"
			})(q)
		}, "version_range"}, ""},
		{accessCase{"furthest reason regardless of order", func(q *freight.AccessQuery) {
			ent(q).Channels = []freight.Channel{freight.ChannelBeta}
			ent(q).Arches = []string{"arm64"}
			second(func(e *freight.Entitlement) { e.Channels = []freight.Channel{freight.ChannelDev} })(q)
		}, "arch"}, ""},
		{accessCase{"equal reasons", func(q *freight.AccessQuery) {
			ent(q).Channels = []freight.Channel{freight.ChannelDev}
			second(func(e *freight.Entitlement) { e.Channels = []freight.Channel{freight.ChannelDev} })(q)
		}, "channel"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := baseQuery()
			tt.mod(&q)
			d := freight.Decide(q)
			checkDecision(t, q, d, tt.reason)
			if tt.allowedBy != "" && d.Entitlement != nil {
				if got, want := d.Entitlement.ID, tt.allowedBy; got != want {
					t.Errorf("Decide().Entitlement.ID = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestDecideAllowed(t *testing.T) {
	q := baseQuery()
	e := ent(&q)
	e.Channels = []freight.Channel{freight.ChannelBeta}
	e.VersionRange = ">= 2.0, < 3.0"
	e.MaintenanceUntil = tp(accessNow)
	e.NotBefore = tp(accessNow.AddDate(-1, 0, 0))
	e.NotAfter = tp(accessNow.AddDate(1, 0, 0))
	e.Platforms = []string{"linux"}
	e.Arches = []string{"x86_64", "arm64"}
	e.Limits = freight.DownloadLimits{Downloads: 10, Bytes: 1 << 30, Period: freight.LimitWeek}
	q.Release.Channel = freight.ChannelRC
	q.Release.Version = "2.1.0-rc.1"
	q.Usage = freight.Usage{Downloads: 9, Bytes: 1 << 20}
	d := freight.Decide(q)
	checkDecision(t, q, d, "ok")
	if got, want := d.Entitlement, e; got != want {
		t.Errorf("Decide().Entitlement = %p, want the entitlement passed in (%p)", got, want)
	}
	if strings.Contains(d.Message, "org_a") || strings.Contains(d.Message, "ent_a") {
		t.Errorf("message %q names ids", d.Message)
	}
}

func TestLimitWindowStart(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	plus3 := time.FixedZone("UTC+3", 3*3600)
	minus5 := time.FixedZone("UTC-5", -5*3600)
	tests := []struct {
		name   string
		period freight.LimitPeriod
		now    time.Time
		want   time.Time
	}{
		{"total", freight.LimitTotal, utc(2025, 6, 18, 12, 0), time.Time{}},
		{"unknown period counts everything", "year", utc(2025, 6, 18, 12, 0), time.Time{}},

		{"day", freight.LimitDay, utc(2025, 6, 18, 12, 34), utc(2025, 6, 18, 0, 0)},
		{"day at midnight", freight.LimitDay, utc(2025, 6, 18, 0, 0), utc(2025, 6, 18, 0, 0)},
		{"day a nanosecond before midnight", freight.LimitDay, utc(2025, 6, 19, 0, 0).Add(-time.Nanosecond), utc(2025, 6, 18, 0, 0)},
		{"day, local date ahead of UTC", freight.LimitDay, time.Date(2025, 6, 19, 1, 0, 0, 0, plus3), utc(2025, 6, 18, 0, 0)},
		{"day, local date behind UTC", freight.LimitDay, time.Date(2025, 6, 18, 21, 0, 0, 0, minus5), utc(2025, 6, 19, 0, 0)},
		{"day across new year", freight.LimitDay, time.Date(2025, 12, 31, 22, 0, 0, 0, minus5), utc(2026, 1, 1, 0, 0)},

		{"week on Wednesday", freight.LimitWeek, utc(2025, 6, 18, 12, 0), utc(2025, 6, 16, 0, 0)},
		{"week on Monday midnight", freight.LimitWeek, utc(2025, 6, 16, 0, 0), utc(2025, 6, 16, 0, 0)},
		{"week on Sunday", freight.LimitWeek, utc(2025, 6, 22, 23, 59), utc(2025, 6, 16, 0, 0)},
		{"week a nanosecond before Monday", freight.LimitWeek, utc(2025, 6, 23, 0, 0).Add(-time.Nanosecond), utc(2025, 6, 16, 0, 0)},
		{"week on Saturday", freight.LimitWeek, utc(2025, 6, 21, 8, 0), utc(2025, 6, 16, 0, 0)},
		{"week across month", freight.LimitWeek, utc(2025, 7, 2, 8, 0), utc(2025, 6, 30, 0, 0)},
		{"week across year", freight.LimitWeek, utc(2025, 1, 1, 8, 0), utc(2024, 12, 30, 0, 0)},
		{"week, Monday local is Sunday UTC", freight.LimitWeek, time.Date(2025, 6, 23, 1, 0, 0, 0, plus3), utc(2025, 6, 16, 0, 0)},
		{"week, Sunday local is Monday UTC", freight.LimitWeek, time.Date(2025, 6, 22, 20, 0, 0, 0, minus5), utc(2025, 6, 23, 0, 0)},

		{"month", freight.LimitMonth, utc(2025, 6, 18, 12, 0), utc(2025, 6, 1, 0, 0)},
		{"month on the first at midnight", freight.LimitMonth, utc(2025, 3, 1, 0, 0), utc(2025, 3, 1, 0, 0)},
		{"month on the last nanosecond", freight.LimitMonth, utc(2025, 4, 1, 0, 0).Add(-time.Nanosecond), utc(2025, 3, 1, 0, 0)},
		{"month, local first is UTC last", freight.LimitMonth, time.Date(2025, 4, 1, 1, 0, 0, 0, plus3), utc(2025, 3, 1, 0, 0)},
		{"month, local last is UTC first", freight.LimitMonth, time.Date(2025, 3, 31, 20, 0, 0, 0, minus5), utc(2025, 4, 1, 0, 0)},
		{"month of leap February", freight.LimitMonth, utc(2024, 2, 29, 23, 0), utc(2024, 2, 1, 0, 0)},
		{"month across year", freight.LimitMonth, time.Date(2024, 12, 31, 23, 30, 0, 0, minus5), utc(2025, 1, 1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := freight.LimitWindowStart(tt.period, tt.now)
			if !got.Equal(tt.want) {
				t.Errorf("LimitWindowStart(%q, %v) = %v, want %v", tt.period, tt.now, got, tt.want)
			}
			if !tt.want.IsZero() {
				if got, want := got.Location(), time.UTC; got != want {
					t.Errorf("LimitWindowStart(%q, %v) is in %v, want UTC", tt.period, tt.now, got)
				}
				if got.After(tt.now) {
					t.Errorf("LimitWindowStart(%q, %v) = %v is after now", tt.period, tt.now, got)
				}
			} else if !got.IsZero() {
				t.Errorf("LimitWindowStart(%q, %v) = %v, want the zero time", tt.period, tt.now, got)
			}
		})
	}
}

// fuzzPicker turns fuzz bytes into choices; exhausted input picks 0.
type fuzzPicker struct{ b []byte }

func (p *fuzzPicker) n(k int) int {
	if len(p.b) == 0 {
		return 0
	}
	v := int(p.b[0])
	p.b = p.b[1:]
	return v % k
}

func pick[T any](p *fuzzPicker, s []T) T { return s[p.n(len(s))] }

func (p *fuzzPicker) bool() bool { return p.n(2) == 1 }

var (
	fuzzRoles     = []freight.Role{freight.RoleAdmin, freight.RolePublisher, freight.RoleSupport, freight.RoleOrgAdmin, freight.RoleMember, freight.RoleMember, "", "owner"}
	fuzzOrgs      = []string{"org_a", "org_b", "org_c", ""}
	fuzzProducts  = []string{"prd_a", "prd_b"}
	fuzzChannels  = []freight.Channel{freight.ChannelStable, freight.ChannelRC, freight.ChannelBeta, freight.ChannelAlpha, freight.ChannelDev, "nightly"}
	fuzzRStates   = []freight.ReleaseState{freight.ReleasePublished, freight.ReleasePublished, freight.ReleaseDraft, freight.ReleaseYanked, ""}
	fuzzAStates   = []freight.ArtifactState{freight.ArtifactAvailable, freight.ArtifactAvailable, freight.ArtifactUploading, freight.ArtifactVerifying, freight.ArtifactFailed}
	fuzzVersions  = []string{"1.0.0", "2.0.0", "2.0.0-rc.1", "2.1.0", "2.1.0-beta.2", "2.9.9", "3.0.0-rc.1", "3.0.0", "3.0.0-0", "10.0.0+build.1", "v2.0.0"}
	fuzzRanges    = []string{"", "", ">= 2.0, < 3.0", "< 3.0.0", ">= 2.0, < 3.0.0-0", "~2.1", "^2", "2.x", "1.x || >= 3.0", "= 2.1.0", "not a range", ">= 3.0.0-rc.1"}
	fuzzPlatforms = []string{"linux", "windows", "macos", "any"}
	fuzzArches    = []string{"x86_64", "arm64", "any"}
	fuzzSizes     = []int64{0, 1, 1000, 4096, 1 << 30, math.MaxInt64, -1}
	fuzzCounts    = []int64{0, 0, 1, 2, 10, 4096, 1 << 31, math.MaxInt64, -1}
	fuzzTimes     = func() []time.Time {
		base := time.Date(2025, 6, 18, 12, 0, 0, 0, time.UTC)
		return []time.Time{
			base, base.Add(-time.Nanosecond), base.Add(time.Nanosecond),
			base.Add(-24 * time.Hour), base.Add(24 * time.Hour),
			base.AddDate(-1, 0, 0), base.AddDate(1, 0, 0),
			base.In(time.FixedZone("UTC+3", 3*3600)), {},
		}
	}()
)

func (p *fuzzPicker) timePtr() *time.Time {
	if p.n(3) == 0 {
		return nil
	}
	return tp(pick(p, fuzzTimes))
}

func (p *fuzzPicker) tags(all []string) []string {
	var s []string
	for range p.n(3) {
		s = append(s, pick(p, all))
	}
	return s
}

func (p *fuzzPicker) entitlement(id string) *freight.Entitlement {
	e := &freight.Entitlement{
		ID:               id,
		OrgID:            pick(p, fuzzOrgs),
		ProductID:        pick(p, fuzzProducts),
		VersionRange:     pick(p, fuzzRanges),
		MaintenanceUntil: p.timePtr(),
		NotBefore:        p.timePtr(),
		NotAfter:         p.timePtr(),
		Platforms:        p.tags(fuzzPlatforms),
		Arches:           p.tags(fuzzArches),
		Limits: freight.DownloadLimits{
			Downloads: pick(p, fuzzCounts),
			Bytes:     pick(p, fuzzCounts),
			Period:    pick(p, []freight.LimitPeriod{freight.LimitTotal, freight.LimitDay, freight.LimitWeek, freight.LimitMonth}),
		},
	}
	for range 1 + p.n(3) {
		e.Channels = append(e.Channels, pick(p, fuzzChannels))
	}
	return e
}

func fuzzQuery(data []byte) freight.AccessQuery {
	p := &fuzzPicker{b: data}
	product := &freight.Product{ID: pick(p, fuzzProducts)}
	release := &freight.Release{
		ID:          "rel_1",
		ProductID:   product.ID,
		Version:     pick(p, fuzzVersions),
		Channel:     pick(p, fuzzChannels),
		State:       pick(p, fuzzRStates),
		PublishedAt: p.timePtr(),
	}
	if p.n(16) == 0 {
		release.ProductID = "prd_x"
	}
	var artifact *freight.Artifact
	if p.n(4) != 0 {
		artifact = &freight.Artifact{
			ID:        "art_1",
			ReleaseID: release.ID,
			Platform:  pick(p, fuzzPlatforms),
			Arch:      pick(p, fuzzArches),
			Size:      pick(p, fuzzSizes),
			State:     pick(p, fuzzAStates),
		}
		if p.n(16) == 0 {
			artifact.ReleaseID = "rel_x"
		}
	}
	q := freight.AccessQuery{
		Principal: freight.Principal{UserID: "usr_1", Role: pick(p, fuzzRoles), OrgID: pick(p, fuzzOrgs)},
		Product:   product,
		Release:   release,
		Artifact:  artifact,
		Usage:     freight.Usage{Downloads: pick(p, fuzzCounts), Bytes: pick(p, fuzzCounts)},
		Download:  p.bool(),
		Now:       pick(p, fuzzTimes),
	}
	for i := range p.n(5) {
		q.Entitlements = append(q.Entitlements, p.entitlement(fmt.Sprintf("ent_%d", i)))
	}
	return q
}

func sameDecision(a, b freight.Decision) bool {
	return a.Allowed == b.Allowed && a.Reason == b.Reason && a.Message == b.Message && a.Entitlement == b.Entitlement
}

func FuzzDecide(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("entitlements and releases"))
	f.Add([]byte{1, 3, 0, 1, 0, 1, 1, 3, 4, 0, 0, 0, 1, 0, 1, 4, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Add([]byte{0, 5, 0, 1, 0, 1, 1, 3, 4, 0, 0, 0, 1, 0, 1, 4, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3})
	f.Add([]byte{0, 1, 3, 1, 0, 1, 1, 2, 3, 0, 1, 0, 1, 0, 0, 4, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		q := fuzzQuery(data)
		d := freight.Decide(q)

		if !slices.Contains(knownReasons, d.Reason) {
			t.Fatalf("unknown reason %q", d.Reason)
		}
		if got, want := d.Allowed, allowedReasons[d.Reason]; got != want {
			t.Fatalf("Allowed = %v with reason %q", got, d.Reason)
		}
		if d.Message == "" || strings.Contains(d.Message, "org_") || strings.Contains(d.Message, "ent_") || strings.Contains(d.Message, "prd_") {
			t.Fatalf("message %q is empty or names ids", d.Message)
		}
		if again := freight.Decide(q); !sameDecision(d, again) {
			t.Fatalf("Decide is not deterministic: %+v then %+v", d, again)
		}

		vendor := q.Principal.Role.IsVendor()
		if d.Allowed && !vendor && q.Release.State != freight.ReleasePublished {
			t.Fatalf("release in state %q allowed for role %q", q.Release.State, q.Principal.Role)
		}
		if d.Allowed && q.Artifact != nil && q.Artifact.State != freight.ArtifactAvailable {
			t.Fatalf("artifact in state %q allowed", q.Artifact.State)
		}
		if d.Allowed && q.Download && q.Artifact == nil {
			t.Fatalf("download without an artifact allowed")
		}
		if d.Allowed && !vendor {
			e := d.Entitlement
			if e == nil {
				t.Fatalf("customer allowed without an entitlement: %+v", d)
			}
			if e.OrgID != q.Principal.OrgID || e.OrgID == "" || e.ProductID != q.Product.ID {
				t.Fatalf("allowed by entitlement of %q/%q for principal of %q and product %q", e.OrgID, e.ProductID, q.Principal.OrgID, q.Product.ID)
			}
			if !slices.Contains(q.Entitlements, e) {
				t.Fatalf("allowing entitlement is not one of the candidates")
			}
			if !freight.ChannelVisible(e.Channels, q.Release.Channel) {
				t.Fatalf("allowed on channel %q by entitlement for %v", q.Release.Channel, e.Channels)
			}
			if (e.NotBefore != nil && q.Now.Before(*e.NotBefore)) || (e.NotAfter != nil && !q.Now.Before(*e.NotAfter)) {
				t.Fatalf("allowed outside the access window")
			}
		}
		if vendor && d.Entitlement != nil {
			t.Fatalf("vendor decision carries an entitlement")
		}
		if !d.Allowed && d.Entitlement != nil {
			t.Fatalf("denial carries an entitlement")
		}

		// Download=true allowed implies Download=false allowed.
		if q.Download && d.Allowed {
			view := q
			view.Download = false
			if v := freight.Decide(view); !v.Allowed {
				t.Fatalf("download allowed but view denied: %q", v.Reason)
			}
		}

		// Removing any one entitlement never turns a denial into an allowance.
		if !d.Allowed {
			for i := range q.Entitlements {
				fewer := q
				fewer.Entitlements = slices.Delete(slices.Clone(q.Entitlements), i, i+1)
				if r := freight.Decide(fewer); r.Allowed {
					t.Fatalf("removing entitlement %d turned %q into an allowance", i, d.Reason)
				}
			}
		}

		// Adding an entitlement of another organization (or another
		// product) never changes the decision, wherever it is added.
		stranger := (&fuzzPicker{b: data}).entitlement("ent_stranger")
		stranger.OrgID = "org_stranger"
		stranger.Channels = freight.Channels
		stranger.VersionRange = ""
		stranger.MaintenanceUntil, stranger.NotBefore, stranger.NotAfter = nil, nil, nil
		stranger.Platforms, stranger.Arches = nil, nil
		stranger.Limits = freight.DownloadLimits{}
		otherProduct := *stranger
		otherProduct.ID = "ent_other_product"
		otherProduct.OrgID = q.Principal.OrgID
		otherProduct.ProductID = q.Product.ID + "_other"
		for _, extra := range []*freight.Entitlement{stranger, &otherProduct} {
			for _, at := range []int{0, len(q.Entitlements)} {
				more := q
				more.Entitlements = slices.Insert(slices.Clone(q.Entitlements), at, extra)
				if r := freight.Decide(more); !sameDecision(d, r) {
					t.Fatalf("adding %s/%s at %d changed %+v into %+v", extra.OrgID, extra.ProductID, at, d, r)
				}
			}
		}
	})
}
