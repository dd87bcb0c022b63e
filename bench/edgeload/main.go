// Command edgeload is the release-day benchmark's origin and load
// generator (see bench/edge.sh).
//
//	edgeload origin -dir D -addr A -size N -rate R -grants G
//
// runs a real Freight portal (SQLite and a file blob store in D) with one
// artifact of N pseudo-random bytes, an edge record, and G grants; it
// writes D/setup.json (the portal URL, the edge credential, the blob's
// digest and G download paths) and serves, besides the portal, the blob
// as a plain file at /blob/<sha256> for a caching proxy. Every blob byte
// sent, to an edge or to the proxy, passes one shared limiter of R bytes
// per second (an uplink) and is counted; GET /stats answers the counts.
//
//	edgeload load -base URL -paths FILE -clients C [-verify K] [-segments S]
//
// starts C clients at once, each downloading one path (round-robin over
// the list) from base, and prints JSON: time to first byte p50/p99/max,
// seconds, bytes, throughput, failures; every K-th client checks the
// SHA-256 of what it got. With S > 1 each client downloads in S parallel
// Range requests, as download managers and freight download do; its time
// to first byte is that of its first segment to answer, and a checking
// client assembles its segments in a temporary file.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/grant"
	"github.com/freight-portal/freight/seal"
	"github.com/freight-portal/freight/server"
	"github.com/freight-portal/freight/signing"
	"github.com/freight-portal/freight/sqlstore"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: edgeload origin|load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "origin":
		err = origin(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeload:", err)
		os.Exit(1)
	}
}

type setup struct {
	Origin     string   `json:"origin"`
	Credential string   `json:"credential"`
	SHA256     string   `json:"sha256"`
	Size       int64    `json:"size"`
	Paths      []string `json:"paths"`
}

func origin(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ExitOnError)
	dir := fs.String("dir", "", "work directory")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	size := fs.Int64("size", 64<<20, "blob size")
	rate := fs.Int64("rate", 8<<20, "uplink bytes per second (0: unlimited)")
	grants := fs.Int("grants", 1000, "grants to issue")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(*dir, "freight.db"), logger)
	if err != nil {
		return err
	}
	defer db.Close()
	// A run's secrets live as long as its work directory: a key of its own
	// seals them.
	line, err := seal.NewKeyLine("bench")
	if err != nil {
		return err
	}
	sealKeys, err := seal.Parse(line)
	if err != nil {
		return err
	}
	db.SealWith(sealKeys)
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	blobs, err := fsblob.New(filepath.Join(*dir, "blobs"))
	if err != nil {
		return err
	}
	content := make([]byte, *size)
	rand.NewChaCha8([32]byte{7}).Read(content)
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	if err := blobs.Put(ctx, digest, *size, bytes.NewReader(content)); err != nil {
		return err
	}
	content = nil
	p := &freight.Product{Slug: "bench", Name: "Bench"}
	if err := db.CreateProduct(ctx, p); err != nil {
		return err
	}
	rel := &freight.Release{ProductID: p.ID, Version: "1.0.0", Channel: freight.ChannelStable}
	if err := db.CreateRelease(ctx, rel); err != nil {
		return err
	}
	a := &freight.Artifact{ReleaseID: rel.ID, Filename: "release.iso", Platform: "linux", Arch: "x86_64", Size: *size, SHA256: digest, State: freight.ArtifactAvailable}
	if err := db.CreateArtifact(ctx, a); err != nil {
		return err
	}
	id, secret, hash := freight.NewEdgeSecret(time.Now())
	if err := db.CreateEdge(ctx, &freight.Edge{ID: id, Name: "bench-edge", SecretHash: hash}); err != nil {
		return err
	}
	keys := signing.NewKeyring(db, freight.KeyGrants, time.Now)
	st := setup{Credential: secret, SHA256: digest, Size: *size}
	now := time.Now()
	for range *grants {
		g := &freight.Grant{ArtifactID: a.ID, Actor: "usr_bench", IP: "127.0.0.1", Digest: digest, Size: *size, Filename: a.Filename,
			StartBy: now.Add(time.Hour), ResumeUntil: now.Add(2 * time.Hour), ByteBudget: 3 * *size}
		if err := db.CreateGrant(ctx, g); err != nil {
			return err
		}
		tok, err := grant.Encode(ctx, keys, grant.ClaimsOf(g))
		if err != nil {
			return err
		}
		st.Paths = append(st.Paths, "/d/"+tok+"/"+a.Filename)
	}
	portal := server.New(db, blobs, logger, server.Config{})
	lim := &limiter{rate: *rate}
	var sent, requests atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]int64{"blob_bytes": sent.Load(), "blob_requests": requests.Load()})
	})
	mux.HandleFunc("GET /blob/{sha256}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("sha256") != digest {
			http.NotFound(w, r)
			return
		}
		f, err := blobs.File(r.Context(), digest)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		requests.Add(1)
		w.Header().Set("ETag", `"`+digest+`"`)
		http.ServeContent(&metered{ResponseWriter: w, lim: lim, n: &sent}, r, "", time.Time{}, f)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/edge/blobs/") {
			requests.Add(1)
			w = &metered{ResponseWriter: w, lim: lim, n: &sent}
		}
		portal.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	st.Origin = "http://" + ln.Addr().String()
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(*dir, "setup.json"), b, 0o600); err != nil {
		return err
	}
	hs := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// limiter paces all blob bytes to rate bytes per second.
