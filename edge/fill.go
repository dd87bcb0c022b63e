package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/freight-portal/freight"
)

// fill is the one origin fetch of a blob that is not complete in the
// cache. It runs on the edge's own context: no client can cancel it, and a
// client that goes away leaves it running for the others.
//
// The blob is cut into chunks. One sequential fetch runs through them in
// order, asking the origin for FarRange bytes at a time, and readers
// follow it through the growing file. A reader that wants bytes far beyond it (a later segment
// of a segmented download, a resumed download) gets the chunk holding
// them fetched on its own, once; the sequential fetch skips chunks that
// are fetched or being fetched. However the clients read, every byte of
// the blob crosses the origin's uplink once.
//
// The bytes each chunk holds are recorded beside the partial file, so a
// fill that stopped (origin gone, edge restarted) resumes every chunk
// where it stopped. The digest is computed over the blob's bytes in order
// as they become contiguous, and the last byte is held back until it
// matches: a client can read everything but that byte while the fill runs,
// so no client ever completes a download of bytes that turn out wrong.
type fill struct {
	e      *Edge
	ent    *entry
	digest string
	size   int64
	path   string
	chunk  int64 // chunk size
	file   *os.File
	rec    *os.File // the progress record beside the partial file

	ctx    context.Context // the edge's; cancelled when the fill fails
	cancel context.CancelFunc
	wg     sync.WaitGroup // the fetches

	mu       sync.Mutex
	token    string  // the newest grant token of a reader; "" for a prefetch
	got      []int64 // bytes held from the start of each chunk
	busy     []bool  // chunks being fetched
	seq      int64   // where the sequential fetch is
	fetches  int     // chunk fetches running for readers
	verified bool
	err      error         // set when the fill ended without the blob
	changed  chan struct{} // closed and replaced at every change
	done     chan struct{} // closed when the fill ends
}

// maxChunkFetches bounds the chunk fetches one fill runs for readers
// besides its sequential fetch; readers beyond that wait for one to end.
const maxChunkFetches = 8

// errCorrupt ends a fill whose bytes do not match the digest.
var errCorrupt = freight.Errorf(freight.EUNAVAILABLE, "the origin sent bytes that do not match the file's SHA-256; try again")

func (f *fill) chunks() int        { return len(f.got) }
func (f *fill) start(i int) int64  { return int64(i) * f.chunk }
func (f *fill) length(i int) int64 { return min(f.chunk, f.size-f.start(i)) }

// doneLocked reports whether chunk i holds all its bytes.
func (f *fill) doneLocked(i int) bool { return f.got[i] == f.length(i) }

// notifyLocked wakes every reader waiting for a change.
func (f *fill) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fail ends the fill with err (the first error wins) and stops its
// fetches.
func (f *fill) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.notifyLocked()
	f.mu.Unlock()
	f.cancel()
}

// setToken keeps the newest grant token of a reader, for the fetches the
// fill makes later: a long fill outlives the token of its first client.
func (f *fill) setToken(token string) {
	if token == "" {
		return
	}
	f.mu.Lock()
	f.token = token
	f.mu.Unlock()
}

// view tells a reader at off what it may do: read [off, avail) from the
// file (changed is nil), or wait for changed; err when the fill failed
// without the bytes at off. A reader far ahead of the sequential fetch
// gets its chunk fetched.
func (f *fill) view(off int64, token string) (avail int64, changed <-chan struct{}, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := int(off / f.chunk)
	if end := f.start(i) + f.got[i]; off < end {
		if !f.verified && end == f.size {
			end--
		}
		if off < end {
			return end, nil, nil
		}
	}
	if f.err != nil {
		return 0, nil, f.err
	}
	if !f.doneLocked(i) && !f.busy[i] && f.start(i)+f.got[i] >= f.seq+f.e.cfg.FarRange && f.fetches < maxChunkFetches {
		if token == "" {
			token = f.token
		}
		f.busy[i] = true
		f.fetches++
		f.wg.Go(func() { f.fetchChunk(i, token) })
	}
	return 0, f.changed, nil
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
	f := &fill{e: e, ent: ent, digest: ent.digest, size: ent.size, path: path, chunk: e.cfg.ChunkSize, file: file,
		token: token, changed: make(chan struct{}), done: make(chan struct{})}
	if err := f.loadProgress(); err != nil {
		file.Close()
		return nil, err
	}
	f.ctx, f.cancel = context.WithCancel(e.ctx)
	ent.fill = f
	ent.pins++
	e.fills.Add(1)
	e.wg.Go(f.run)
	return f, nil
}

