package freight

import (
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Decision is the outcome of the entitlement rule.
//
// Reason is a stable code that callers may branch on, log and count:
// "ok" and "vendor_staff" when allowed; "invalid_query", "no_organization",
// "no_entitlement", "not_published", "artifact_unavailable", "channel",
// "version_range", "maintenance", "window", "platform", "arch",
// "download_limit" and "byte_limit" when denied (see Decide). Message is the
// matching sentence for people. Both are fixed strings chosen by the code
// alone, never built from the query, so that a denial cannot reveal
// anything about another organization (its entitlements, its ids, its
// limits) to the caller.
type Decision struct {
	Allowed bool
	Reason  string // a stable code, see above
	Message string // a short sentence for humans and logs; never names other tenants

	// Entitlement is the entitlement that allows the access, when Allowed
	// and the principal is a customer. It is nil for vendor staff (they
	// need none) and for every denial. Callers use it to count the
	// download against the right limits and to record it.
	Entitlement *Entitlement
}

// Reasons of a Decision. The strings are part of the API (callers map them
// to HTTP answers and metrics), so they never change meaning; the
// constants stay unexported to keep the package API to what was agreed.
const (
	reasonOK                  = "ok"                   // allowed by an entitlement
	reasonVendorStaff         = "vendor_staff"         // allowed: vendor staff see everything available
	reasonInvalidQuery        = "invalid_query"        // the query itself is inconsistent; a caller bug
	reasonNoOrganization      = "no_organization"      // neither vendor staff nor a member of an organization
	reasonNoEntitlement       = "no_entitlement"       // the organization has no entitlement for the product
	reasonNotPublished        = "not_published"        // draft or yanked release
	reasonArtifactUnavailable = "artifact_unavailable" // artifact still uploading, verifying, or failed
	reasonChannel             = "channel"              // the release's channel is not covered
	reasonVersionRange        = "version_range"        // the release's version is outside the range (or the range is malformed)
	reasonMaintenance         = "maintenance"          // published after the maintenance period ended
	reasonWindow              = "window"               // outside the entitlement's access window
	reasonPlatform            = "platform"             // the artifact's platform is not covered
	reasonArch                = "arch"                 // the artifact's architecture is not covered
	reasonDownloadLimit       = "download_limit"       // the number of downloads in the period is used up
	reasonByteLimit           = "byte_limit"           // this download would exceed the bytes of the period
)

// reasonMessages holds the one message of each reason. Keeping them in a
// table (instead of formatting them at the call sites) is what guarantees
// that no message ever carries data from the query.
var reasonMessages = map[string]string{
	reasonOK:                  "access allowed by your organization's entitlement",
	reasonVendorStaff:         "access allowed for vendor staff",
	reasonInvalidQuery:        "the request does not name a consistent product, release and file",
	reasonNoOrganization:      "you do not act for a customer organization",
	reasonNoEntitlement:       "your organization is not entitled to this product",
	reasonNotPublished:        "this release is not published",
	reasonArtifactUnavailable: "this file is not available for download",
	reasonChannel:             "your entitlement does not cover this release channel",
	reasonVersionRange:        "this release is outside the versions your entitlement covers",
	reasonMaintenance:         "this release is outside your maintenance period",
	reasonWindow:              "your entitlement is not active at this time",
	reasonPlatform:            "your entitlement does not cover this platform",
	reasonArch:                "your entitlement does not cover this architecture",
	reasonDownloadLimit:       "your organization has used all its downloads for this period",
	reasonByteLimit:           "this download would exceed your organization's data allowance for this period",
}

// clauseRank orders the per-entitlement reasons by the clause that gives
// them. When several entitlements deny, the reported reason is the one of
// the entitlement that passed the most clauses: it is the one closest to
// allowing, so its reason is the most useful to the customer.
var clauseRank = map[string]int{
	reasonChannel:       1,
	reasonVersionRange:  2,
	reasonMaintenance:   3,
	reasonWindow:        4,
	reasonPlatform:      5,
	reasonArch:          6,
	reasonDownloadLimit: 7,
	reasonByteLimit:     8,
}

func decision(reason string) Decision {
	return Decision{Allowed: reason == reasonOK || reason == reasonVendorStaff, Reason: reason, Message: reasonMessages[reason]}
}

// AccessQuery is everything the rule looks at. Decide does no I/O: the
// caller loads the objects and the usage, so that the rule can be tested
// exhaustively and is the same on every code path (catalog, download,
// edge).
type AccessQuery struct {
	Principal Principal

	// Entitlements are the candidate entitlements. The caller may pass
	// more than the organization's own (a cached list, say): the rule
	// ignores those of other organizations or products, so that tenancy is
	// enforced here and not by every caller's query.
	Entitlements []*Entitlement

	Product *Product
	Release *Release

	// Artifact is nil when asking about a release as a whole (the catalog
	// listing of releases); the artifact clauses (state, platform, arch,
	// byte limit) are then skipped. A download always names an artifact.
	Artifact *Artifact

	// Usage is what the principal's organization used of the product since
	// LimitWindowStart(entitlement's period, Now). It is only read when
	// Download is true. Every candidate entitlement's limits are checked
	// against this one value.
	Usage Usage

	// Download false asks whether the principal may see the release or
	// artifact; true asks whether it may download it now, which adds the
	// download limits.
	Download bool

	Now time.Time
}

// Decide applies the entitlement rule. The clauses are checked in a fixed
// order and the first failing one gives the Reason:
//
//  1. nil Product or Release, nil Artifact when downloading, an empty
//     product id, or ids that do not chain (Release.ProductID != Product.ID,
//     Artifact.ReleaseID != Release.ID) → invalid_query, never allowed.
//  2. Vendor staff may see and download every available artifact of every
//     release, whatever its state (they test drafts) → vendor_staff; an
//     unavailable artifact → artifact_unavailable.
//  3. Other principals need an organization role and an OrgID →
//     no_organization.
//  4. An entitlement of that organization for that product →
//     no_entitlement.
//  5. A published release → not_published.
//  6. An available artifact → artifact_unavailable.
//  7. to 12. per entitlement: channel, version_range, maintenance, window,
//     platform, arch, and when downloading download_limit and byte_limit.
//
// The organization may hold several entitlements for one product (a
// stable one and a beta one with another range, say). Access is allowed
// when any of them allows it; Decision.Entitlement is then the first one,
// in list order, that does. When all deny, the reason is that of the
// entitlement that failed the latest clause (the first in list order among
// equals). Allowing on "any" makes the rule monotonic: adding an
// entitlement never takes access away, removing one never grants it.
//
// Decide is a pure function of q: it fails closed on anything it cannot
// interpret (unknown channels, states and roles, malformed version ranges
// or release versions) and never panics.
func Decide(q AccessQuery) Decision {
	// 1. The query must describe one artifact of one release of one
	// product; anything else is a caller bug, and an allowance computed
	// on mismatched objects could leak one product through another's
	// entitlement.
	switch {
	case q.Product == nil || q.Release == nil,
		q.Download && q.Artifact == nil,
		q.Product.ID == "",
		q.Release.ProductID != q.Product.ID,
		q.Artifact != nil && q.Artifact.ReleaseID != q.Release.ID:
		return decision(reasonInvalidQuery)
	}

	// 2. Vendor staff need no entitlement and no published release, but
	// even they cannot fetch a file whose bytes are not verified.
	if q.Principal.Role.IsVendor() {
		if q.Artifact != nil && q.Artifact.State != ArtifactAvailable {
			return decision(reasonArtifactUnavailable)
		}
		return decision(reasonVendorStaff)
	}

	// 3. Everyone else acts for one organization.
	if !q.Principal.Role.IsOrg() || q.Principal.OrgID == "" {
		return decision(reasonNoOrganization)
	}

	// 4. Tenancy: only the organization's own entitlements for this
	// product count, whatever the caller passed in.
	var own []*Entitlement
	for _, e := range q.Entitlements {
		if e != nil && e.OrgID == q.Principal.OrgID && e.ProductID == q.Product.ID {
			own = append(own, e)
		}
	}
	if len(own) == 0 {
		return decision(reasonNoEntitlement)
	}

	// 5. and 6. do not depend on the entitlement.
	if q.Release.State != ReleasePublished {
		return decision(reasonNotPublished)
	}
	if q.Artifact != nil && q.Artifact.State != ArtifactAvailable {
		return decision(reasonArtifactUnavailable)
	}

	// The release version is parsed once for every entitlement. An
	// unparseable version fails every range (but not an entitlement
	// without a range, which does not look at versions).
	version, verr := ParseVersion(q.Release.Version)
	if verr != nil {
		version = nil
	}

	best := ""
	for _, e := range own {
		reason := check(q, e, version)
		if reason == reasonOK {
			d := decision(reasonOK)
			d.Entitlement = e
			return d
		}
		if best == "" || clauseRank[reason] > clauseRank[best] {
			best = reason
		}
	}
	return decision(best)
}

// check applies clauses 7 to 12 to one entitlement and returns the reason
// of the first that fails, or reasonOK.
func check(q AccessQuery, e *Entitlement, version *semver.Version) string {
	// 7.
	if !ChannelVisible(e.Channels, q.Release.Channel) {
		return reasonChannel
	}
	// 8.
	if e.VersionRange != "" && !inVersionRange(e.VersionRange, version) {
		return reasonVersionRange
	}
	// 9. The maintenance date is inclusive: a release published exactly
	// at MaintenanceUntil is covered. A published release without a
	// publication time cannot be shown to be inside the period, so it is
	// not.
	if e.MaintenanceUntil != nil && (q.Release.PublishedAt == nil || q.Release.PublishedAt.After(*e.MaintenanceUntil)) {
		return reasonMaintenance
	}
	// 10. The window is half open, [NotBefore, NotAfter): NotAfter is the
	// first instant without access, so consecutive entitlements can share
	// a boundary without overlapping.
	if e.NotBefore != nil && q.Now.Before(*e.NotBefore) {
		return reasonWindow
	}
	if e.NotAfter != nil && !q.Now.Before(*e.NotAfter) {
		return reasonWindow
	}
	// 11. Artifacts built for every platform or architecture ("any")
	// belong to every filter.
	if q.Artifact != nil {
		if len(e.Platforms) > 0 && q.Artifact.Platform != "any" && !slices.Contains(e.Platforms, q.Artifact.Platform) {
			return reasonPlatform
		}
		if len(e.Arches) > 0 && q.Artifact.Arch != "any" && !slices.Contains(e.Arches, q.Artifact.Arch) {
			return reasonArch
		}
	}
	// 12. Limits only gate downloads: a customer over its allowance still
	// sees what it is entitled to.
	if q.Download {
		if e.Limits.Downloads > 0 && q.Usage.Downloads >= e.Limits.Downloads {
			return reasonDownloadLimit
		}
		if e.Limits.Bytes > 0 && exceeds(q.Usage.Bytes, q.Artifact.Size, e.Limits.Bytes) {
			return reasonByteLimit
		}
	}
	return reasonOK
}

// exceeds reports whether used+size > limit without overflowing. limit is
// positive; negative usage or size (never valid) count as zero so that
// they cannot buy extra allowance.
func exceeds(used, size, limit int64) bool {
	used = max(used, 0)
	size = max(size, 0)
	// limit > 0 and size >= 0, so limit-size cannot overflow.
	return used > limit-size
}

// inVersionRange reports whether version is inside the range r.
//
// Pre-release versions are judged by semver precedence (semver.org §11),
// as if they were any other version. Masterminds/semver by default never
// matches a pre-release against a range that does not itself name one
// (so 2.1.0-rc.1 would fail ">= 2.0, < 3.0"), which would make every rc,
// beta and alpha release invisible to a customer entitled to those
// channels with a range. Setting Constraints.IncludePrerelease turns that
// filter off, and every comparison then uses precedence:
//
//   - 2.1.0-rc.1 is inside ">= 2.0, < 3.0" (2.0.0 < 2.1.0-rc.1 < 3.0.0);
//   - 2.0.0-rc.1 is NOT inside ">= 2.0" (it precedes 2.0.0);
//   - 3.0.0-rc.1 IS inside "< 3.0" and "< 3.0.0", because it precedes
//     3.0.0. A vendor who wants to keep the pre-releases of 3.0.0 out of a
//     2.x entitlement writes "< 3.0.0-0" (0 is the lowest pre-release).
//
// The library's tilde, caret and wildcard ranges ("~2.4", "^2", "2.x")
// select by the major (and minor) number rather than by an upper bound, so
// they do not contain the pre-releases of the next version: 3.0.0-rc.1 is
// not inside "^2" or "2.x", 2.5.0-rc.1 is not inside "~2.4"; 2.4.0-rc.1 is
// not inside "~2.4" either (it precedes 2.4.0). Build metadata is ignored,
// as precedence says.
//
// A range that does not parse, or a release version that does not parse,
// denies: an entitlement must never grant more than it says.
func inVersionRange(r string, version *semver.Version) bool {
	if version == nil {
		return false
	}
	c, err := ParseVersionRange(r)
	if err != nil {
		return false
	}
	c.IncludePrerelease = true
	return c.Check(version)
}

// LimitWindowStart returns the start of the limit period that contains
// now, in UTC: midnight for day, Monday midnight (ISO week) for week, the
// first of the month for month, and the zero time for LimitTotal.
//
// Periods are fixed in UTC so that every replica, every edge and the
// customer's invoice agree on when an allowance resets, whatever the time
// zone of the server or of now. An unknown period (which Validate
// rejects) also returns the zero time: counting everything ever used is
// the strictest reading, so a bad period can only deny, never grant.
func LimitWindowStart(p LimitPeriod, now time.Time) time.Time {
	now = now.UTC()
	y, m, d := now.Date()
	switch p {
	case LimitDay:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case LimitWeek:
		// time.Weekday counts from Sunday = 0; ISO weeks start on Monday.
		back := (int(now.Weekday()) + 6) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case LimitMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// channelRank orders the nested channels from the most stable. dev is not
// in it: it stands alone.
var channelRank = map[Channel]int{
	ChannelStable: 0,
	ChannelRC:     1,
	ChannelBeta:   2,
	ChannelAlpha:  3,
}

// ChannelVisible reports whether a release on channel c is visible to an
// entitlement for the given channels: each channel includes the more
// stable ones (rc sees stable; beta sees rc and stable; alpha sees beta,
// rc, stable); dev stands alone (it includes nothing and nothing includes
// it).
//
// A customer who tests betas also needs the stable releases they lead to,
// so the channels nest; dev builds are nightly snapshots off the release
// line, granted on purpose and never as a side effect of alpha. Unknown
// channels, on either side, are never visible.
func ChannelVisible(entitled []Channel, c Channel) bool {
	if c == ChannelDev {
		return slices.Contains(entitled, ChannelDev)
	}
	rc, ok := channelRank[c]
	if !ok {
		return false
	}
	for _, e := range entitled {
		if re, ok := channelRank[e]; ok && rc <= re {
			return true
		}
	}
	return false
}
