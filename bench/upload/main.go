// Command upload sends one file to a Freight portal through the upload
// protocol, with parts in parallel, and prints one JSON line of timings.
// It is the client half of bench/upload.sh; it uses the standard library
// only, and streams each part from the file (io.NewSectionReader), so its
// memory does not grow with the file.
//
//	go run ./bench/upload -server http://127.0.0.1:8080 -token frt_… -file big.bin
//
// The protocol: create a product and a draft release (setup, not timed),
// create the artifact (which opens the upload session, tells the part size
// and, on current servers, carries the first part URLs), ask for any other
// part URLs (at most 1000 per call), PUT every part to its URL in
// parallel, then complete the upload, which makes the server hash the
// assembled file and commit it in a background job; the client waits for
// the job through the server's 202 answers. Timing starts at the
// artifact's creation; "part" is creation + URLs + PUTs, "complete" is the
// complete call alone, until the artifact is available. Any answer outside 2xx stops the program with status 1.
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
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// maxURLsPerCall is the server's limit on part numbers per urls request.
const maxURLsPerCall = 1000

// result is the JSON line the program prints.
type result struct {
	Bytes           int64   `json:"bytes"`
	Parts           int     `json:"parts"`
	PartSize        int64   `json:"part_size"`
	Parallel        int     `json:"parallel"`
	PartSeconds     float64 `json:"part_seconds"`
	CompleteSeconds float64 `json:"complete_seconds"`
	TotalSeconds    float64 `json:"total_seconds"`
	MBps            float64 `json:"mb_per_s"`      // bytes/1e6 over total_seconds
	PartMBps        float64 `json:"part_mb_per_s"` // bytes/1e6 over part_seconds
	SHA256          string  `json:"sha256"`
	Verified        bool    `json:"verified"` // the declared digest was checked by the server
	// CPU seconds, user and system, over the timed phases: the client's
	// own, and the server's when -server-pid names it (from /proc).
	ClientUser         float64 `json:"client_user_s"`
	ClientSys          float64 `json:"client_sys_s"`
	ServerPartUser     float64 `json:"server_part_user_s,omitempty"`
	ServerPartSys      float64 `json:"server_part_sys_s,omitempty"`
	ServerCompleteUser float64 `json:"server_complete_user_s,omitempty"`
	ServerCompleteSys  float64 `json:"server_complete_sys_s,omitempty"`
	ClientMaxRSSMiB    float64 `json:"client_max_rss_mib"`
	ArtifactID         string  `json:"artifact_id"`
	UploadID           string  `json:"upload_id"`
}