// The progress record: a header (magic, chunk size, blob size), then the
// bytes held of each chunk, as little-endian int64s.
var progressMagic = []byte("FRTFILL1")

const progressHeader = 24

// loadProgress opens the progress record and reads what the partial file
// holds. A partial file without one was written front to back: it holds
// its length. A record for another chunk size keeps the bytes from the
// start that it proves, and a damaged one nothing.
func (f *fill) loadProgress() error {
	n := int((f.size + f.chunk - 1) / f.chunk)
	f.got, f.busy = make([]int64, n), make([]bool, n)
	path := progressPath(f.path)
	b, err := os.ReadFile(path)
	var prefix int64
	switch {
	case errors.Is(err, fs.ErrNotExist):
		info, err := f.file.Stat()
		if err != nil {
			return freight.Internal(err)
		}
		prefix = min(info.Size(), f.size)
	case err != nil:
		return freight.Internal(err)
	case len(b) >= progressHeader && bytes.Equal(b[:8], progressMagic) && int64(binary.LittleEndian.Uint64(b[16:])) == f.size:
		chunk := int64(binary.LittleEndian.Uint64(b[8:]))
		got := b[progressHeader:]
		if chunk <= 0 || int64(len(got)/8) != (f.size+chunk-1)/chunk {
			break
		}
		held := func(k int) int64 {
			v := int64(binary.LittleEndian.Uint64(got[8*k:]))
			return max(0, min(v, chunk, f.size-int64(k)*chunk))
		}
		if chunk == f.chunk {
			for i := range f.got {
				f.got[i] = held(i)
			}
		} else {
			for k := 0; k < len(got)/8; k++ {
				h := held(k)
				prefix += h
				if h < chunk {
					break
				}
			}
		}
	}
	for i := range f.got {
		if prefix > f.start(i) {
			f.got[i] = max(f.got[i], min(prefix-f.start(i), f.length(i)))
		}
	}
	rec, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return freight.Internal(err)
	}
	f.rec = rec
	if err := f.saveProgress(); err != nil {
		rec.Close()
		return err
	}
	return nil
}

func progressPath(partial string) string { return partial + progressSuffix }

const progressSuffix = ".progress"

// saveProgress writes the whole progress record. The writes of chunks
// come first, so the record never claims bytes the file was not given;
// after a crash of the machine it may claim bytes the disk lost, which
// the digest check then catches.
func (f *fill) saveProgress() error {
	f.mu.Lock()
	b := make([]byte, progressHeader+8*len(f.got))
	copy(b, progressMagic)
	binary.LittleEndian.PutUint64(b[8:], uint64(f.chunk))
	binary.LittleEndian.PutUint64(b[16:], uint64(f.size))
	for i, g := range f.got {
		binary.LittleEndian.PutUint64(b[progressHeader+8*i:], uint64(g))
	}
	f.mu.Unlock()
	if _, err := f.rec.WriteAt(b, 0); err != nil {
		return freight.Internal(err)
	}
	return nil
}

// saveChunk records that chunk i is complete.
func (f *fill) saveChunk(i int) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(f.length(i)))
	if _, err := f.rec.WriteAt(b[:], progressHeader+8*int64(i)); err != nil {
		f.e.logger.Warn("recording fill progress", "sha256", f.digest, "err", err)
	}
}

