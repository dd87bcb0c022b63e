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
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// publishConfig holds the settings of "freight publish".
type publishConfig struct {
	cc          clientConfig
	product     string
	version     string
	channel     string
	notes       string
	platform    string
	arch        string
	draft       bool
	quiet       bool
	concurrency int
	retries     int
}

func publishFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c publishConfig
	c.cc.flags(fs)
	fs.StringVar(&c.product, "product", "", "product slug or id (required)")
	fs.StringVar(&c.version, "version", "", "release version, semantic, like 2.4.0 (required)")
	fs.StringVar(&c.channel, "channel", "stable", "release channel when the release is created: stable, rc, beta, alpha or dev")
	fs.StringVar(&c.notes, "notes", "", "file with the release notes (Markdown), used when the release is created")
	fs.StringVar(&c.platform, "platform", "any", "platform of the files: windows, linux, macos, any…")
	fs.StringVar(&c.arch, "arch", "any", "architecture of the files: x86_64, arm64, any…")
	fs.BoolVar(&c.draft, "draft", false, "upload but leave the release a draft")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress, only the result")
	fs.IntVar(&c.concurrency, "concurrency", 4, "parts sent at once, per file")
	fs.IntVar(&c.retries, "retries", 8, "attempts per part before giving up")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return c.run(ctx, fs.Args(), stdout, stderr)
	}
}

