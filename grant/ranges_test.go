package grant

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var zeroTime time.Time

func TestAnswerSize(t *testing.T) {
	const size = 1000
	const etag = `"abc"`
	for _, tc := range []struct {
		rng, ifRange string
		n            int64
		start        bool
	}{
		{"", "", size, true},
		{"bytes=0-99", "", 100, true},
		{"bytes=100-199", "", 100, false},
		{"bytes=500-", "", 500, false},
		{"bytes=0-", "", size, true},
		{"bytes=-100", "", 100, false},
		{"bytes=-5000", "", size, true},
		{"bytes=990-5000", "", 10, false},
		{"bytes=0-9,20-29", "", 20, true},
		{"bytes=0-999,0-999", "", size, true}, // more than the file: ignored
		{"bytes=5000-", "", 0, false},         // 416
		{"bytes=9-1", "", 0, false},
		{"bytes=x-1", "", 0, false},
		{"items=0-1", "", 0, false},
		{"bytes=100-199", etag, 100, false},
		{"bytes=100-199", `"other"`, size, true},
		{"bytes=100-199", "Mon, 02 Jan 2006 15:04:05 GMT", size, true},
	} {
		n, start := AnswerSize(tc.rng, tc.ifRange, etag, size)
		if n != tc.n || start != tc.start {
			t.Errorf("AnswerSize(%q, %q) = %d, %v; want %d, %v", tc.rng, tc.ifRange, n, start, tc.n, tc.start)
		}
	}
}

// FuzzAnswerSize checks that the budget is charged exactly what
// net/http's ServeContent sends, for any Range header.
func FuzzAnswerSize(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=-1", "bytes=1-2,4-5", "bytes= 3 - 4 ", "bytes=0-0,-1", "bytes=,", "bytes=10-", "bytes=-0"} {
		f.Add(s, uint16(10))
	}
	f.Fuzz(func(t *testing.T, rng string, size16 uint16) {
		size := int64(size16 % 2000)
		content := strings.Repeat("x", int(size))
		n, _ := AnswerSize(rng, "", `"e"`, size)
		req := httptest.NewRequest("GET", "/", nil)
		if rng != "" {
			req.Header["Range"] = []string{rng}
		}
		w := httptest.NewRecorder()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, req, "", zeroTime, strings.NewReader(content))
		body, _ := io.ReadAll(w.Body)
		var sent int64
		switch w.Code {
		case http.StatusOK, http.StatusPartialContent:
			if ct := w.Header().Get("Content-Type"); strings.HasPrefix(ct, "multipart/byteranges") {
				sent = countParts(t, ct, body)
			} else {
				sent = int64(len(body))
			}
		case http.StatusRequestedRangeNotSatisfiable:
			sent = 0
		default:
			t.Fatalf("status %d", w.Code)
		}
		if sent != n {
			t.Fatalf("Range %q on %d bytes: ServeContent sent %d content bytes, AnswerSize says %d", rng, size, sent, n)
		}
	})
}

// countParts sums the content bytes of a multipart/byteranges body.
func countParts(t *testing.T, ct string, body []byte) int64 {
	var boundary string
	fmt.Sscanf(ct[strings.Index(ct, "boundary=")+len("boundary="):], "%s", &boundary)
	var n int64
	for _, part := range strings.Split(string(body), "--"+boundary) {
		_, content, ok := strings.Cut(part, "\r\n\r\n")
		if !ok {
			continue
		}
		n += int64(len(strings.TrimSuffix(content, "\r\n")))
	}
	return n
}
