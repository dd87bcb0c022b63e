package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"sync"
	"time"
)

// hashFollower computes the part file's SHA-256 while the download runs,
// so that when the last byte arrives little is left to hash. It hashes the
// file from its start as far as all bytes have arrived: bytes written at
// that front are handed over in the buffer they arrived in (offer), which
// spares reading them back; bytes written elsewhere (by other segments,
// or kept from an earlier run) are read back from the part file once the
// front reaches them. Either way it hashes exactly the bytes written to
// the part file, in order.
type hashFollower struct {
	f   *fetcher
	h   hash.Hash
	buf []byte // for reading back from the part file

	mu sync.Mutex
	// claimed is how far the file is hashed, queued or being read back:
	// the offset at which a buffer may be handed over.
	claimed int64
	queue   []hashChunk
	queued  int // bytes in queue
	err     error
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

type hashChunk struct {
	b []byte // from getBuffer; returned once hashed
}

// maxHashQueue bounds the bytes waiting in memory for the hasher; beyond
// it, buffers are refused and their bytes read back later instead, so the
// network never waits for the hash.
const maxHashQueue = 64 << 20

func (f *fetcher) followHash() *hashFollower {
	hf := &hashFollower{f: f, h: sha256.New(), buf: make([]byte, 1<<20),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go hf.follow()
	return hf
}

// wants reports whether an offer of n bytes at off would be taken now.
// Only the writer of the bytes at the front can make it true, and until
// it offers them only the hasher changes the queue, by emptying it.
func (hf *hashFollower) wants(off int64, n int) bool {
	hf.mu.Lock()
	defer hf.mu.Unlock()
	return hf.takesLocked(off, n)
}

// takesLocked reports whether n bytes at off are the next to hash and
// have room in the queue.
func (hf *hashFollower) takesLocked(off int64, n int) bool {
	return hf.err == nil && off == hf.claimed && hf.queued+n <= maxHashQueue
}

// offer hands over b, the bytes just written at offset off. It reports
// whether the hasher took the buffer, which then belongs to it.
func (hf *hashFollower) offer(off int64, b []byte) bool {
	hf.mu.Lock()
	ok := hf.takesLocked(off, len(b))
	if ok {
		hf.queue = append(hf.queue, hashChunk{b: b})
		hf.queued += len(b)
		hf.claimed += int64(len(b))
	}
	hf.mu.Unlock()
	if ok {
		select {
		case hf.wake <- struct{}{}:
		default:
		}
	}
	return ok
}

func (hf *hashFollower) follow() {
	defer close(hf.done)
	for {
		select {
		case <-hf.stop:
			return
		default:
		}
		if hf.step(hf.f.arrived()) {
			continue
		}
		// Bytes written away from the front wake nobody: look again soon.
		select {
		case <-hf.stop:
			return
		case <-hf.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// step hashes the next handed-over buffer or, when there is none, reads
// back and hashes the next bytes before limit. It reports whether it
// hashed anything.
func (hf *hashFollower) step(limit int64) bool {
	hf.mu.Lock()
	if hf.err != nil {
		hf.mu.Unlock()
		return false
	}
	if len(hf.queue) > 0 {
		c := hf.queue[0]
		hf.queue[0] = hashChunk{}
		hf.queue = hf.queue[1:]
		hf.queued -= len(c.b)
		hf.mu.Unlock()
		hf.h.Write(c.b)
		putBuffer(c.b)
		return true
	}
	from := hf.claimed
	n := min(limit-from, int64(len(hf.buf)))
	if n <= 0 {
		hf.mu.Unlock()
		return false
	}
	hf.claimed += n
	hf.mu.Unlock()
	if _, err := hf.f.part.ReadAt(hf.buf[:n], from); err != nil {
		hf.mu.Lock()
		hf.err = err
		hf.mu.Unlock()
		return false
	}
	hf.h.Write(hf.buf[:n])
	return true
}

// abort stops following.
func (hf *hashFollower) abort() {
	close(hf.stop)
	<-hf.done
	hf.mu.Lock()
	defer hf.mu.Unlock()
	for _, c := range hf.queue {
		putBuffer(c.b)
	}
	hf.queue, hf.queued = nil, 0
	if hf.err == nil {
		hf.err = errAborted
	}
}

var errAborted = errors.New("hashing stopped")

// sum stops following, hashes the rest of the complete file and returns
// its SHA-256.
func (hf *hashFollower) sum() (string, error) {
	close(hf.stop)
	<-hf.done
	for hf.step(hf.f.file.Size) {
	}
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if hf.err != nil {
		return "", hf.err
	}
	return hex.EncodeToString(hf.h.Sum(nil)), nil
}

// Network buffers travel from the segments to the hasher and back; a pool
// keeps them from being allocated per read.
// They are aligned for direct writes (see partFile).
var bufferPool = sync.Pool{New: func() any { b := alignedBuffer(fetchBuffer); return &b }}

// getBuffer returns a buffer of n bytes (at most fetchBuffer).
func getBuffer(n int) []byte {
	b := *bufferPool.Get().(*[]byte)
	return b[:n]
}

func putBuffer(b []byte) {
	b = b[:cap(b)]
	if len(b) == fetchBuffer {
		bufferPool.Put(&b)
	}
}
