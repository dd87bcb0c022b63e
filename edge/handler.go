package edge

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/grant"
	"github.com/freight-portal/freight/server"
)

func (e *Edge) writeError(w http.ResponseWriter, r *http.Request, err error) {
	server.WriteError(w, r, e.logger, err)
}

// serveDownload serves GET and HEAD of /d/{token}/{name}: the same URL
// path as the origin, with the same checks, so a download URL works on
// any edge and on the portal.
func (e *Edge) serveDownload(w http.ResponseWriter, r *http.Request) {
	if err := e.download(w, r); err != nil {
		if freight.ErrorCode(err) == freight.EFORBIDDEN {
			e.logger.Info("download refused", "ip", clientIP(r), "range", r.Header.Get("Range"),
				"user_agent", r.UserAgent(), "reason", freight.ErrorMessage(err))
		}
		e.writeError(w, r, err)
	}
}

func (e *Edge) download(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.PathValue("token")
	c, err := grant.Parse(ctx, token, e.keys.publicKey)
	if err != nil {
		return err
	}
	n, err := c.CheckRequest(e.now(), r.Header.Get("Range"), r.Header.Get("If-Range"), clientIP(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	server.SetDownloadHeaders(w.Header(), c)
	if r.Method == http.MethodHead {
		http.ServeContent(w, r, "", time.Time{}, sizeOnly(c.Size))
		return nil
	}
	if err := e.state.reserve(ctx, c.GrantID, c.ByteBudget, c.ResumeUntil, n); err != nil {
		return err
	}
	started := e.now()
	content, release, err := e.open(ctx, c, token)
	if err != nil {
		e.state.refund(ctx, c.GrantID, n)
		return err
	}
	cw := &server.CountingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", time.Time{}, content)
	release()
	e.served.Add(cw.N)
	// Record the outcome even though the client may be gone.
	ctx = context.WithoutCancel(ctx)
	if n > cw.N {
		if err := e.state.refund(ctx, c.GrantID, n-cw.N); err != nil {
			e.logger.Warn("giving back unsent bytes", "grant_id", c.GrantID, "err", err)
		}
	}
	finished := e.now()
	d := &freight.Download{ID: freight.NewID(freight.PrefixDownload, started), GrantID: c.GrantID, IP: clientIP(r),
		Range: r.Header.Get("Range"), Bytes: cw.N, Completed: cw.N >= n, StartedAt: started, FinishedAt: &finished}
	if err := e.state.spool(ctx, d); err != nil {
		e.logger.Error("spooling a download event", "grant_id", c.GrantID, "err", err)
	}
	e.logger.Info("download", "grant_id", c.GrantID, "sha256", c.Digest, "ip", d.IP, "range", d.Range,
		"bytes", cw.N, "completed", d.Completed)
	return nil
}

// open returns the content of the blob of c for ServeContent and a
// function to call when done with it. A complete blob is its *os.File,
// which net/http sends with sendfile; a blob being filled is read as it
// grows; a blob the cache has no room for is read from the origin.
func (e *Edge) open(ctx context.Context, c grant.Claims, token string) (io.ReadSeeker, func(), error) {
	cc := e.cache
	cc.mu.Lock()
	ent := cc.entries[c.Digest]
	if ent != nil && ent.size != c.Size {
		cc.mu.Unlock()
		return nil, nil, freight.Internal(errors.New("edge: the grant's size differs from the cached blob's"))
	}
	if ent == nil {
		if ok, _ := cc.reserveLocked(c.Size); !ok {
			cc.mu.Unlock()
			e.misses.Add(1)
			e.logger.Warn("no room in the cache; passing through", "sha256", c.Digest, "size", c.Size)
			r := &reader{ctx: ctx, e: e, digest: c.Digest, token: token, size: c.Size}
			return r, r.close, nil
		}
		ent = &entry{digest: c.Digest, size: c.Size}
		cc.entries[c.Digest] = ent
	}
	cc.touchLocked(ent)
	if ent.complete {
		f, err := os.Open(cc.blobPath(c.Digest))
		if err != nil {
			// Gone from under the edge: forget it, the next request fills.
			cc.removeLocked(ent)
			cc.mu.Unlock()
			return nil, nil, freight.Errorf(freight.EUNAVAILABLE, "cached file missing; try again")
		}
		ent.pins++
		cc.mu.Unlock()
		e.hits.Add(1)
		touch(f.Name(), e.now())
		return f, func() { f.Close(); cc.unpin(ent) }, nil
	}
	fl := ent.fill
	if fl == nil {
		var err error
		if fl, err = e.startFillLocked(ent, token); err != nil {
			cc.mu.Unlock()
			return nil, nil, err
		}
	} else {
		fl.setToken(token)
	}
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		// The fill has just verified the blob and renamed it, and will
		// mark the entry complete as soon as it has the lock.
		f, err = os.Open(cc.blobPath(c.Digest))
	}
	if err != nil {
		cc.mu.Unlock()
		return nil, nil, freight.Internal(err)
	}
	ent.pins++
	cc.mu.Unlock()
	e.misses.Add(1)
	r := &reader{ctx: ctx, e: e, digest: c.Digest, token: token, size: c.Size, file: f, fill: fl}
	return r, func() { r.close(); cc.unpin(ent) }, nil
}

// touch records a use of a cached file in its modification time, which
// orders eviction after a restart.
func touch(path string, now time.Time) {
	os.Chtimes(path, time.Time{}, now)
}

// reader reads a blob for ServeContent: from the complete file, or from
// the partial file of a fill, waiting for the bytes it wants (the fill
// fetches them first when they are far beyond its sequential fetch); or,
// when the cache has no room for the blob, by ranged origin reads.
type reader struct {
	ctx    context.Context // the client's: a reader stops when its client goes
	e      *Edge
	digest string
	token  string
	size   int64
	file   *os.File // nil: every byte comes from the origin
	fill   *fill    // nil with file: the blob is complete
	off    int64

	far    io.ReadCloser // an open origin read of [off, farEnd)
	farEnd int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	for {
		if r.far != nil {
			return r.readFar(p)
		}
		if r.file == nil {
			if err := r.openFar(); err != nil {
				return 0, err
			}
			continue
		}
		avail := r.size
		if r.fill != nil {
			a, changed, err := r.fill.view(r.off, r.token)
			if err != nil {
				return 0, err
			}
			if changed != nil {
				select {
				case <-changed:
					continue
				case <-r.ctx.Done():
					return 0, r.ctx.Err()
				}
			}
			avail = a
		}
		n := int(min(int64(len(p)), avail-r.off))
		n, err := r.file.ReadAt(p[:n], r.off)
		r.off += int64(n)
		if err == io.EOF && n > 0 {
			err = nil
		}
		return n, err
	}
}

// openFar starts an origin read of the next FarRange bytes from off.
func (r *reader) openFar() error {
	end := min(r.size, r.off+r.e.cfg.FarRange)
	body, err := r.e.origin.blob(r.ctx, r.digest, r.token, r.off, end)
	if err != nil {
		return err
	}
	r.far, r.farEnd = body, end
	return nil
}

func (r *reader) readFar(p []byte) (int, error) {
	n, err := r.far.Read(p[:min(int64(len(p)), r.farEnd-r.off)])
	r.off += int64(n)
	r.e.fromOrigin.Add(int64(n))
	if r.off >= r.farEnd {
		r.far.Close()
		r.far = nil
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("seek before start")
	}
	if offset != r.off && r.far != nil {
		r.far.Close()
		r.far = nil
	}
	r.off = offset
	return offset, nil
}

func (r *reader) close() {
	if r.far != nil {
		r.far.Close()
		r.far = nil
	}
	if r.file != nil {
		r.file.Close()
	}
}

// sizeOnly answers HEAD requests: ServeContent seeks to learn the size and
// reads nothing.
type sizeOnly int64

func (s sizeOnly) Read([]byte) (int, error) { return 0, io.EOF }

func (s sizeOnly) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekEnd {
		return int64(s) + offset, nil
	}
	return offset, nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
