package grant

import (
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// byteRange is one resolved range of a file: start and length.
type byteRange struct{ start, length int64 }

// maxRanges bounds the ranges of one request: aria2 and browsers ask for
// one; hundreds are only good for wasting the server's time.
const maxRanges = 64

// parseRange resolves a Range header against a file of size bytes the way
// net/http's ServeContent does, so that the byte budget is charged what
// the answer will carry. ok is false for a header ServeContent answers 416
// to. No ranges and ok means the whole file.
func parseRange(s string, size int64) (ranges []byteRange, ok bool) {
	if s == "" {
		return nil, true
	}
	spec, found := strings.CutPrefix(s, "bytes=")
	if !found {
		return nil, false
	}
	noOverlap := false
	for part := range strings.SplitSeq(spec, ",") {
		part = textproto.TrimString(part)
		if part == "" {
			continue
		}
		if len(ranges) >= maxRanges {
			return nil, false
		}
		first, last, found := strings.Cut(part, "-")
		if !found {
			return nil, false
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		var r byteRange
		if first == "" {
			// A suffix: the last n bytes.
			if last == "" || last[0] == '-' {
				return nil, false
			}
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return nil, false
			}
			n = min(n, size)
			r = byteRange{start: size - n, length: n}
		} else {
			i, err := strconv.ParseInt(first, 10, 64)
			if err != nil || i < 0 {
				return nil, false
			}
			if i >= size {
				noOverlap = true
				continue
			}
			r.start = i
			if last == "" {
				r.length = size - i
			} else {
				j, err := strconv.ParseInt(last, 10, 64)
				if err != nil || i > j {
					return nil, false
				}
				r.length = min(j, size-1) - i + 1
			}
		}
		ranges = append(ranges, r)
	}
	if noOverlap && len(ranges) == 0 {
		return nil, false
	}
	return ranges, true
}

// AnswerSize returns the bytes an answer to the given Range and If-Range
// headers will carry when served by net/http's ServeContent with the
// strong ETag etag, and whether it starts at byte 0 (a new download rather
// than a resumption).
func AnswerSize(rangeHeader, ifRange, etag string, size int64) (n int64, start bool) {
	if rangeHeader == "" || ifRange != "" && ifRange != etag {
		return size, true
	}
	ranges, ok := parseRange(rangeHeader, size)
	if !ok {
		return 0, false // answered 416: nothing sent, nothing started
	}
	if len(ranges) == 0 {
		return size, true
	}
	var sum int64
	for _, r := range ranges {
		sum += r.length
	}
	if sum > size {
		// ServeContent ignores such a Range and sends the whole file.
		return size, true
	}
	return sum, ranges[0].start == 0
}

// CheckRequest applies the request rules of Check to a GET or HEAD of the
// blob of c with the given Range and If-Range headers, answered by
// ServeContent with the ETag "<digest>", the way the origin and edges
// serve downloads. It returns the body bytes the answer will carry, which
// the byte budget is charged. A request counts as a start when its answer
// begins at byte 0 or becomes the whole file, or when IsStart says so.
func (c Claims) CheckRequest(now time.Time, rangeHeader, ifRange, clientIP, filename string) (int64, error) {
	n, isStart := AnswerSize(rangeHeader, ifRange, `"`+c.Digest+`"`, c.Size)
	isStart = isStart || IsStart(rangeHeader, c.Size)
	if err := c.Check(now, isStart, clientIP, filename); err != nil {
		return 0, err
	}
	return n, nil
}
