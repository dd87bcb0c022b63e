package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

// fill is the one origin fetch of a blob that is not complete in the
// cache. It runs on the edge's own context: no client can cancel it, and a
// client that goes away leaves it running for the others. Readers follow
// the growing file through state and wait on changed.
//
// The last byte is held back until the whole blob is verified against its
// digest: a client can read everything but that byte while the fill runs,
// so no client ever completes a download of bytes that turn out wrong.
type fill struct {
	e      *Edge
	ent    *entry
	digest string
	size   int64
	path   string
	token  string // authorises the origin fetch; "" for a prefetch

	mu       sync.Mutex
	filled   int64
	verified bool
	err      error         // set when the fill ended without the blob
	changed  chan struct{} // closed and replaced at every change
	done     chan struct{} // closed when the fill ends
}

// errCorrupt ends a fill whose bytes do not match the digest.
var errCorrupt = freight.Errorf(freight.EUNAVAILABLE, "the origin sent bytes that do not match the file's SHA-256; try again")

// progress is what a reader sees of a fill: the bytes [0, avail) it may
// read, the bytes on disk, the fill's error, and a channel closed at the
// next change.
type progress struct {
	avail, filled int64
	err           error
	changed       <-chan struct{}
}

func (f *fill) snapshot() progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	avail := f.filled
	if !f.verified && avail >= f.size {
		avail = f.size - 1
	}
	return progress{avail, f.filled, f.err, f.changed}
}

func (f *fill) publish(filled int64, verified bool, err error) {
	f.mu.Lock()
	f.filled, f.verified = filled, verified
	if err != nil {
		f.err = err
	}
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// startFillLocked starts the fill of a partial entry. The partial file
// exists when it returns, so readers can open it. Called with cache.mu
// held.
func (e *Edge) startFillLocked(ent *entry, token string) (*fill, error) {
	path := e.cache.partialPath(ent.digest, ent.size)
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, freight.Internal(err)
	}
	f := &fill{e: e, ent: ent, digest: ent.digest, size: ent.size, path: path, token: token,
		changed: make(chan struct{}), done: make(chan struct{})}
	ent.fill = f
	ent.pins++
	e.fills.Add(1)
	e.wg.Go(func() { f.run(file) })
	return f, nil
}

// run fetches what the partial file lacks, retrying a failed connection a
// few times from where it stopped, then verifies and publishes the blob.
func (f *fill) run(file *os.File) {
	e := f.e
	defer close(f.done)
	defer e.fills.Add(-1)
	err := f.fetch(e.ctx, file)
	if cerr := file.Close(); err == nil && cerr != nil {
		err = freight.Internal(cerr)
	}
	c := e.cache
	c.mu.Lock()
	f.ent.fill = nil
	f.ent.pins--
	switch {
	case err == nil:
		f.ent.complete = true
		c.touchLocked(f.ent)
	case errors.Is(err, errCorrupt):
		// Never serve these bytes again: the next request starts over.
		c.removeLocked(f.ent)
	}
	c.mu.Unlock()
	if err != nil {
		e.logger.Warn("fill failed", "sha256", f.digest, "err", err)
		f.publish(f.filled, false, err)
		return
	}
	e.logger.Info("blob cached", "sha256", f.digest, "size", f.size)
	f.publish(f.size, true, nil)
}

func (f *fill) fetch(ctx context.Context, file *os.File) error {
	e := f.e
	// Resume: the file holds the first bytes already; hash them again
	// (the hash state is not kept) and go on from its end.
	h := sha256.New()
	off, err := io.Copy(h, file)
	if err != nil {
		return freight.Internal(err)
	}
	if off > f.size {
		return errCorrupt
	}
	f.publish(off, false, nil)
	buf := make([]byte, 256<<10)
	for attempt := 0; off < f.size; {
		body, err := e.origin.blob(ctx, f.digest, f.token, off, -1)
		if err == nil {
			var n int64
			n, err = f.copy(file, h, body, buf, off)
			body.Close()
			off += n
			if n > 0 {
				attempt = 0
			}
			if err == nil && off < f.size {
				err = freight.Errorf(freight.EUNAVAILABLE, "origin ended the blob at byte %d of %d", off, f.size)
			}
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return freight.Errorf(freight.EUNAVAILABLE, "the edge is shutting down")
		}
		// A refusal (the grant expired) will not change by retrying.
		if code := freight.ErrorCode(err); code == freight.EFORBIDDEN || code == freight.ENOTFOUND || code == freight.EUNAUTHORIZED {
			return err
		}
		attempt++
		if attempt > e.cfg.FillRetries {
			return fmt.Errorf("fill of %s stopped at byte %d: %w", f.digest, off, err)
		}
		e.logger.Warn("fill interrupted; resuming", "sha256", f.digest, "at", off, "err", err)
		select {
		case <-time.After(e.cfg.RetryDelay * time.Duration(attempt)):
		case <-ctx.Done():
			return freight.Errorf(freight.EUNAVAILABLE, "the edge is shutting down")
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != f.digest {
		file.Close()
		return errCorrupt
	}
	if err := file.Sync(); err != nil {
		return freight.Internal(err)
	}
	if err := os.Rename(f.path, e.cache.blobPath(f.digest)); err != nil {
		return freight.Internal(err)
	}
	if d, err := os.Open(filepath.Dir(e.cache.blobPath(f.digest))); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// copy appends what body sends to the file, publishing progress, and
// returns the bytes written.
func (f *fill) copy(file *os.File, h io.Writer, body io.Reader, buf []byte, off int64) (int64, error) {
	var written int64
	for {
		n, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), f.size-off-written)])
		if n > 0 {
			if _, err := file.WriteAt(buf[:n], off+written); err != nil {
				return written, freight.Internal(err)
			}
			h.Write(buf[:n])
			written += int64(n)
			f.e.fromOrigin.Add(int64(n))
			f.publish(off+written, false, nil)
		}
		if off+written >= f.size {
			return written, nil
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return written, nil
		}
		if rerr != nil {
			return written, freight.Errorf(freight.EUNAVAILABLE, "origin: %v", rerr)
		}
	}
}
