package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// A download is fetched into PATH.freight-part, with its progress in
// PATH.freight-state, and renamed to PATH only once its SHA-256 matches:
// nothing but a verified file ever has the final name. The work is split
// into segments fetched in parallel with ranged GETs of at most
// fetchChunk bytes each; every request is checked against the grant's
// rules again, so a new signed URL is asked for whenever one is refused
// (expired, or its byte budget spent) and the segments carry on with it.
const (
	partSuffix  = ".freight-part"
	stateSuffix = ".freight-state"

	// fetchChunk and fetchChunkMax bound what one request asks for: a
	// request that starts in time may run past the URL's expiry, but a
	// long one would keep an expired URL in use, and in the redirect
	// delivery modes a request is charged in full even when it stops
	// early. A segment asks for fetchChunk at first, then for what it
	// received in about fetchChunkTime, within the bounds: every request
	// costs a round trip and the server's checks, which at hundreds of
	// MB/s and 4 MiB add up to a tenth of the time.
	fetchChunk     = 4 << 20
	fetchChunkMax  = 64 << 20
	fetchChunkTime = time.Second
	// fetchMinSegment is the smallest segment worth its own connection.
	fetchMinSegment = 1 << 20
	// fetchSegmentMax and fetchMaxSegments bound the segments a download
	// with several workers is cut into (see planSegments).
	fetchSegmentMax  = 32 << 20
	fetchMaxSegments = 1024
	// fetchBuffer is the size of the buffers that carry bytes from the
	// network to the part file and the hash: reads fill one (fillTime
	// bounds the wait on a slow link), and each is one write, a direct
	// one when it can be (see partFile).
	fetchBuffer = 1 << 20
	// fillTime is the longest a buffer waits to be filled once its first
	// bytes arrived, so that progress shows on a slow link.
	fillTime = 100 * time.Millisecond
	// fetchAttempts bounds the failures in a row of one segment (transport
	// errors, 5xx) before the download gives up; progress resets it.
	fetchAttempts = 10
	// fetchRefused bounds the fresh URLs in a row that the server refuses
	// before they served a byte: refreshing will not help then.
	fetchRefused = 3
	// stateEvery is how often the progress is saved while fetching.
	stateEvery = time.Second
)

// stallTimeout is how long a request may go without receiving a byte
// (waiting for --limit-rate aside) before it is given up and tried again.
var stallTimeout = time.Minute

// fetchOptions are the settings of fetching files, shared by download and
// upgrade --download.
type fetchOptions struct {
	dir        string
	segments   int
	limitRate  byteCount
	quiet      bool
	noDirectIO bool
}

func (o *fetchOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "dir", ".", "directory to save files in, under their names on the portal (created if missing)")
	fs.IntVar(&o.segments, "segments", 8, "parts of a file fetched in parallel (1 to 32)")
	fs.Var(&o.limitRate, "limit-rate", "most `bytes` per second, all segments together, like 500K or 8M (0: no limit)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress, only the result")
	fs.BoolVar(&o.noDirectIO, "no-direct-io", false, "write every byte through the page cache (otherwise, on Linux, bytes hashed from memory are written with O_DIRECT)")
}

func (o *fetchOptions) check(cmd string) error {
	if o.segments < 1 || o.segments > 32 {
		return usageError{fmt.Errorf("%s: --segments must be 1 to 32", cmd)}
	}
	return nil
}

// byteCount is a flag of bytes, with an optional binary suffix: 512K, 8M,
// 1G (also KiB, MiB, GiB).
type byteCount int64

func (b *byteCount) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteCount) Set(s string) error {
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}} {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return errors.New("must be a number of bytes, optionally with K, M or G, like 8M")
	}
	*b = byteCount(n * mult)
	return nil
}

// downloadConfig holds the settings of "freight download".
type downloadConfig struct {
	cc       clientConfig
	fetch    fetchOptions
	output   string
	platform string
	arch     string
}

func downloadFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c downloadConfig
	c.cc.flags(fs)
	c.fetch.flags(fs)
	fs.StringVar(&c.output, "output", "", "file to save to (default: the file's name on the portal, in --dir)")
	fs.StringVar(&c.platform, "platform", "", "with PRODUCT@VERSION or PRODUCT@latest: the platform of the file, like windows, linux or macos")
	fs.StringVar(&c.arch, "arch", "", "with PRODUCT@VERSION or PRODUCT@latest: the architecture of the file, like x86_64 or arm64")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return c.run(ctx, fs.Args(), stdout, stderr)
	}
}

