package freight

import "time"

// DownloadGroup says how DownloadStats groups the downloads it counts.
type DownloadGroup string

// Groups of DownloadStats.
const (
	GroupDay          DownloadGroup = "day"          // by UTC day of the first request
	GroupRelease      DownloadGroup = "release"      // by the release of the artifact
	GroupOrganization DownloadGroup = "organization" // by organization; "" for vendor staff
	GroupArtifact     DownloadGroup = "artifact"     // by artifact (file)
)

// Valid reports whether g is one of the known groups.
func (g DownloadGroup) Valid() bool {
	switch g {
	case GroupDay, GroupRelease, GroupOrganization, GroupArtifact:
		return true
	}
	return false
}

// MaxStatsDays bounds the days of a GroupDay answer, which has a row for
// every day of the range: ten years.
const MaxStatsDays = 3660

// DownloadStatsFilter selects and groups downloads for DownloadStats.
// Zero ids do not filter. Since is inclusive and Until exclusive, as in
// DownloadFilter; both are required for GroupDay, whose answer has a row
// for every UTC day they touch. Limit bounds the rows of the other groups
// (the largest first), clamped like a Page's.
type DownloadStatsFilter struct {
	Group     DownloadGroup
	OrgID     string
	ProductID string
	Since     time.Time
	Until     time.Time
	Limit     int
}

// DownloadCounts are the figures of a set of downloads.
//
// A download is one grant, however many requests it took (a browser that
// resumes, a downloader that opens 16 ranges): the requests of a grant
// that started in the range count together, on the day of the first of
// them. It is completed when those requests served at least the file's
// size, or one of them sent the whole file. Requests counts the requests
// and Bytes the bytes they sent.
type DownloadCounts struct {
	Downloads int64 `json:"downloads"`
	Completed int64 `json:"completed"`
	Requests  int64 `json:"requests"`
	Bytes     int64 `json:"bytes"`
}

// CompletionRate is Completed ÷ Downloads, 0 when there are none.
func (c DownloadCounts) CompletionRate() float64 {
	if c.Downloads == 0 {
		return 0
	}
	return float64(c.Completed) / float64(c.Downloads)
}

// DownloadStat is one row of DownloadStats: the figures of one day,
// release, organization or artifact.
type DownloadStat struct {
	// Key is the day (2006-01-02, UTC), or the id of the release,
	// organization or artifact; "" for the downloads of vendor staff when
	// grouped by organization.
	Key string `json:"key"`
	// Name is the organization's name, or the artifact's file name; ""
	// for days, releases and organizations that no longer exist.
	Name string `json:"name,omitempty"`
	// Version and ProductID are the release's, for releases and
	// artifacts.
	Version   string `json:"version,omitempty"`
	ProductID string `json:"product_id,omitempty"`
	DownloadCounts
}

// DownloadStats is the answer of Store.DownloadStats: the figures of every
// selected download, and its rows by group.
type DownloadStats struct {
	Total DownloadCounts
	Rows  []DownloadStat
}