// fileResult is what publish reports per file.
type fileResult struct {
	File       string `json:"file"`
	ArtifactID string `json:"artifact_id"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	Outcome    string `json:"outcome"` // uploaded, resumed, already-there
	PartsSent  int    `json:"parts_sent"`
}

func (c *publishConfig) run(ctx context.Context, files []string, stdout, stderr io.Writer) error {
	if len(files) == 0 {
		return usageError{errors.New("publish: name at least one file")}
	}
	if c.product == "" || c.version == "" {
		return usageError{errors.New("publish: --product and --version are required")}
	}
	if _, err := freight.ParseVersion(c.version); err != nil {
		return usageError{fmt.Errorf("publish: --version: %s", freight.ErrorMessage(err))}
	}
	if ch := freight.Channel(c.channel); !ch.Valid() {
		return usageError{fmt.Errorf("publish: --channel must be stable, rc, beta, alpha or dev")}
	}
	if c.concurrency < 1 || c.concurrency > 64 {
		return usageError{fmt.Errorf("publish: --concurrency must be 1 to 64")}
	}
	cl, err := c.cc.client()
	if err != nil {
		return err
	}
	notes := ""
	if c.notes != "" {
		b, err := os.ReadFile(c.notes)
		if err != nil {
			return err
		}
		notes = string(b)
	}
	rel, err := c.release(ctx, cl, notes)
	if err != nil {
		return err
	}
	prog := newProgress(stderr, c.quiet)
	var results []fileResult
	var failed error
	for _, f := range files {
		res, err := c.uploadFile(ctx, cl, rel, f, prog)
		if err != nil {
			failed = fmt.Errorf("%s: %w", f, err)
			break
		}
		results = append(results, res)
	}
	prog.Close()
	if failed != nil {
		return fmt.Errorf("%w\nrun the same command again to resume", failed)
	}
	if rel.State == freight.ReleaseDraft && !c.draft {
		if rel, err = cl.PublishRelease(ctx, rel.ID); err != nil {
			return fmt.Errorf("publishing %s %s: %w", c.product, c.version, err)
		}
	}
	if c.cc.json {
		return json.NewEncoder(stdout).Encode(map[string]any{"release": rel, "files": results})
	}
	for _, r := range results {
		fmt.Fprintf(stdout, "%-12s %s  %s  sha256:%s\n", r.Outcome, r.File, size(r.Size), r.SHA256)
	}
	fmt.Fprintf(stdout, "%s %s is %s.\n", c.product, rel.Version, rel.State)
	return nil
}

// release finds the release, or creates it as a draft.
func (c *publishConfig) release(ctx context.Context, cl *client.Client, notes string) (*freight.Release, error) {
	rels, err := client.All(ctx, func(ctx context.Context, p freight.Page) (client.List[*freight.Release], error) {
		return cl.Releases(ctx, c.product, client.ReleaseFilter{}, p)
	})
	if err != nil {
		return nil, err
	}
	for _, r := range rels {
		if r.Version == c.version {
			if r.State == freight.ReleaseYanked {
				return nil, fmt.Errorf("%s %s was yanked; publish a new version", c.product, c.version)
			}
			return r, nil
		}
	}
	return cl.CreateRelease(ctx, c.product, c.version, freight.Channel(c.channel), notes)
}

// uploadFile brings one file into the release: skipped when the release
// has it already, resumed when an upload of it is open, uploaded
// otherwise.
func (c *publishConfig) uploadFile(ctx context.Context, cl *client.Client, rel *freight.Release, path string, prog *progress) (fileResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileResult{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileResult{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileResult{}, errors.New("not a regular file")
	}
	name := filepath.Base(path)
	a := freight.Artifact{Filename: name, Platform: c.platform, Arch: c.arch, Size: fi.Size(), State: freight.ArtifactUploading}
	if err := a.Validate(); err != nil {
		return fileResult{}, errors.New(freight.ErrorMessage(err) + " (" + freight.ErrorField(err) + ")")
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fileResult{}, err
	}
	digest := hex.EncodeToString(h.Sum(nil))
	res := fileResult{File: path, SHA256: digest, Size: fi.Size()}

	existing, err := client.All(ctx, func(ctx context.Context, p freight.Page) (client.List[*freight.Artifact], error) {
		return cl.Artifacts(ctx, rel.ID, p)
	})
	if err != nil {
		return res, err
	}
	var up *client.Upload
	if i := slices.IndexFunc(existing, func(a *freight.Artifact) bool { return a.Filename == name }); i >= 0 {
		a := existing[i]
		res.ArtifactID = a.ID
		switch {
		case a.State == freight.ArtifactAvailable && a.SHA256 == digest:
			res.Outcome = "already-there"
			b := prog.Bar(name, fi.Size())
			b.Set(fi.Size())
			b.Finish(nil)
			return res, nil
		case a.State == freight.ArtifactAvailable:
			return res, fmt.Errorf("the release has a different %s already (sha256 %s); files are immutable", name, a.SHA256)
		case a.State == freight.ArtifactUploading || a.State == freight.ArtifactVerifying:
			ups, err := cl.Uploads(ctx, a.ID, "")
			if err != nil {
				return res, err
			}
			// An open upload of this file is resumed; one being verified
			// (a publish stopped while it waited) is waited for.
			for i, u := range ups {
				usable := u.State == freight.UploadCompleting || u.State == freight.UploadOpen && time.Until(u.ExpiresAt) > time.Minute
				if usable && u.SHA256 == digest && u.Size == fi.Size() {
					up = &ups[i]
					res.Outcome = "resumed"
				}
			}
		}
		if up == nil {
			// A failed, expired or different upload: start this file again.
			if err := cl.DeleteArtifact(ctx, a.ID); err != nil {
				return res, fmt.Errorf("replacing the earlier upload of %s: %w", name, err)
			}
		}
	}
	if up == nil {
		if rel.State != freight.ReleaseDraft {
			return res, fmt.Errorf("release %s is %s; files can be added to drafts only", rel.Version, rel.State)
		}
		ca, err := cl.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: name, Platform: c.platform, Arch: c.arch, Size: fi.Size(), SHA256: digest})
		if err != nil {
			return res, err
		}
		res.ArtifactID, up, res.Outcome = ca.Artifact.ID, &ca.Upload, "uploaded"
	}
	bar := prog.Bar(name, fi.Size())
	if up.State != freight.UploadCompleting {
		sent, err := c.sendParts(ctx, cl, f, up, bar)
		res.PartsSent = sent
		if err != nil {
			bar.Finish(err)
			return res, err
		}
	}
	art, err := c.complete(ctx, cl, f, up, bar)
	bar.Finish(err)
	if err != nil {
		return res, err
	}
	if art.SHA256 != digest {
		return res, fmt.Errorf("the server stored sha256 %s, not %s", art.SHA256, digest)
	}
	return res, nil
}

// sendParts sends the parts the server does not have, c.concurrency at a
// time, and returns how many it sent.
func (c *publishConfig) sendParts(ctx context.Context, cl *client.Client, f *os.File, up *client.Upload, bar *bar) (int, error) {
	status, err := cl.Upload(ctx, up.ID)
	if err != nil {
		return 0, err
	}
	have := map[int]bool{}
	var done int64
	for _, p := range status.Received {
		offset := int64(p.Number-1) * up.PartSize
		if p.Size == min(up.PartSize, up.Size-offset) {
			have[p.Number] = true
			done += p.Size
		}
	}
	bar.Set(done)
	var missing []int
	for n := 1; n <= up.Parts; n++ {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	urls := &partURLCache{cl: cl, uploadID: up.ID, parts: missing, urls: map[int]string{}}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() {
			for n := range jobs {
				if err := c.sendPart(ctx, cl, urls, f, up, n, bar); err != nil {
					cancel(fmt.Errorf("part %d: %w", n, err))
					return
				}
			}
		})
	}
feed:
	for _, n := range missing {
		select {
		case jobs <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return len(missing), nil
}

// sendPart sends one part, asking for a fresh URL and trying again with
// backoff when the attempt fails for a reason that may pass.
func (c *publishConfig) sendPart(ctx context.Context, cl *client.Client, urls *partURLCache, f *os.File, up *client.Upload, n int, bar *bar) error {
	offset := int64(n-1) * up.PartSize
	partSize := min(up.PartSize, up.Size-offset)
	var err error
	for attempt := 0; attempt < c.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(client.Backoff(attempt-1, jitter)):
			}
		}
		var u string
		if u, err = urls.get(ctx, n); err != nil {
			if client.Retryable(err) {
				continue
			}
			return err
		}
		cr := &countingReader{r: io.NewSectionReader(f, offset, partSize), bar: bar}
		err = cl.PutPart(ctx, u, cr, partSize)
		if err == nil {
			return nil
		}
		bar.Add(-cr.n) // the bytes did not count
		urls.forget(n) // the next attempt asks for a fresh URL
		code := freight.ErrorCode(err)
		if ctx.Err() != nil || !client.Retryable(err) && code != freight.EUNAUTHORIZED && code != freight.ECONFLICT {
			return err
		}
	}
	return fmt.Errorf("giving up after %d attempts: %w", c.retries, err)
}

// complete asks the server to verify and store the file, and waits for
// the verification however long it takes (the client follows the
// server's 202 answers). An upload that is open again afterwards gets the
// parts the server turns out not to have and is completed again; a server
// that is away is waited for.
func (c *publishConfig) complete(ctx context.Context, cl *client.Client, f *os.File, up *client.Upload, bar *bar) (*freight.Artifact, error) {
	var err error
	for attempt := 0; attempt < c.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(client.Backoff(attempt, jitter)):
			}
		}
		var a *freight.Artifact
		a, err = cl.CompleteUpload(ctx, up.ID)
		code := freight.ErrorCode(err)
		switch {
		case err == nil:
			bar.Set(up.Size)
			return a, nil
		case code == freight.ECONFLICT, code == freight.EINVALID && freight.ErrorField(err) == "":
			// The upload may be open again: a part is missing, or the
			// verification could not finish. Older servers answer a
			// missing part with EINVALID, and a completion running on
			// another request with ECONFLICT while the upload is
			// completing.
			st, serr := cl.Upload(ctx, up.ID)
			if serr != nil {
				return nil, err
			}
			switch st.State {
			case freight.UploadOpen:
				if _, err := c.sendParts(ctx, cl, f, up, bar); err != nil {
					return nil, err
				}
			case freight.UploadCompleting:
			default:
				return nil, err
			}
		case client.Retryable(err):
			// Wait for the server to be back.
		default:
			return nil, err
		}
	}
	return nil, fmt.Errorf("completing the upload: %w", err)
}

// jitter picks a wait in [d/2, d): many clients retrying at once spread
// out, and none retries at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// countingReader counts what a part upload read, for the progress bar.
type countingReader struct {
	r   io.Reader
	n   int64
	bar *bar
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	r.bar.Add(int64(n))
	return n, err
}

// partURLBatch is how many part URLs one request asks for: the API gives
// up to 1000 at once, and one request per part would cost a round trip
// and a signature each.
const partURLBatch = 256

// partURLCache hands out part URLs, asking for them in batches in the
// order the parts are sent, and again when they are about to expire (a
// long upload outlives them) or an attempt with one failed.
type partURLCache struct {
	cl       *client.Client
	uploadID string
	parts    []int // the parts to send, in order

	mu      sync.Mutex
	urls    map[int]string
	expires time.Time
}

// partURLMargin is how long before its expiry a URL is not used for a
// new attempt any more: a part must have time to go.
const partURLMargin = 5 * time.Minute

func (p *partURLCache) get(ctx context.Context, n int) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.urls[n]; ok && time.Until(p.expires) > partURLMargin {
		delete(p.urls, n)
		return u, nil
	}
	// Ask for n and the parts after it.
	batch := []int{n}
	if i := slices.Index(p.parts, n); i >= 0 {
		batch = p.parts[i:min(len(p.parts), i+partURLBatch)]
	}
	ans, err := p.cl.PartURLs(ctx, p.uploadID, batch)
	if err != nil {
		return "", err
	}
	p.urls = make(map[int]string, len(ans.URLs))
	p.expires = ans.ExpiresAt
	u := ""
	for _, pu := range ans.URLs {
		if pu.Number == n {
			u = pu.URL
		} else {
			p.urls[pu.Number] = pu.URL
		}
	}
	if u == "" {
		return "", fmt.Errorf("the server gave no URL for part %d", n)
	}
	return u, nil
}

// forget drops the URL of part n, if it is still there.
func (p *partURLCache) forget(n int) {
	p.mu.Lock()
	delete(p.urls, n)
	p.mu.Unlock()
}
