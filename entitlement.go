package freight

import (
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Entitlement says what one organization may download of one product.
// Optional clauses narrow it; an absent clause does not restrict.
type Entitlement struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	ProductID string    `json:"product_id"`
	Channels  []Channel `json:"channels"` // at least one; a channel includes the more stable ones

	// VersionRange is a semver constraint such as ">= 2.0, < 3.0"; empty
	// allows every version.
	VersionRange string `json:"version_range,omitempty"`

	// MaintenanceUntil: releases published up to this instant stay
	// downloadable forever, newer ones are not covered.
	MaintenanceUntil *time.Time `json:"maintenance_until,omitempty"`

	// NotBefore and NotAfter bound the access window: outside it nothing of
	// the product can be downloaded.
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`

	// Platforms and Arches filter artifacts; empty allows all.
	Platforms []string `json:"platforms,omitempty"`
	Arches    []string `json:"arches,omitempty"`

	Limits    DownloadLimits `json:"limits"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// LimitPeriod is the window over which download limits count.
type LimitPeriod string

// Limit periods. LimitTotal counts over the life of the entitlement.
const (
	LimitTotal LimitPeriod = ""
	LimitDay   LimitPeriod = "day"
	LimitWeek  LimitPeriod = "week"
	LimitMonth LimitPeriod = "month"
)

// DownloadLimits bound how much an organization downloads of a product.
// Zero means unlimited.
type DownloadLimits struct {
	Downloads int64       `json:"downloads,omitempty"` // download grants per period
	Bytes     int64       `json:"bytes,omitempty"`     // bytes per period
	Period    LimitPeriod `json:"period,omitempty"`
}

// Validate checks every clause and normalises the lists (sorted, without
// duplicates) so that equal entitlements compare equal.
func (e *Entitlement) Validate() error {
	if len(e.Channels) == 0 {
		return FieldError("channels", "must name at least one channel")
	}
	for _, c := range e.Channels {
		if !c.Valid() {
			return FieldError("channels", "%q is not one of stable, rc, beta, alpha, dev", c)
		}
	}
	e.Channels = sortedUnique(e.Channels)
	if e.VersionRange != "" {
		if _, err := ParseVersionRange(e.VersionRange); err != nil {
			return err
		}
	}
	if e.NotBefore != nil && e.NotAfter != nil && !e.NotBefore.Before(*e.NotAfter) {
		return FieldError("not_after", "must be after not_before")
	}
	for _, p := range e.Platforms {
		if !tagRE.MatchString(p) {
			return FieldError("platforms", "%q must be 1 to 32 lower-case letters, digits, '_' or '-'", p)
		}
	}
	for _, a := range e.Arches {
		if !tagRE.MatchString(a) {
			return FieldError("arches", "%q must be 1 to 32 lower-case letters, digits, '_' or '-'", a)
		}
	}
	e.Platforms = sortedUnique(e.Platforms)
	e.Arches = sortedUnique(e.Arches)
	if e.Limits.Downloads < 0 {
		return FieldError("limits.downloads", "must not be negative")
	}
	if e.Limits.Bytes < 0 {
		return FieldError("limits.bytes", "must not be negative")
	}
	switch e.Limits.Period {
	case LimitTotal, LimitDay, LimitWeek, LimitMonth:
	default:
		return FieldError("limits.period", "must be day, week, month, or empty for the total")
	}
	return nil
}

// ParseVersionRange parses a semver constraint such as ">= 2.0, < 3.0" or
// "~2.4" or "2.x".
func ParseVersionRange(s string) (*semver.Constraints, error) {
	if len(s) > 256 {
		return nil, FieldError("version_range", "must be at most 256 characters")
	}
	c, err := semver.NewConstraint(s)
	if err != nil {
		return nil, FieldError("version_range", "%q is not a version range like \">= 2.0, < 3.0\"", s)
	}
	return c, nil
}

func sortedUnique[T ~string](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
