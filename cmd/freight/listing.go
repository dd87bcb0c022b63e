package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// catalogFlags declares "freight catalog", which lists what the caller may
// download: every release with its files, newest first.
func catalogFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var cc clientConfig
	var f client.CatalogFilter
	cc.flags(fs)
	fs.StringVar(&f.Product, "product", "", "only this product (slug or id)")
	fs.StringVar(&f.Platform, "platform", "", "only files for this platform (or for any), like windows, linux or macos")
	fs.StringVar(&f.Arch, "arch", "", "only files for this architecture (or for any), like x86_64 or arm64")
	return func(ctx context.Context, stdout, _ io.Writer) error {
		cl, err := cc.client()
		if err != nil {
			return err
		}
		entries, err := catalog(ctx, cl, f)
		if err != nil {
			return fmt.Errorf("reading the catalogue: %w", err)
		}
		if cc.json {
			return printJSON(stdout, entries)
		}
		if len(entries) == 0 {
			fmt.Fprintln(stdout, "Nothing to download: no release you may download matches.")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PRODUCT\tVERSION\tCHANNEL\tPUBLISHED\tFILE\tPLATFORM\tSIZE\tID")
		for _, e := range entries {
			for _, a := range e.Artifacts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", e.Product.Slug, e.Release.Version, e.Release.Channel,
					published(e.Release), a.Filename, a.Platform, a.Arch, size(a.Size), a.ID)
			}
			if len(e.Artifacts) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t(no files)\t\t\t\n", e.Product.Slug, e.Release.Version, e.Release.Channel, published(e.Release))
			}
		}
		return tw.Flush()
	}
}

// releasesFlags declares "freight releases", which lists the versions of
// one product the caller may download.
func releasesFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var cc clientConfig
	cc.flags(fs)
	return func(ctx context.Context, stdout, _ io.Writer) error {
		if fs.NArg() != 1 {
			return usageError{errors.New("releases: name one product, like: freight releases millwright")}
		}
		product := fs.Arg(0)
		cl, err := cc.client()
		if err != nil {
			return err
		}
		entries, err := catalog(ctx, cl, client.CatalogFilter{Product: product})
		if err != nil {
			return fmt.Errorf("reading the catalogue: %w", err)
		}
		if len(entries) == 0 {
			// Not entitled, or no such product: the server tells them apart
			// for no one, and neither does this.
			return fmt.Errorf("no release of %q that you may download (freight catalog lists what you may)", product)
		}
		if cc.json {
			return printJSON(stdout, entries)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tCHANNEL\tPUBLISHED\tFILES")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Release.Version, e.Release.Channel, published(e.Release), platforms(e.Artifacts))
		}
		return tw.Flush()
	}
}

// upgradeConfig holds the settings of "freight upgrade".
type upgradeConfig struct {
	cc       clientConfig
	fetch    fetchOptions
	product  string
	from     string
	channel  string
	platform string
	arch     string
	download bool
}

// upgradeFlags declares "freight upgrade", which names the newest release
// newer than the caller's that it may download, and fetches it on demand.
func upgradeFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c upgradeConfig
	c.cc.flags(fs)
	c.fetch.flags(fs)
	fs.StringVar(&c.product, "product", "", "product slug or id (required)")
	fs.StringVar(&c.from, "from", "", "the version you have, like 1.4.2 (required)")
	fs.StringVar(&c.channel, "channel", "", "least stable channel to consider: stable, rc, beta, alpha or dev (default: every channel you may download)")
	fs.StringVar(&c.platform, "platform", "", "only a release with a file for this platform, like windows, linux or macos")
	fs.StringVar(&c.arch, "arch", "", "only a release with a file for this architecture, like x86_64 or arm64")
	fs.BoolVar(&c.download, "download", false, "also download the release's files (those for --platform and --arch when given) into --dir")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return c.run(ctx, stdout, stderr)
	}
}

// upgradeOutput is what upgrade --json prints.
type upgradeOutput struct {
	Product   string               `json:"product"`
	From      string               `json:"from"`
	UpToDate  bool                 `json:"up_to_date"`
	Release   *client.CatalogEntry `json:"release"` // null when up to date
	Downloads []fetchResult        `json:"downloads,omitempty"`
}

func (c *upgradeConfig) run(ctx context.Context, stdout, stderr io.Writer) error {
	if c.product == "" || c.from == "" {
		return usageError{errors.New("upgrade: --product and --from are required")}
	}
	if _, err := freight.ParseVersion(c.from); err != nil {
		return usageError{fmt.Errorf("upgrade: --from: %s", freight.ErrorMessage(err))}
	}
	if c.channel != "" && !freight.Channel(c.channel).Valid() {
		return usageError{errors.New("upgrade: --channel must be stable, rc, beta, alpha or dev")}
	}
	if err := c.fetch.check("upgrade"); err != nil {
		return err
	}
	cl, err := c.cc.client()
	if err != nil {
		return err
	}
	e, err := cl.Upgrade(ctx, c.product, c.from, freight.Channel(c.channel), c.platform, c.arch)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	out := upgradeOutput{Product: c.product, From: c.from, UpToDate: e == nil, Release: e}
	if e == nil {
		if c.cc.json {
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "%s %s is up to date: there is no newer release you may download%s.\n", c.product, c.from, forPlatform(c.platform, c.arch))
		return nil
	}
	if !c.cc.json {
		fmt.Fprintf(stdout, "%s %s (%s, published %s) is newer than %s.\n", e.Product.Slug, e.Release.Version, e.Release.Channel, published(e.Release), c.from)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tPLATFORM\tSIZE\tID")
		for _, a := range e.Artifacts {
			fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\n", a.Filename, a.Platform, a.Arch, size(a.Size), a.ID)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if c.download {
		prog := newProgress(stderr, c.fetch.quiet)
		for _, a := range e.Artifacts {
			res, err := c.fetch.fetch(ctx, cl, remoteFileOf(a), nil, filepath.Join(c.fetch.dir, a.Filename), prog)
			if err != nil {
				prog.Close()
				return err
			}
			out.Downloads = append(out.Downloads, res)
		}
		prog.Close()
		if !c.cc.json {
			for _, res := range out.Downloads {
				printFetchedLine(stdout, res)
			}
		}
	}
	if c.cc.json {
		return printJSON(stdout, out)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	if entries, ok := v.([]client.CatalogEntry); ok && entries == nil {
		v = []client.CatalogEntry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// published is a release's publication date, or its state when it has none.
func published(r *freight.Release) string {
	switch {
	case r.State == freight.ReleaseYanked:
		return "yanked"
	case r.PublishedAt == nil:
		return string(r.State)
	}
	return r.PublishedAt.UTC().Format("2006-01-02")
}

// platforms summarises a release's files: "3: windows/x86_64, linux/x86_64".
func platforms(arts []*freight.Artifact) string {
	var ps []string
	for _, a := range arts {
		ps = append(ps, a.Platform+"/"+a.Arch)
	}
	return fmt.Sprintf("%d: %s", len(arts), strings.Join(ps, ", "))
}