func main() {
	server := flag.String("server", "http://127.0.0.1:8080", "base URL of the portal")
	token := flag.String("token", "", "API token of a user who may publish (frt_…)")
	file := flag.String("file", "", "file to upload")
	parallel := flag.Int("parallel", 8, "parts in flight at once")
	product := flag.String("product", "", "product slug to create (default: bench-<unix nanoseconds>)")
	serverPID := flag.Int("server-pid", 0, "process id of a server on this machine, whose CPU time (from /proc) is reported per phase")
	verify := flag.Bool("verify", true, "hash the file before the timed phase and declare its SHA-256, which the server checks at completion")
	flag.Parse()
	if *token == "" || *file == "" || *parallel < 1 {
		fail("-token and -file are required, and -parallel must be at least 1")
	}
	if *product == "" {
		*product = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	c := client.New(*server, *token).WithHTTPClient(&http.Client{Transport: &http.Transport{
		Proxy:               nil, // the portal is local; never a proxy
		MaxIdleConnsPerHost: *parallel + 2,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      64 << 10,
	}})
	res, err := run(c, *file, *product, *parallel, *verify, *serverPID)
	if err != nil {
		fail(err.Error())
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.ClientMaxRSSMiB = float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
}

// cpu is user and system CPU time in seconds.
type cpu struct{ user, sys float64 }

func (a cpu) minus(b cpu) cpu { return cpu{a.user - b.user, a.sys - b.sys} }

// round keeps hundredths, which is all /proc has.
func (a cpu) round() cpu { return cpu{math.Round(a.user*100) / 100, math.Round(a.sys*100) / 100} }

// selfCPU is the CPU time this process has used so far.
func selfCPU() cpu {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return cpu{}
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpu{tv(ru.Utime), tv(ru.Stime)}
}

// procCPU is the CPU time process pid has used so far, from
// /proc/<pid>/stat (utime and stime, in USER_HZ ticks, 100 a second on
// Linux); zero when pid is 0 or the file cannot be read.
func procCPU(pid int) cpu {
	if pid <= 0 {
		return cpu{}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpu{}
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpu{}
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return cpu{}
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return cpu{}
	}
	return cpu{u / 100, st / 100}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "upload: "+msg)
	os.Exit(1)
}

func run(c *client.Client, path, product string, parallel int, verify bool, serverPID int) (*result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	res := &result{Bytes: size, Parallel: parallel}

	declared := ""
	if verify {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
			return nil, fmt.Errorf("hashing %s: %w", path, err)
		}
		declared = hex.EncodeToString(h.Sum(nil))
	}

	// Setup, not timed.
	ctx := context.Background()
	if _, err := c.CreateProduct(ctx, product, "Upload benchmark "+product, ""); err != nil {
		return nil, err
	}
	rel, err := c.CreateRelease(ctx, product, "1.0.0", "", "")
	if err != nil {
		return nil, err
	}

	start, selfStart, srvStart := time.Now(), selfCPU(), procCPU(serverPID)
	created, err := c.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: filepath.Base(path), Platform: "linux", Arch: "x86_64", Size: size, SHA256: declared})
	if err != nil {
		return nil, err
	}
	up := created.Upload
	if up.ID == "" || up.PartSize <= 0 || up.Parts < 1 {
		return nil, fmt.Errorf("the server answered an unusable upload session: %+v", up)
	}
	res.Parts, res.PartSize, res.ArtifactID, res.UploadID = up.Parts, up.PartSize, created.Artifact.ID, up.ID

	// The creation answer carries the first part URLs; the rest are asked
	// for in batches.
	byNumber := make(map[int]client.PartURL, up.Parts)
	for _, p := range created.URLs {
		byNumber[p.Number] = p
	}
	var missing []int
	for n := 1; n <= up.Parts; n++ {
		if _, ok := byNumber[n]; !ok {
			missing = append(missing, n)
		}
	}
	for len(missing) > 0 {
		nums := missing[:min(len(missing), maxURLsPerCall)]
		missing = missing[len(nums):]
		ans, err := c.PartURLs(ctx, up.ID, nums)
		if err != nil {
			return nil, err
		}
		for _, p := range ans.URLs {
			byNumber[p.Number] = p
		}
	}
	parts := make([]client.PartURL, 0, up.Parts)
	for n := 1; n <= up.Parts; n++ {
		p, ok := byNumber[n]
		if !ok || p.URL == "" {
			return nil, fmt.Errorf("the server gave no URL for part %d", n)
		}
		parts = append(parts, p)
	}
	for _, p := range parts {
		off := int64(p.Number-1) * up.PartSize
		if want := max(min(up.PartSize, size-off), 0); p.Size != want {
			return nil, fmt.Errorf("the server says part %d has %d bytes; the file has %d there", p.Number, p.Size, want)
		}
	}

	// The parts, parallel workers, in order of number.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(parallel, len(parts)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(parts) || ctx.Err() != nil {
					return
				}
				p := parts[i]
				off := int64(p.Number-1) * up.PartSize
				if err := c.PutPart(ctx, p.URL, io.NewSectionReader(f, off, p.Size), p.Size); err != nil {
					cancel(fmt.Errorf("part %d: %w", p.Number, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	partsDone, srvParts := time.Now(), procCPU(serverPID)

	a, err := c.CompleteUpload(ctx, up.ID)
	if err != nil {
		return nil, err
	}
	end, selfEnd, srvEnd := time.Now(), selfCPU(), procCPU(serverPID)
	if a.State != freight.ArtifactAvailable || a.Size != size || a.SHA256 == "" {
		return nil, fmt.Errorf("after completion the artifact is %+v; want available, %d bytes, with a digest", a, size)
	}
	if declared != "" && a.SHA256 != declared {
		return nil, fmt.Errorf("the server stored sha256 %s; the file is %s", a.SHA256, declared)
	}

	c1 := selfEnd.minus(selfStart).round()
	res.ClientUser, res.ClientSys = c1.user, c1.sys
	if serverPID > 0 {
		p, c := srvParts.minus(srvStart).round(), srvEnd.minus(srvParts).round()
		res.ServerPartUser, res.ServerPartSys = p.user, p.sys
		res.ServerCompleteUser, res.ServerCompleteSys = c.user, c.sys
	}
	res.SHA256, res.Verified = a.SHA256, declared != ""
	res.PartSeconds = partsDone.Sub(start).Seconds()
	res.CompleteSeconds = end.Sub(partsDone).Seconds()
	res.TotalSeconds = end.Sub(start).Seconds()
	res.MBps = float64(size) / 1e6 / res.TotalSeconds
	res.PartMBps = float64(size) / 1e6 / res.PartSeconds
	return res, nil
}