const refHelp = "an artifact id (art_…), PRODUCT@VERSION/FILENAME, or PRODUCT@VERSION or PRODUCT@latest with --platform and --arch"

// fileRef is what a download names.
type fileRef struct {
	artifactID string // art_…, or:
	product    string
	version    string // a version or "latest"
	filename   string // optional
}

func parseFileRef(s string) (fileRef, error) {
	if strings.HasPrefix(s, freight.PrefixArtifact+"_") {
		return fileRef{artifactID: s}, nil
	}
	product, rest, ok := strings.Cut(s, "@")
	if !ok || product == "" || rest == "" {
		return fileRef{}, fmt.Errorf("%q is not %s", s, refHelp)
	}
	version, filename, _ := strings.Cut(rest, "/")
	if version != "latest" {
		if _, err := freight.ParseVersion(version); err != nil {
			return fileRef{}, fmt.Errorf("%q: %s is not a version like 1.4.2 or \"latest\"", s, version)
		}
	}
	if strings.Contains(filename, "/") {
		return fileRef{}, fmt.Errorf("%q is not %s", s, refHelp)
	}
	return fileRef{product: product, version: version, filename: filename}, nil
}

// remoteFile is a file on the portal. SHA256 and Size are empty until a
// grant or the catalogue tells them.
type remoteFile struct {
	ArtifactID string
	Filename   string
	Size       int64
	SHA256     string
}

func (c *downloadConfig) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("download: name one file: %s", refHelp)}
	}
	if err := c.fetch.check("download"); err != nil {
		return err
	}
	ref, err := parseFileRef(args[0])
	if err != nil {
		return usageError{fmt.Errorf("download: %w", err)}
	}
	if c.output != "" {
		if fi, err := os.Stat(c.output); err == nil && fi.IsDir() {
			return usageError{fmt.Errorf("download: --output %s is a directory; use --dir for that", c.output)}
		}
	}
	cl, err := c.cc.client()
	if err != nil {
		return err
	}
	file, g, err := resolveFile(ctx, cl, ref, c.platform, c.arch)
	if err != nil {
		return err
	}
	path := c.output
	if path == "" {
		path = filepath.Join(c.fetch.dir, file.Filename)
	}
	prog := newProgress(stderr, c.fetch.quiet)
	res, err := c.fetch.fetch(ctx, cl, file, g, path, prog)
	prog.Close()
	if err != nil {
		return err
	}
	return printFetched(stdout, c.cc.json, res)
}

// resolveFile finds the file a reference names in the caller's catalogue.
// An artifact id the catalogue does not list is asked for directly: the
// grant then describes it, or the server says why not.
func resolveFile(ctx context.Context, cl *client.Client, ref fileRef, platform, arch string) (remoteFile, *client.Grant, error) {
	f := client.CatalogFilter{Product: ref.product}
	if ref.artifactID == "" {
		f.Platform, f.Arch = platform, arch
	}
	entries, err := catalog(ctx, cl, f)
	if err != nil {
		return remoteFile{}, nil, fmt.Errorf("reading the catalogue: %w", err)
	}
	if ref.artifactID != "" {
		for _, e := range entries {
			for _, a := range e.Artifacts {
				if a.ID == ref.artifactID {
					return remoteFileOf(a), nil, nil
				}
			}
		}
		g, err := cl.Download(ctx, ref.artifactID)
		if err != nil {
			return remoteFile{}, nil, fmt.Errorf("%s: %w", ref.artifactID, err)
		}
		return remoteFile{ArtifactID: ref.artifactID, Filename: g.Filename, Size: g.Size, SHA256: g.SHA256}, g, nil
	}

	matches := func(a *freight.Artifact) bool {
		return (ref.filename == "" || a.Filename == ref.filename) &&
			(platform == "" || a.Platform == platform || a.Platform == "any") &&
			(arch == "" || a.Arch == arch || a.Arch == "any")
	}
	var entry *client.CatalogEntry
	if ref.version == "latest" {
		// The highest version that has a matching file, as upgrade picks.
		var best *semver.Version
		for i, e := range entries {
			v, err := semver.StrictNewVersion(e.Release.Version)
			if err != nil || e.Release.State != freight.ReleasePublished || !slices.ContainsFunc(e.Artifacts, matches) {
				continue
			}
			if best == nil || v.GreaterThan(best) {
				entry, best = &entries[i], v
			}
		}
	} else {
		for i, e := range entries {
			if e.Release.Version == ref.version {
				entry = &entries[i]
			}
		}
	}
	what := ref.product + "@" + ref.version
	if entry == nil {
		return remoteFile{}, nil, fmt.Errorf("%s: no such release among those you may download%s (see freight releases %s)", what, forPlatform(platform, arch), ref.product)
	}
	var found []*freight.Artifact
	for _, a := range entry.Artifacts {
		if matches(a) {
			found = append(found, a)
		}
	}
	label := ref.product + " " + entry.Release.Version
	switch {
	case len(found) == 1:
		return remoteFileOf(found[0]), nil, nil
	case len(found) == 0 && ref.filename != "":
		return remoteFile{}, nil, fmt.Errorf("%s has no file %s%s; its files:\n%s", label, ref.filename, forPlatform(platform, arch), fileList(entry.Artifacts))
	case len(found) == 0:
		return remoteFile{}, nil, fmt.Errorf("%s has no file%s; its files:\n%s", label, forPlatform(platform, arch), fileList(entry.Artifacts))
	}
	return remoteFile{}, nil, usageError{fmt.Errorf("%s has %d files%s; pick one with --platform and --arch or name it as %s@%s/FILENAME:\n%s",
		label, len(found), forPlatform(platform, arch), ref.product, entry.Release.Version, fileList(found))}
}