// run drives the fill: the sequential fetch runs beside it while it
// hashes the blob as it becomes contiguous; then it publishes the blob.
func (f *fill) run() {
	e := f.e
	defer close(f.done)
	defer e.fills.Add(-1)
	f.wg.Go(func() {
		if err := f.sequential(); err != nil {
			f.fail(err)
		}
	})
	err := f.verify()
	if err != nil {
		f.fail(err)
	}
	f.wg.Wait()
	f.cancel()
	if err == nil {
		err = f.finish()
	}
	if err != nil {
		if serr := f.saveProgress(); serr != nil {
			e.logger.Warn("recording fill progress", "sha256", f.digest, "err", serr)
		}
	}
	f.file.Close()
	f.rec.Close()
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
	f.mu.Lock()
	if err != nil {
		if f.err == nil {
			f.err = err
		}
	} else {
		f.verified = true
	}
	f.notifyLocked()
	f.mu.Unlock()
	if err != nil {
		e.logger.Warn("fill failed", "sha256", f.digest, "err", err)
		return
	}
	e.logger.Info("blob cached", "sha256", f.digest, "size", f.size)
}

// finish makes the verified partial file the cached blob.
func (f *fill) finish() error {
	if err := f.file.Sync(); err != nil {
		return freight.Internal(err)
	}
	if err := os.Rename(f.path, f.e.cache.blobPath(f.digest)); err != nil {
		return freight.Internal(err)
	}
	os.Remove(progressPath(f.path))
	if d, err := os.Open(filepath.Dir(f.e.cache.blobPath(f.digest))); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// verify hashes the blob's bytes in order as the fetches make them
// contiguous, and checks the digest once all are there. It reads them
// back from the file: the chunks arrive in any order.
func (f *fill) verify() error {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var hashed int64
	for {
		f.mu.Lock()
		end, err, changed := f.contiguousLocked(hashed), f.err, f.changed
		f.mu.Unlock()
		for hashed < end {
			n, rerr := f.file.ReadAt(buf[:min(int64(len(buf)), end-hashed)], hashed)
			h.Write(buf[:n])
			hashed += int64(n)
			if rerr != nil && hashed < end {
				return freight.Internal(rerr)
			}
		}
		if hashed >= f.size {
			break
		}
		if err != nil {
			return err
		}
		select {
		case <-changed:
		case <-f.ctx.Done():
			f.mu.Lock()
			err := f.err
			f.mu.Unlock()
			if err == nil {
				err = freight.Errorf(freight.EUNAVAILABLE, "the edge is shutting down")
			}
			return err
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != f.digest {
		return errCorrupt
	}
	return nil
}

// contiguousLocked returns the end of the bytes held without a gap from
// off, a chunk boundary or a point the bytes before reach.
func (f *fill) contiguousLocked(off int64) int64 {
	if off >= f.size {
		return f.size
	}
	i := int(off / f.chunk)
	for f.doneLocked(i) && i+1 < f.chunks() {
		i++
	}
	return f.start(i) + f.got[i]
}

// sequential runs through the chunks in order and skips chunks fetched or
// being fetched for readers. It asks the origin for windows of up to
// FarRange bytes that end before the first chunk someone else has: a
// reader's chunk is never inside a window (a reader fetches only chunks
// starting FarRange beyond the sequential fetch), so no byte the origin
// sends is thrown away.
func (f *fill) sequential() error {
	next := 0
	for {
		f.mu.Lock()
		for next < f.chunks() && (f.doneLocked(next) || f.busy[next]) {
			next++
		}
		if next >= f.chunks() {
			f.mu.Unlock()
			return nil
		}
		f.busy[next] = true
		f.seq = f.start(next) + f.got[next]
		end := f.windowLocked(next)
		token := f.token
		f.mu.Unlock()
		last, err := f.fetch(next, end, token, true)
		if err != nil {
			return err
		}
		next = last + 1
	}
}

// windowLocked returns the end of the next sequential request, which
// starts in chunk i: FarRange bytes on, cut to whole chunks and before the
// first chunk that is being fetched or holds bytes already.
func (f *fill) windowLocked(i int) int64 {
	from := f.start(i) + f.got[i]
	end := max(f.start(i)+f.length(i), from+f.e.cfg.FarRange-(from+f.e.cfg.FarRange)%f.chunk)
	for j := i + 1; j < f.chunks() && f.start(j) < end; j++ {
		if f.busy[j] || f.got[j] != 0 {
			end = f.start(j)
			break
		}
	}
	return min(end, f.size)
}

// fetchChunk fetches chunk i for a reader, with the reader's grant token.
func (f *fill) fetchChunk(i int, token string) {
	_, err := f.fetch(i, f.start(i)+f.length(i), token, false)
	f.mu.Lock()
	f.fetches--
	f.notifyLocked()
	f.mu.Unlock()
	if err != nil {
		f.fail(err)
	}
}

// fetch fetches bytes up to end, from what chunk i lacks (the caller has
// marked it busy) into the free chunks after it, reconnecting a few times
// from where it stopped. It returns the last chunk it completed. seq says
// it is the sequential fetch, whose position readers measure from.
func (f *fill) fetch(i int, end int64, token string, seq bool) (int, error) {
	e := f.e
	buf := make([]byte, 256<<10)
	for attempt := 0; ; {
		off := f.start(i) + f.got[i] // only this fetch changes got[i] while it is busy
		body, err := e.origin.blob(f.ctx, f.digest, token, off, end)
		if err == nil {
			var moved bool
			i, moved, err = f.copy(body, i, end, seq, buf)
			body.Close()
			if moved {
				attempt = 0
			}
			if err == nil {
				return i, nil
			}
		}
		if f.ctx.Err() != nil {
			f.release(i)
			return i, freight.Errorf(freight.EUNAVAILABLE, "the edge is shutting down")
		}
		// A refusal (the grant expired) will not change by retrying.
		if code := freight.ErrorCode(err); code == freight.EFORBIDDEN || code == freight.ENOTFOUND || code == freight.EUNAUTHORIZED {
			f.release(i)
			return i, err
		}
		attempt++
		if attempt > e.cfg.FillRetries {
			f.release(i)
			return i, fmt.Errorf("fill of %s stopped at byte %d: %w", f.digest, f.start(i)+f.got[i], err)
		}
		e.logger.Warn("fill interrupted; resuming", "sha256", f.digest, "at", f.start(i)+f.got[i], "err", err)
		select {
		case <-time.After(e.cfg.RetryDelay * time.Duration(attempt)):
		case <-f.ctx.Done():
			f.release(i)
			return i, freight.Errorf(freight.EUNAVAILABLE, "the edge is shutting down")
		}
	}
}

// release gives up chunk i unfinished.
func (f *fill) release(i int) {
	f.mu.Lock()
	f.busy[i] = false
	f.mu.Unlock()
}

// copy writes what body sends into chunk i and the chunks after it, up to
// end. It returns the chunk it ended in, whether any byte arrived, and nil
// once the bytes up to end are written.
func (f *fill) copy(body io.Reader, i int, end int64, seq bool, buf []byte) (int, bool, error) {
	moved := false
	for {
		off := f.start(i) + f.got[i]
		cend := f.start(i) + f.length(i)
		if off >= cend {
			f.saveChunk(i)
			f.mu.Lock()
			f.busy[i] = false
			// The window was free when asked for; should a chunk in it
			// have been taken since, the rest of the answer is dropped.
			more := cend < end && !f.busy[i+1] && f.got[i+1] == 0
			if more {
				f.busy[i+1] = true
			}
			f.notifyLocked()
			f.mu.Unlock()
			if !more {
				return i, moved, nil
			}
			i++
			continue
		}
		n, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), cend-off)])
		if n > 0 {
			if _, err := f.file.WriteAt(buf[:n], off); err != nil {
				return i, moved, freight.Internal(err)
			}
			moved = true
			f.e.fromOrigin.Add(int64(n))
			f.mu.Lock()
			f.got[i] += int64(n)
			if seq {
				f.seq = off + int64(n)
			}
			f.notifyLocked()
			f.mu.Unlock()
		}
		if rerr == nil || off+int64(n) >= cend {
			continue
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return i, moved, freight.Errorf(freight.EUNAVAILABLE, "origin ended the blob at byte %d of %d", off+int64(n), f.size)
		}
		return i, moved, freight.Errorf(freight.EUNAVAILABLE, "origin: %v", rerr)
	}
}
