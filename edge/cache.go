package edge

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

// cache is the blobs on disk, named by digest: complete, verified blobs in
// blobs/<sha256>, blobs being filled in partial/<sha256>.<size>. Blobs are
// immutable, so nothing is ever invalidated; the cache only runs out of
// room, and then the least recently used blob that nobody reads or fills
// goes. The index is rebuilt from the directory at start, so a restart
// keeps the cache, and a partial file is resumed from its progress record
// (partial/<sha256>.<size>.progress, see fill).
type cache struct {
	dir   string
	limit int64

	mu      sync.Mutex
	entries map[string]*entry
	used    int64 // bytes reserved: complete sizes, and whole sizes of partials
	clock   int64 // orders uses for LRU
	// dropped holds the complete blobs removed (evicted, or gone from the
	// disk) that the portal has not been told of: it may count them among
	// the prefetches the edge holds.
	dropped map[string]struct{}
	// displaced holds when complete blobs were evicted to make room for a
	// prefetch: see Edge.Prefetch.
	displaced map[string]time.Time
}

// entry is one blob of the cache. Guarded by cache.mu.
type entry struct {
	digest   string
	size     int64
	complete bool
	pins     int   // readers and the fill using it; never evicted while > 0
	lastUsed int64 // cache.clock at the last use
	fill     *fill // the running fill, nil when none
}

func (c *cache) blobPath(digest string) string { return filepath.Join(c.dir, "blobs", digest) }

func (c *cache) partialPath(digest string, size int64) string {
	return filepath.Join(c.dir, "partial", digest+"."+strconv.FormatInt(size, 10))
}

// openCache scans dir and rebuilds the index. Files that are neither a
// blob nor a partial blob (temporary files of a crash) are removed.
func openCache(dir string, limit int64) (*cache, error) {
	c := &cache{dir: dir, limit: limit, entries: map[string]*entry{}, dropped: map[string]struct{}{}, displaced: map[string]time.Time{}}
	for _, sub := range []string{"blobs", "partial"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, err
		}
	}
	type found struct {
		e   *entry
		mod time.Time
	}
	var all []found
	scan := func(sub string, parse func(name string, info fs.FileInfo) *entry) error {
		des, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return err
		}
		for _, de := range des {
			p := filepath.Join(dir, sub, de.Name())
			if strings.HasSuffix(de.Name(), progressSuffix) {
				// Kept with its partial file, removed with it below.
				continue
			}
			info, err := de.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			e := parse(de.Name(), info)
			if e == nil || c.entries[e.digest] != nil {
				os.RemoveAll(p)
				continue
			}
			c.entries[e.digest] = e
			c.used += e.size
			all = append(all, found{e, info.ModTime()})
		}
		return nil
	}
	if err := scan("blobs", parseBlobName); err != nil {
		return nil, err
	}
	if err := scan("partial", parsePartialName); err != nil {
		return nil, err
	}
	// Progress records of partial files that are gone.
	recs, _ := filepath.Glob(filepath.Join(dir, "partial", "*"+progressSuffix))
	for _, p := range recs {
		if _, err := os.Stat(strings.TrimSuffix(p, progressSuffix)); errors.Is(err, fs.ErrNotExist) {
			os.Remove(p)
		}
	}
	// The order of last use survives as modification times: blobs are
	// touched when read.
	slices.SortFunc(all, func(a, b found) int { return a.mod.Compare(b.mod) })
	for _, f := range all {
		c.clock++
		f.e.lastUsed = c.clock
	}
	c.mu.Lock()
	c.evictLocked(0)
	c.mu.Unlock()
	return c, nil
}

// parseBlobName reads a complete blob's file name: its digest.
func parseBlobName(name string, info fs.FileInfo) *entry {
	if !info.Mode().IsRegular() || !freight.ValidDigest(name) {
		return nil
	}
	return &entry{digest: name, size: info.Size(), complete: true}
}

// parsePartialName reads a partial blob's file name: digest "." size. A
// partial longer than its blob is damaged and dropped.
func parsePartialName(name string, info fs.FileInfo) *entry {
	digest, sz, ok := strings.Cut(name, ".")
	if !ok || !info.Mode().IsRegular() || !freight.ValidDigest(digest) {
		return nil
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != sz || info.Size() > size {
		return nil
	}
	return &entry{digest: digest, size: size}
}

// reserveLocked makes room for n more bytes, evicting what it must, and
// reports whether it could and which complete blobs it evicted.
func (c *cache) reserveLocked(n int64) (bool, []string) {
	if n > c.limit {
		return false, nil
	}
	evicted := c.evictLocked(n)
	if c.used+n > c.limit {
		return false, evicted
	}
	c.used += n
	return true, evicted
}

// evictLocked removes unpinned blobs, least recently used first, until n
// more bytes fit, and returns the digests of the complete ones.
func (c *cache) evictLocked(n int64) (evicted []string) {
	if c.used+n <= c.limit {
		return nil
	}
	var victims []*entry
	for _, e := range c.entries {
		if e.pins == 0 && e.fill == nil {
			victims = append(victims, e)
		}
	}
	slices.SortFunc(victims, func(a, b *entry) int { return cmp.Compare(a.lastUsed, b.lastUsed) })
	for _, e := range victims {
		if c.used+n <= c.limit {
			return evicted
		}
		if e.complete {
			evicted = append(evicted, e.digest)
		}
		c.removeLocked(e)
	}
	return evicted
}

// removeLocked drops an entry and its file.
func (c *cache) removeLocked(e *entry) {
	if c.entries[e.digest] != e {
		return
	}
	delete(c.entries, e.digest)
	c.used -= e.size
	if e.complete {
		os.Remove(c.blobPath(e.digest))
		c.dropped[e.digest] = struct{}{}
	} else {
		os.Remove(c.partialPath(e.digest, e.size))
		os.Remove(progressPath(c.partialPath(e.digest, e.size)))
	}
}

// touchLocked records a use.
func (c *cache) touchLocked(e *entry) {
	c.clock++
	e.lastUsed = c.clock
}

// unpin ends a use of e.
func (c *cache) unpin(e *entry) {
	c.mu.Lock()
	e.pins--
	c.mu.Unlock()
}

// complete returns those of the digests whose blob is complete in the
// cache, in their order.
func (c *cache) complete(digests []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, d := range digests {
		if e := c.entries[d]; e != nil && e.complete {
			out = append(out, d)
		}
	}
	return out
}

// evicted returns up to n of the complete blobs removed since forget was
// last told of them, sorted, leaving out those complete again.
func (c *cache) evicted(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for d := range c.dropped {
		if e := c.entries[d]; e != nil && e.complete {
			delete(c.dropped, d)
			continue
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return out[:min(len(out), n)]
}

// forget drops digests that evicted returned once the portal has been
// told of them.
func (c *cache) forget(digests []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range digests {
		delete(c.dropped, d)
	}
}

// stats returns the bytes reserved and the number of blobs.
func (c *cache) stats() (bytes, blobs int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, int64(len(c.entries))
}