func remoteFileOf(a *freight.Artifact) remoteFile {
	return remoteFile{ArtifactID: a.ID, Filename: a.Filename, Size: a.Size, SHA256: a.SHA256}
}

func forPlatform(platform, arch string) string {
	switch {
	case platform != "" && arch != "":
		return " for " + platform + "/" + arch
	case platform != "":
		return " for " + platform
	case arch != "":
		return " for " + arch
	}
	return ""
}

func fileList(arts []*freight.Artifact) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range arts {
		fmt.Fprintf(tw, "  %s\t%s/%s\t%s\t%s\n", a.Filename, a.Platform, a.Arch, size(a.Size), a.ID)
	}
	tw.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// catalog reads every page of the caller's catalogue.
func catalog(ctx context.Context, cl *client.Client, f client.CatalogFilter) ([]client.CatalogEntry, error) {
	return client.All(ctx, func(ctx context.Context, p freight.Page) (client.List[client.CatalogEntry], error) {
		return cl.Catalog(ctx, f, p)
	})
}

// fetchResult is what a download reports.
type fetchResult struct {
	Path         string `json:"path"`
	ArtifactID   string `json:"artifact_id"`
	SHA256       string `json:"sha256"`
	Size         int64  `json:"size"`
	Outcome      string `json:"outcome"`       // downloaded, resumed, already-there
	BytesResumed int64  `json:"bytes_resumed"` // kept from an interrupted run
	BytesFetched int64  `json:"bytes_fetched"` // received in this run
	Grants       int    `json:"grants"`        // signed URLs used

	bytesDirect int64 // of BytesFetched, written with direct I/O (see partFile)
}

func printFetched(w io.Writer, asJSON bool, res fetchResult) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	printFetchedLine(w, res)
	return nil
}

func printFetchedLine(w io.Writer, res fetchResult) {
	if res.Outcome == "already-there" {
		fmt.Fprintf(w, "%s is already there (%s, SHA-256 verified); fetched 0 bytes\n", res.Path, size(res.Size))
		return
	}
	resumed := ""
	if res.Outcome == "resumed" {
		resumed = fmt.Sprintf(", resumed after %d bytes", res.BytesResumed)
	}
	urls := "URL"
	if res.Grants != 1 {
		urls = "URLs"
	}
	fmt.Fprintf(w, "Saved %s (%s, SHA-256 verified); fetched %d bytes with %d download %s%s\n",
		res.Path, size(res.Size), res.BytesFetched, res.Grants, urls, resumed)
}

// fetchState is the content of PATH.freight-state.
type fetchState struct {
	Version    int            `json:"version"`
	ArtifactID string         `json:"artifact_id"`
	SHA256     string         `json:"sha256"`
	Size       int64          `json:"size"`
	Segments   []stateSegment `json:"segments"`
}

// stateSegment is a range [Start, End) of the file whose bytes [Start,
// Next) are in the part file.
type stateSegment struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Next  int64 `json:"next"`
}

// valid reports whether the segments cover [0, Size) in order.
func (s *fetchState) valid() bool {
	if s.Version != 1 || s.Size < 0 || len(s.Segments) == 0 && s.Size != 0 {
		return false
	}
	at := int64(0)
	for _, seg := range s.Segments {
		if seg.Start != at || seg.End <= seg.Start || seg.Next < seg.Start || seg.Next > seg.End {
			return false
		}
		at = seg.End
	}
	return at == s.Size
}

