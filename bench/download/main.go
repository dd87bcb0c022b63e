// Command download prepares Freight's download benchmark (bench/download.sh)
// on a running "freight demo": it publishes a file as an artifact of the
// demo catalogue and hands out download URLs for it, as a customer gets
// them, through the project's Go client.
//
//	download setup  -demo DIR/demo.json -file big.bin     # prints one JSON line
//	download grants -demo DIR/demo.json -artifact art_… -n 64   # one URL a line
//
// setup uploads the file through the upload protocol with the vendor
// admin's token into a new draft release of product millwright (version
// 9.0.0 by default), publishes it on the stable channel and prints the
// artifact: the demo's entitlements let customer globex (rc channel, no
// maintenance cut-off) see and download a new stable release.
//
// grants asks for n download URLs (POST /api/v1/artifacts/{id}/download)
// with the globex customer's token. Every answer is a separate grant with
// its own byte budget and start window, as n customers' browsers would
// each hold one. Any answer outside 2xx stops the program with status 1.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// demoInfo is what this program reads of demo.json.
type demoInfo struct {
	URL   string `json:"url"`
	Admin struct {
		Token string `json:"token"`
	} `json:"admin"`
	Customers []struct {
		Org   string `json:"org"`
		Token string `json:"token"`
	} `json:"customers"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	demo := fs.String("demo", "", "the demo's demo.json (URL and tokens)")
	server := fs.String("server", "", "base URL of the portal (default: the url in demo.json)")
	org := fs.String("org", "globex", "grants: the demo customer whose token asks for the URLs")
	switch os.Args[1] {
	case "setup":
		file := fs.String("file", "", "file to publish")
		product := fs.String("product", "millwright", "product slug of the new release")
		version := fs.String("version", "9.0.0", "version of the new release")
		name := fs.String("name", "", "artifact file name (default: <product>-<version>-linux-x86_64.tar.gz)")
		parallel := fs.Int("parallel", 4, "parts in flight at once")
		fs.Parse(os.Args[2:])
		info := readDemo(*demo)
		if *file == "" {
			fail("-file is required")
		}
		if *name == "" {
			*name = *product + "-" + *version + "-linux-x86_64.tar.gz"
		}
		c := newClient(pick(*server, info.URL), info.Admin.Token, *parallel)
		out, err := setup(c, *file, *product, *version, *name, *parallel)
		if err != nil {
			fail(err.Error())
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	case "grants":
		artifact := fs.String("artifact", "", "artifact id (art_…)")
		n := fs.Int("n", 1, "how many download URLs (grants) to ask for")
		fs.Parse(os.Args[2:])
		info := readDemo(*demo)
		if *artifact == "" || *n < 1 {
			fail("-artifact is required and -n must be at least 1")
		}
		token := ""
		for _, cu := range info.Customers {
			if cu.Org == *org {
				token = cu.Token
			}
		}
		if token == "" {
			fail(fmt.Sprintf("demo.json has no customer %q", *org))
		}
		c := newClient(pick(*server, info.URL), token, 1)
		for range *n {
			g, err := c.Download(context.Background(), *artifact)
			if err != nil {
				fail(err.Error())
			}
			fmt.Println(g.URL)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: download setup -demo demo.json -file FILE | download grants -demo demo.json -artifact ID [-n N]")
	os.Exit(2)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "download: "+msg)
	os.Exit(1)
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func readDemo(path string) *demoInfo {
	if path == "" {
		fail("-demo is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fail(err.Error())
	}
	var info demoInfo
	if err := json.Unmarshal(b, &info); err != nil {
		fail(fmt.Sprintf("%s: %v", path, err))
	}
	return &info
}

func newClient(base, token string, parallel int) *client.Client {
	return client.New(base, token).WithHTTPClient(&http.Client{Transport: &http.Transport{
		Proxy:               nil, // the portal is local; never a proxy
		MaxIdleConnsPerHost: parallel + 2,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
	}})
}

// published is the JSON line setup prints.
type published struct {
	ReleaseID  string `json:"release_id"`
	ArtifactID string `json:"artifact_id"`
	Filename   string `json:"filename"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

func setup(c *client.Client, path, product, version, name string, parallel int) (*published, error) {
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
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return nil, fmt.Errorf("hashing %s: %w", path, err)
	}
	digest := hex.EncodeToString(h.Sum(nil))

	ctx := context.Background()
	rel, err := c.CreateRelease(ctx, product, version, "", "")
	if err != nil {
		return nil, err
	}
	created, err := c.CreateArtifact(ctx, rel.ID, client.NewArtifact{Filename: filepath.Base(name), Platform: "linux", Arch: "x86_64", Size: size, SHA256: digest})
	if err != nil {
		return nil, err
	}
	up := created.Upload
	if up.ID == "" || up.PartSize <= 0 || up.Parts < 1 {
		return nil, fmt.Errorf("the server answered an unusable upload session: %+v", up)
	}
	parts := created.URLs
	for len(parts) < up.Parts {
		var nums []int
		for n := len(parts) + 1; n <= up.Parts && len(nums) < 1000; n++ {
			nums = append(nums, n)
		}
		more, err := c.PartURLs(ctx, up.ID, nums)
		if err != nil {
			return nil, err
		}
		if len(more.URLs) == 0 {
			return nil, fmt.Errorf("the server gave no URLs for parts %d…", nums[0])
		}
		parts = append(parts, more.URLs...)
	}

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
	a, err := c.CompleteUpload(ctx, up.ID)
	if err != nil {
		return nil, err
	}
	if a.State != freight.ArtifactAvailable || a.Size != size || a.SHA256 != digest {
		return nil, fmt.Errorf("after completion the artifact is %+v; want available, %d bytes, sha256 %s", a, size, digest)
	}
	if _, err := c.PublishRelease(ctx, rel.ID); err != nil {
		return nil, err
	}
	return &published{ReleaseID: rel.ID, ArtifactID: created.Artifact.ID, Filename: filepath.Base(name), Size: size, SHA256: digest}, nil
}
