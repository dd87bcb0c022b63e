package main

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// directAlign is the alignment of direct writes: of their offset, their
// length and their buffer's address. 4096 is a multiple of every logical
// block size in common use.
const directAlign = 4096

// partFile is a download's part file. Reads, syncs and most writes go
// through the page cache, but bytes that the hash takes from memory are
// never read again, so where the system allows, those are written with
// direct I/O (O_DIRECT on Linux): the disk takes them from the buffer
// they arrived in, which spares the CPU the copy into the page cache and
// the page cache a download's worth of bytes that nobody reads. Only
// aligned bytes can be written directly (see directAlign); a file system
// that refuses a direct write turns them off for the rest of the download.
type partFile struct {
	*os.File
	direct   directWriter // the same file opened for direct writes, or nil
	noDirect atomic.Bool
	directN  atomic.Int64 // bytes written directly
}

type directWriter interface {
	io.WriterAt
	io.Closer
}

// openPartFile opens (creating if need be) the part file at path.
func openPartFile(path string) (*partFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	p := &partFile{File: f}
	// Without direct writes the page cache takes every byte, which works
	// everywhere.
	if d := openDirect(path); d != nil {
		p.direct = d
	}
	return p, nil
}

// writeAt writes b at off: if direct is asked for, as much of b as
// alignment allows directly and the rest through the page cache.
func (p *partFile) writeAt(b []byte, off int64, direct bool) (int, error) {
	k := len(b) / directAlign * directAlign
	if !direct || p.direct == nil || p.noDirect.Load() || k == 0 || off%directAlign != 0 ||
		uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign != 0 {
		return p.File.WriteAt(b, off)
	}
	n, err := p.direct.WriteAt(b[:k], off)
	switch {
	case err == nil:
		p.directN.Add(int64(n))
	case n == 0 && errors.Is(err, syscall.EINVAL):
		// The file system wants another alignment, or no direct writes
		// at all: the page cache it is.
		p.noDirect.Store(true)
		return p.File.WriteAt(b, off)
	default:
		return n, err
	}
	m, err := p.File.WriteAt(b[k:], off+int64(k))
	return n + m, err
}

// Close closes both handles.
func (p *partFile) Close() error {
	if p.direct != nil {
		p.direct.Close()
	}
	return p.File.Close()
}

// alignedBuffer returns n bytes whose address is a multiple of
// directAlign.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (directAlign - 1))
	return b[off : off+n : off+n]
}

// fillSize is how much of a buffer of n bytes to fill for a write at off,
// with left bytes left to read: all of it, unless off is not aligned,
// when only as much as brings the next write to an aligned offset.
func fillSize(off int64, n int, left int64) int {
	if r := int(off % directAlign); r != 0 {
		n = min(n, directAlign-r)
	}
	return int(min(int64(n), left))
}