type limiter struct {
	rate int64
	mu   sync.Mutex
	next time.Time
}

func (l *limiter) wait(n int) {
	if l.rate <= 0 {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(int64(n) * int64(time.Second) / l.rate))
	until := l.next
	l.mu.Unlock()
	time.Sleep(time.Until(until))
}

// metered writes through the limiter and counts; it hides ReadFrom, so
// every byte passes Write.
type metered struct {
	http.ResponseWriter
	lim *limiter
	n   *atomic.Int64
}

func (m *metered) Write(p []byte) (int, error) {
	var total int
	for len(p) > 0 {
		c := p[:min(len(p), 64<<10)]
		m.lim.wait(len(c))
		n, err := m.ResponseWriter.Write(c)
		total += n
		m.n.Add(int64(n))
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

func (m *metered) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{m}, r, make([]byte, 64<<10))
}

type result struct {
	Clients    int     `json:"clients"`
	Failures   int     `json:"failures"`
	Unfinished int     `json:"unfinished"` // stopped at the deadline
	BadDigests int     `json:"bad_digests"`
	Verified   int     `json:"verified"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	MBps       float64 `json:"throughput_mb_s"`
	TTFBp50    float64 `json:"ttfb_p50_s"`
	TTFBp99    float64 `json:"ttfb_p99_s"`
	TTFBmax    float64 `json:"ttfb_max_s"`
	FirstError string  `json:"first_error,omitempty"`
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	base := fs.String("base", "", "base URL")
	pathsFile := fs.String("paths", "", "setup.json with the paths, or a file of one path a line")
	clients := fs.Int("clients", 1000, "concurrent clients")
	verify := fs.Int("verify", 20, "every K-th client checks the SHA-256")
	deadline := fs.Duration("deadline", 0, "stop clients still downloading after this long (0: never); they count as unfinished")
	segments := fs.Int("segments", 1, "parallel Range requests per client")
	fs.Parse(args)
	b, err := os.ReadFile(*pathsFile)
	if err != nil {
		return err
	}
	var st setup
	if json.Unmarshal(b, &st) != nil {
		st.Paths = strings.Fields(string(b))
	}
	if len(st.Paths) == 0 {
		return fmt.Errorf("no paths in %s", *pathsFile)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *clients * *segments, DisableCompression: true}
	client := &http.Client{Transport: tr}
	ttfb := make([]float64, *clients)
	var bytesGot atomic.Int64
	var mu sync.Mutex
	res := result{Clients: *clients}
	var wg sync.WaitGroup
	ctx := context.Background()
	if *deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *deadline)
		defer cancel()
	}
	start := time.Now()
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			res.Unfinished++
			return
		}
		res.Failures++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	checked := func(sum []byte) {
		mu.Lock()
		defer mu.Unlock()
		res.Verified++
		if st.SHA256 != "" && hex.EncodeToString(sum) != st.SHA256 {
			res.BadDigests++
		}
	}
	for i := range *clients {
		u := *base + st.Paths[i%len(st.Paths)]
		check := *verify > 0 && i%*verify == 0
		if *segments > 1 {
			wg.Go(func() {
				if err := segmented(ctx, client, u, st.Size, *segments, check, &ttfb[i], &bytesGot, checked); err != nil {
					fail(err)
				}
			})
			continue
		}
		wg.Go(func() {
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			r, err := client.Do(req)
			if err != nil {
				fail(err)
				return
			}
			defer r.Body.Close()
			if r.StatusCode != 200 {
				fail(fmt.Errorf("status %d", r.StatusCode))
				return
			}
			var buf [1]byte
			if _, err := io.ReadFull(r.Body, buf[:]); err != nil {
				fail(err)
				return
			}
			ttfb[i] = time.Since(t0).Seconds()
			var w io.Writer = io.Discard
			h := sha256.New()
			if check {
				h.Write(buf[:])
				w = h
			}
			_, err = io.CopyBuffer(&counted{w, &bytesGot}, r.Body, make([]byte, 256<<10))
			bytesGot.Add(1)
			if err != nil {
				fail(err)
				return
			}
			if check {
				checked(h.Sum(nil))
			}
		})
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Bytes = bytesGot.Load()
	res.MBps = float64(res.Bytes) / res.Seconds / 1e6
	var ok []float64
	for _, v := range ttfb {
		if v > 0 {
			ok = append(ok, v)
		}
	}
	slices.Sort(ok)
	if len(ok) > 0 {
		res.TTFBp50 = ok[len(ok)/2]
		res.TTFBp99 = ok[min(len(ok)-1, len(ok)*99/100)]
		res.TTFBmax = ok[len(ok)-1]
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// segmented downloads u of size bytes in n parallel Range requests. A
// checking client writes the segments into a temporary file and reports
// its digest through checked.
func segmented(ctx context.Context, client *http.Client, u string, size int64, n int, check bool,
	ttfb *float64, got *atomic.Int64, checked func([]byte)) error {
	if size <= 0 {
		return fmt.Errorf("segmented downloads need the blob size in setup.json")
	}
	var f *os.File
	if check {
		var err error
		if f, err = os.CreateTemp("", "edgeload-*"); err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
	}
	t0 := time.Now()
	var first sync.Once
	seg := (size + int64(n) - 1) / int64(n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for k := range int64(n) {
		from, to := k*seg, min((k+1)*seg, size)-1
		if from > to {
			continue
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
			r, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer r.Body.Close()
			if r.StatusCode != http.StatusPartialContent {
				errs <- fmt.Errorf("segment %d-%d: status %d", from, to, r.StatusCode)
				return
			}
			buf := make([]byte, 256<<10)
			off := from
			for {
				m, err := r.Body.Read(buf)
				if m > 0 {
					first.Do(func() { *ttfb = time.Since(t0).Seconds() })
					got.Add(int64(m))
					if f != nil {
						if _, werr := f.WriteAt(buf[:m], off); werr != nil {
							errs <- werr
							return
						}
					}
					off += int64(m)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- err
					return
				}
			}
			if off != to+1 {
				errs <- fmt.Errorf("segment %d-%d: got %d bytes", from, to, off-from)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if f != nil {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
			return err
		}
		checked(h.Sum(nil))
	}
	return nil
}

// counted counts what it writes as it goes, so that clients stopped at the
// deadline still count what they received.
type counted struct {
	w io.Writer
	n *atomic.Int64
}

func (c *counted) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
