package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports how a transfer goes: on a terminal one line per file,
// redrawn in place with rate and ETA; otherwise (or with quiet) a plain
// line every few seconds, which CI logs keep readable.
type progress struct {
	out   io.Writer
	tty   bool
	quiet bool

	mu    sync.Mutex
	bars  []*bar
	stop  chan struct{}
	done  chan struct{}
	lines int // lines drawn last time, on a terminal
}

// bar is one file's transfer. It shows how much of the file is done, but
// its rate and ETA count only the bytes moved since it started: bytes an
// earlier run transferred are done already, not done fast.
type bar struct {
	name  string
	total int64
	n     atomic.Int64 // done, whenever transferred
	moved atomic.Int64 // transferred since start
	start time.Time
	state atomic.Value // string: "", "done", "failed: …"
}

// Add counts n more bytes transferred (fewer, when n < 0: bytes sent in an
// attempt that failed and that count no more).
func (b *bar) Add(n int64) {
	b.n.Add(n)
	b.moved.Add(n)
}

// Set sets how much of the file is done without transferring it: what a
// resumed transfer finds done already.
func (b *bar) Set(n int64) { b.n.Store(n) }

// Finish marks the bar done or failed.
func (b *bar) Finish(err error) {
	if err != nil {
		b.state.Store("failed: " + err.Error())
		return
	}
	b.state.Store("done")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newProgress(out io.Writer, quiet bool) *progress {
	p := &progress{out: out, tty: isTerminal(out) && !quiet, quiet: quiet, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// Bar starts a bar for a file of total bytes.
func (p *progress) Bar(name string, total int64) *bar {
	b := &bar{name: name, total: total, start: time.Now()}
	b.state.Store("")
	p.mu.Lock()
	p.bars = append(p.bars, b)
	p.mu.Unlock()
	return b
}

// Close draws the final state and stops.
func (p *progress) Close() {
	close(p.stop)
	<-p.done
}

func (p *progress) loop() {
	defer close(p.done)
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.draw(true)
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

func (p *progress) draw(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet && !final {
		return
	}
	if p.tty && p.lines > 0 {
		fmt.Fprintf(p.out, "\x1b[%dA", p.lines) // back to the first bar
	}
	p.lines = 0
	for _, b := range p.bars {
		line := b.line()
		if p.tty {
			fmt.Fprintf(p.out, "\r\x1b[K%s\n", line)
			p.lines++
		} else if final || b.state.Load().(string) == "" {
			fmt.Fprintln(p.out, line)
		}
	}
}

func (b *bar) line() string {
	n := b.n.Load()
	el := time.Since(b.start).Seconds()
	rate := 0.0
	if moved := b.moved.Load(); el > 0 && moved > 0 {
		rate = float64(moved) / el
	}
	pct := 100.0
	if b.total > 0 {
		pct = 100 * float64(n) / float64(b.total)
	}
	switch st := b.state.Load().(string); st {
	case "done":
		if rate == 0 {
			return fmt.Sprintf("%-40s %s  done, nothing to transfer", short(b.name, 40), size(b.total))
		}
		return fmt.Sprintf("%-40s %s  done, %s/s", short(b.name, 40), size(b.total), size(int64(rate)))
	case "":
		eta := "--"
		if rate > 0 && n < b.total {
			eta = (time.Duration(float64(b.total-n)/rate) * time.Second).Round(time.Second).String()
		}
		return fmt.Sprintf("%-40s %5.1f%% %s/%s  %s/s  ETA %s", short(b.name, 40), pct, size(n), size(b.total), size(int64(rate)), eta)
	default:
		return fmt.Sprintf("%-40s %s", short(b.name, 40), st)
	}
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// size formats a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