// planSegments lays the work out for n workers: what is done stays as it
// is, what is left is cut into up to n pieces (more when more are left
// already), each at least fetchMinSegment unless it was smaller already,
// shared out by length.
func planSegments(segs []stateSegment, n int) []stateSegment {
	var out, todo []stateSegment
	for _, s := range segs {
		if s.Next > s.Start {
			out = append(out, stateSegment{s.Start, s.Next, s.Next})
		}
		if s.Next < s.End {
			todo = append(todo, stateSegment{s.Next, s.End, s.Next})
		}
	}
	pieces := make([]int64, len(todo))
	for i := range pieces {
		pieces[i] = 1
	}
	// With several workers, what is left is also cut into pieces of at
	// most fetchSegmentMax (more for huge files, to keep the state small),
	// which the workers take in file order: the bytes from the start of the
	// file then arrive about as fast as all bytes do, and the SHA-256,
	// which can only go from the start, keeps up instead of being left
	// with most of the file at the end.
	if n > 1 {
		var left int64
		for _, t := range todo {
			left += t.End - t.Start
		}
		most := max(fetchSegmentMax, left/fetchMaxSegments)
		for i, t := range todo {
			pieces[i] = max(pieces[i], (t.End-t.Start+most-1)/most)
		}
	}
	count := 0
	for _, k := range pieces {
		count += int(k)
	}
	for ; count < n; count++ {
		best, bestLen := -1, int64(0)
		for i, t := range todo {
			l := t.End - t.Start
			if l/(pieces[i]+1) < fetchMinSegment {
				continue
			}
			if per := l / pieces[i]; per > bestLen {
				best, bestLen = i, per
			}
		}
		if best < 0 {
			break
		}
		pieces[best]++
	}
	// Cuts fall on multiples of directAlign, so that each piece's writes
	// can be aligned (see partFile); pieces are far longer than that.
	cut := func(t stateSegment, j, k int64) int64 {
		if j == 0 || j == k {
			return t.Start + (t.End-t.Start)*j/k
		}
		return max(t.Start, (t.Start+(t.End-t.Start)*j/k)/directAlign*directAlign)
	}
	for i, t := range todo {
		k := pieces[i]
		for j := range k {
			a, b := cut(t, j, k), cut(t, j+1, k)
			out = append(out, stateSegment{a, b, a})
		}
	}
	slices.SortFunc(out, func(a, b stateSegment) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	// Done neighbours merge, so that the state stays small over resumes.
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && merged[n-1].Next == merged[n-1].End && s.Next == s.End && merged[n-1].End == s.Start {
			merged[n-1].End, merged[n-1].Next = s.End, s.End
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// segment is a stateSegment being fetched.
type segment struct {
	start, end int64
	next       atomic.Int64
	chunk      int64 // what the next request asks for; only its worker uses it
}

// nextChunk adjusts what the segment's requests ask for to the rate that a
// whole request of n bytes in d achieved.
func (s *segment) nextChunk(n int64, d time.Duration) {
	c := int64(float64(n) * fetchChunkTime.Seconds() / max(d.Seconds(), 1e-3))
	s.chunk = max(fetchChunk, min(fetchChunkMax, c))
}

// fetcher downloads one file.
type fetcher struct {
	cl      *client.Client
	hc      *http.Client
	file    remoteFile
	part    *partFile
	segs    []*segment
	limit   *rateLimiter
	bar     *bar
	fetched atomic.Int64
	hash    *hashFollower

	mu        sync.Mutex
	grant     *client.Grant
	gen       int    // grants obtained so far; the current one's number
	refused   bool   // the server refused the current grant
	served    bool   // the current grant served a request
	fruitless int    // grants in a row refused before serving anything
	reason    string // why the last grant was refused
}

// fetch downloads file to path, resuming from what an earlier run left.
// g, if not nil, is a grant obtained already.
func (o *fetchOptions) fetch(ctx context.Context, cl *client.Client, file remoteFile, g *client.Grant, path string, prog *progress) (fetchResult, error) {
	res := fetchResult{Path: path, ArtifactID: file.ArtifactID, SHA256: file.SHA256, Size: file.Size}
	if file.Filename == "" || filepath.Base(file.Filename) != file.Filename || file.Filename == "." || file.Filename == ".." {
		return res, fmt.Errorf("the portal names the file %q, which is not a plain file name", file.Filename)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return res, err
	}
	// From here on this run is the only one to touch the part and state
	// files (or to remove them when the file is in place already).
	lock, err := lockDownload(path)
	if err != nil {
		return res, err
	}
	defer lock.Unlock()
	// A file already in place with the right content is not fetched again.
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == file.Size && file.SHA256 != "" {
		if sum, err := fileSHA256(path); err == nil && sum == file.SHA256 {
			os.Remove(path + partSuffix)
			os.Remove(path + stateSuffix)
			res.Outcome = "already-there"
			if g != nil {
				res.Grants = 1
			}
			return res, nil
		}
	}
	if g == nil {
		if g, err = cl.Download(ctx, file.ArtifactID); err != nil {
			return res, fmt.Errorf("%s: %w", file.Filename, err)
		}
	}
	if file.SHA256 != "" && (g.SHA256 != file.SHA256 || g.Size != file.Size) {
		return res, fmt.Errorf("%s: the download URL describes another file (%d bytes, SHA-256 %s) than the catalogue (%d bytes, SHA-256 %s)",
			file.Filename, g.Size, g.SHA256, file.Size, file.SHA256)
	}
	file.SHA256, file.Size = g.SHA256, g.Size
	res.SHA256, res.Size = g.SHA256, g.Size

	partPath, statePath := path+partSuffix, path+stateSuffix
	st, resumed := loadFetchState(statePath, partPath, file)
	part, err := openPartFile(partPath)
	if err != nil {
		return res, err
	}
	defer part.Close()
	if !resumed {
		// Start over: nothing of an old part file may survive.
		if err := part.Truncate(0); err != nil {
			return res, err
		}
		if err := part.Truncate(file.Size); err != nil {
			return res, err
		}
		st = fetchState{Version: 1, ArtifactID: file.ArtifactID, SHA256: file.SHA256, Size: file.Size}
		if file.Size > 0 {
			st.Segments = []stateSegment{{0, file.Size, 0}}
		}
	}
	st.Segments = planSegments(st.Segments, o.segments)
	if o.noDirectIO {
		part.noDirect.Store(true)
	}
	f := &fetcher{cl: cl, hc: downloadHTTPClient(cl.HTTPClient()), file: file, part: part, grant: g, gen: 1}
	if o.limitRate > 0 {
		f.limit = &rateLimiter{rate: float64(o.limitRate)}
	}
	for _, s := range st.Segments {
		seg := &segment{start: s.Start, end: s.End}
		seg.next.Store(s.Next)
		f.segs = append(f.segs, seg)
		res.BytesResumed += s.Next - s.Start
	}
	if res.BytesResumed > 0 {
		res.Outcome = "resumed"
	} else {
		res.Outcome = "downloaded"
	}
	// The state exists before the first byte arrives: a part file without
	// one is never trusted.
	if err := f.saveState(statePath); err != nil {
		return res, err
	}
	f.bar = prog.Bar(file.Filename, file.Size)
	f.bar.Set(res.BytesResumed)

	hf := f.followHash()
	f.hash = hf
	err = f.run(ctx, o.segments, statePath)
	res.BytesFetched, res.Grants, res.bytesDirect = f.fetched.Load(), f.gen, part.directN.Load()
	if err != nil {
		hf.abort()
		if ctx.Err() != nil {
			f.bar.Finish(errors.New("interrupted"))
		} else {
			f.bar.Finish(err)
		}
		if serr := f.saveState(statePath); serr != nil {
			return res, fmt.Errorf("%s: %w (and saving the progress failed: %v)", file.Filename, err, serr)
		}
		done := f.done()
		if ctx.Err() != nil {
			return res, fmt.Errorf("%s: interrupted after fetching %d bytes (%d of %d are saved in %s); run the same command again to resume",
				file.Filename, res.BytesFetched, done, file.Size, partPath)
		}
		return res, fmt.Errorf("%s: %w\n%d of %d bytes are saved in %s; run the same command again to resume", file.Filename, err, done, file.Size, partPath)
	}
	if err := part.Sync(); err != nil {
		hf.abort()
		return res, err
	}
	sum, err := hf.sum()
	if err != nil {
		return res, fmt.Errorf("reading %s back: %w", partPath, err)
	}
	if err := part.Close(); err != nil {
		return res, err
	}
	if sum != file.SHA256 {
		os.Remove(partPath)
		os.Remove(statePath)
		f.bar.Finish(errors.New("SHA-256 mismatch"))
		return res, fmt.Errorf("%s: the downloaded bytes do not match the file's SHA-256 (got %s, want %s); they were deleted and nothing was saved as %s: run the same command again to download the file afresh",
			file.Filename, sum, file.SHA256, path)
	}
	if err := os.Rename(partPath, path); err != nil {
		return res, err
	}
	os.Remove(statePath)
	syncDir(filepath.Dir(path))
	f.bar.Finish(nil)
	return res, nil
}

// loadFetchState reads the state an earlier run left, if it is about the
// same file and its part file is whole; otherwise it removes both.
func loadFetchState(statePath, partPath string, file remoteFile) (fetchState, bool) {
	var st fetchState
	b, err := os.ReadFile(statePath)
	if err == nil && json.Unmarshal(b, &st) == nil && st.valid() && st.SHA256 == file.SHA256 && st.Size == file.Size {
		if fi, err := os.Stat(partPath); err == nil && fi.Mode().IsRegular() && fi.Size() == file.Size {
			return st, true
		}
	}
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		os.Remove(statePath)
	}
	return fetchState{}, false
}

// arrived returns how many bytes from the start of the file are in the
// part file: the segments are in order, and each one's bytes before its
// next are written.
func (f *fetcher) arrived() int64 {
	for _, s := range f.segs {
		if next := s.next.Load(); next < s.end {
			return next
		}
	}
	return f.file.Size
}

func (f *fetcher) done() int64 {
	var n int64
	for _, s := range f.segs {
		n += s.next.Load() - s.start
	}
	return n
}

// saveState writes the progress: the part file is synced first, so that
// the state never claims bytes the disk may not have.
func (f *fetcher) saveState(path string) error {
	st := fetchState{Version: 1, ArtifactID: f.file.ArtifactID, SHA256: f.file.SHA256, Size: f.file.Size, Segments: []stateSegment{}}
	for _, s := range f.segs {
		st.Segments = append(st.Segments, stateSegment{s.start, s.end, s.next.Load()})
	}
	if err := f.part.Sync(); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o644)
}

// run fetches every unfinished segment with up to n workers. The first
// request goes alone, so that a download begins with one request (from
// byte 0 when it is new) and a refusal is met once, not n times.
func (f *fetcher) run(ctx context.Context, n int, statePath string) error {
	var todo []*segment
	for _, s := range f.segs {
		if s.next.Load() < s.end {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	stopSaving := make(chan struct{})
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		t := time.NewTicker(stateEvery)
		defer t.Stop()
		for {
			select {
			case <-stopSaving:
				return
			case <-t.C:
				f.saveState(statePath) // the final save reports errors
			}
		}
	}()
	defer func() { close(stopSaving); <-saved }()

	var taken atomic.Int64
	taken.Store(1)
	work := func(s *segment, started func()) {
		for s != nil {
			if err := f.segment(wctx, s, started); err != nil {
				cancel(err)
				return
			}
			i := taken.Add(1) - 1
			if i >= int64(len(todo)) {
				return
			}
			// The request size learnt on one segment holds for the next.
			todo[i].chunk = s.chunk
			s = todo[i]
		}
	}
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	var wg sync.WaitGroup
	wg.Go(func() { defer open(); work(todo[0], open) })
	select {
	case <-gate:
	case <-wctx.Done():
	}
	for range min(n, len(todo)) - 1 {
		i := taken.Add(1) - 1
		if i >= int64(len(todo)) || wctx.Err() != nil {
			break
		}
		wg.Go(func() { work(todo[i], nil) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := context.Cause(wctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// refusedError is a 403 from the download URL: expired, or its byte
// budget spent.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "the download URL was refused: " + e.reason }

// permanentError is a failure that trying again will not mend.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// segment fetches s to its end. started, if not nil, is called once the
// first request is answered with data.
func (f *fetcher) segment(ctx context.Context, s *segment, started func()) (err error) {
	size := fetchBuffer
	if f.limit != nil {
		size = min(fetchBuffer, max(1<<10, int(f.limit.rate/16)))
	}
	// The requests read; a writer puts the bytes into the part file
	// behind them, for the whole segment, so that one request follows
	// the next without waiting for the disk. A write that fails stops
	// the segment.
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	pos := s.next.Load() // what was read, ahead of what was written
	w := f.startWriter(s, pos, stop)
	defer func() {
		if _, werr := w.finish(); werr != nil {
			err = permanentError{fmt.Errorf("writing the part file: %w", werr)}
		}
	}()
	failures := 0
	for pos < s.end {
		g, gen, err := f.currentGrant(sctx)
		if err == nil {
			var n int64
			n, err = f.request(sctx, g, gen, s, pos, w, size, started)
			pos += n
			if n > 0 {
				failures = 0
			}
		}
		if err == nil {
			continue
		}
		if sctx.Err() != nil {
			return context.Cause(sctx)
		}
		if r, ok := errors.AsType[*refusedError](err); ok {
			f.refuse(gen, r.reason)
			continue
		}
		if _, ok := errors.AsType[permanentError](err); ok {
			return err
		}
		failures++
		if failures >= fetchAttempts {
			return fmt.Errorf("bytes %d-%d: giving up after %d failures in a row: %w", pos, s.end-1, failures, err)
		}
		if err := sleepCtx(sctx, client.Backoff(failures-1, func(d time.Duration) time.Duration { return rand.N(d) })); err != nil {
			return context.Cause(sctx)
		}
	}
	return nil
}

// currentGrant returns the grant to use, asking for a fresh one when the
// server refused the current one.
func (f *fetcher) currentGrant(ctx context.Context) (*client.Grant, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.refused {
		return f.grant, f.gen, nil
	}
	if f.fruitless >= fetchRefused {
		return nil, 0, permanentError{fmt.Errorf("the portal refused %d download URLs in a row before they served a byte; the last refusal: %s", f.fruitless, f.reason)}
	}
	g, err := f.cl.Download(ctx, f.file.ArtifactID)
	if err != nil {
		if client.Retryable(err) {
			return nil, 0, fmt.Errorf("asking for a new download URL: %w", err)
		}
		return nil, 0, permanentError{fmt.Errorf("asking for a new download URL: %w", err)}
	}
	if g.SHA256 != f.file.SHA256 || g.Size != f.file.Size {
		return nil, 0, permanentError{fmt.Errorf("the new download URL describes another file (%d bytes, SHA-256 %s); the file changed on the portal", g.Size, g.SHA256)}
	}
	f.grant, f.gen, f.refused, f.served = g, f.gen+1, false, false
	return f.grant, f.gen, nil
}

// refuse records that the server refused grant number gen. Workers that
// meet the same refusal record it once.
func (f *fetcher) refuse(gen int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen != f.gen || f.refused {
		return
	}
	f.refused, f.reason = true, reason
	if f.served {
		f.fruitless = 0
	} else {
		f.fruitless++
	}
}

func (f *fetcher) serve(gen int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen == f.gen {
		f.served, f.fruitless = true, 0
	}
}

// request asks for the next chunk of s and writes what arrives, returning
// the bytes written. Bytes at the front of what is hashed go to the
// hasher in their buffer, and *buf is replaced by a fresh one.
func (f *fetcher) request(ctx context.Context, g *client.Grant, gen int, s *segment, from int64, w *partWriter, size int, started func()) (int64, error) {
	if s.chunk == 0 {
		s.chunk = fetchChunk
	}
	// Requests end where writes can be aligned (see partFile).
	end := from + s.chunk
	if a := end / directAlign * directAlign; a > from {
		end = a
	}
	to := min(end, s.end) - 1
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("bytes %d-%d: no data for %v", from, to, stallTimeout)
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(stalled) })
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, g.URL, nil)
	if err != nil {
		return 0, permanentError{fmt.Errorf("the portal handed out a bad download URL: %w", err)}
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	// Should the file not be the one named, the server answers 200 with
	// all of it rather than the range, and nothing is written.
	req.Header.Set("If-Range", `"`+f.file.SHA256+`"`)
	req.Header.Set("User-Agent", "freight/"+version)
	resp, err := f.hc.Do(req)
	if err != nil {
		return 0, causeOr(context.Cause(rctx), err)
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
	case code == http.StatusForbidden:
		return 0, &refusedError{reason: refusalReason(resp)}
	case code == http.StatusOK:
		return 0, permanentError{fmt.Errorf("asked for bytes %d-%d, the server answered with the whole file (200): it ignored the range or holds another file; nothing of it was written", from, to)}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return 0, fmt.Errorf("the server answered %s", resp.Status)
	case code == http.StatusRequestedRangeNotSatisfiable:
		return 0, permanentError{fmt.Errorf("the server cannot send bytes %d-%d of a %d-byte file (416): it holds another file", from, to, f.file.Size)}
	default:
		return 0, permanentError{fmt.Errorf("the download URL answered %s: %s", resp.Status, refusalReason(resp))}
	}
	first, last, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if !ok || first != from || last < first || last > to || total != f.file.Size {
		return 0, permanentError{fmt.Errorf("asked for bytes %d-%d of %d, the server sent Content-Range %q", from, to, f.file.Size, resp.Header.Get("Content-Range"))}
	}
	f.serve(gen)
	if started != nil {
		started()
	}
	want := last - first + 1
	began := time.Now()
	var read int64
	for read < want {
		// A buffer is filled before it goes to the writer, so that writes
		// are large and aligned (see partFile), unless the link is slow:
		// then what arrived in fillTime goes, so that progress shows.
		buf := getBuffer(size)
		fill := fillSize(from+read, len(buf), want-read)
		n, err := 0, error(nil)
		var filling time.Time
		for n < fill && err == nil {
			if n > 0 && filling.IsZero() {
				filling = time.Now()
			} else if n > 0 && time.Since(filling) > fillTime {
				break
			}
			watchdog.Reset(stallTimeout)
			var m int
			m, err = resp.Body.Read(buf[n:fill])
			watchdog.Stop()
			if m > 0 {
				n += m
				f.limit.wait(ctx, m)
			}
		}
		if n > 0 {
			// Bytes that arrived are kept, even when interrupted meanwhile.
			w.put(buf[:n])
			read += int64(n)
		} else {
			putBuffer(buf)
		}
		if err == io.EOF && read < want {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && read < want {
			s.chunk = fetchChunk // start small again after a failure
			return read, causeOr(context.Cause(rctx), err)
		}
		if cerr := ctx.Err(); cerr != nil && read < want {
			s.chunk = fetchChunk
			return read, cerr
		}
	}
	s.nextChunk(read, time.Since(began))
	io.CopyN(io.Discard, resp.Body, 1) // see EOF, so the connection is reused
	return read, nil
}

// partWriter writes a segment's bytes into the part file, in order,
// behind the requests that read them: it advances the segment, the
// counters and the bar as each buffer is written, and offers the buffer
// to the hash.
type partWriter struct {
	f    *fetcher
	s    *segment
	at   int64
	bufs chan []byte
	done chan struct{}
	got  int64 // bytes written; read after done
	err  error // the write that failed; read after done
}

// writeQueue bounds the buffers read and not yet written, per segment.
// Writing to the page cache costs the CPU about as much as the hash, so on
// a fast link the reads, the writes and the hash each keep a CPU busy.
const writeQueue = 8

// startWriter starts writing at offset at of segment s; failed is called
// once if a write fails, to stop the reading.
func (f *fetcher) startWriter(s *segment, at int64, failed func(error)) *partWriter {
	w := &partWriter{f: f, s: s, at: at, bufs: make(chan []byte, writeQueue), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for b := range w.bufs {
			if w.err != nil {
				putBuffer(b)
				continue
			}
			// Bytes the hash takes from this buffer are not read back.
			direct := f.hash != nil && f.hash.wants(w.at, len(b))
			if _, err := f.part.writeAt(b, w.at, direct); err != nil {
				w.err = err
				failed(err)
				putBuffer(b)
				continue
			}
			at := w.at
			w.at += int64(len(b))
			w.got += int64(len(b))
			s.next.Store(w.at)
			f.fetched.Add(int64(len(b)))
			f.bar.Add(int64(len(b)))
			if f.hash == nil || !f.hash.offer(at, b) {
				putBuffer(b)
			}
		}
	}()
	return w
}

// put queues b, a buffer from getBuffer, which then belongs to the writer.
func (w *partWriter) put(b []byte) { w.bufs <- b }

// finish waits for every queued buffer and returns the bytes written and
// the write error, if any.
func (w *partWriter) finish() (int64, error) {
	close(w.bufs)
	<-w.done
	return w.got, w.err
}

// causeOr returns cause when it explains err (a request cancelled because
// it stalled), and err otherwise.
func causeOr(cause, err error) error {
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// refusalReason is the message of an error answer, or its status.
func refusalReason(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		return body.Error.Message
	}
	return resp.Status
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	spec, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(tot, 10, 64)
	return first, last, total, err1 == nil && err2 == nil && err3 == nil
}

// downloadHTTPClient is hc for download URLs: with connections kept for
// every segment, and without If-Range on redirects, since S3 and
// CloudFront have validators of their own (and the blob a redirect names
// is the grant's by its digest).
func downloadHTTPClient(hc *http.Client) *http.Client {
	d := *hc
	if d.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		d.Transport = tr
	}
	d.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		req.Header.Del("If-Range")
		return nil
	}
	return &d
}

// rateLimiter spaces out bytes shared by many goroutines: each wait moves
// a virtual clock on by n/rate and sleeps until it.
type rateLimiter struct {
	rate float64 // bytes per second
	mu   sync.Mutex
	at   time.Time
}

func (l *rateLimiter) wait(ctx context.Context, n int) {
	if l == nil {
		return
	}
	now := time.Now()
	l.mu.Lock()
	// Idle time builds up no more than a short burst.
	if burst := now.Add(-50 * time.Millisecond); l.at.Before(burst) {
		l.at = burst
	}
	l.at = l.at.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	d := l.at.Sub(now)
	l.mu.Unlock()
	sleepCtx(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir makes a rename in dir durable, where the system allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
