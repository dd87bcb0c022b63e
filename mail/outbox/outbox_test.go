package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fmail "github.com/freight-portal/freight/mail"
	"github.com/freight-portal/freight/mail/outbox"
)

// secret is the single-use part of the link: it must reach the file and
// nothing else.
const secret = "Zx9vQ2kP7mT4wR8yB3nL6cF1"

func newOutbox(t *testing.T) (*outbox.Outbox, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
	o, err := outbox.New(filepath.Join(t.TempDir(), "outbox"), "Freight Portal <noreply@downloads.example.com>", logger)
	if err != nil {
		t.Fatal(err)
	}
	return o, &logs
}

func resetMessage(t *testing.T) *freight.Message {
	t.Helper()
	m, err := fmail.Render(freight.MailResetPassword, fmail.Link{
		Name:    "Jörg",
		Link:    "https://downloads.example.com/reset?token=" + secret,
		Expires: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	m.To = "joerg@example.com"
	m.HTML = "" // the plain-text form; TestSendHTML sends the alternative
	return m
}

// readMessage parses one .eml file and returns its headers and decoded body.
func readMessage(t *testing.T, file string) (mail.Header, string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s is not an RFC 5322 message: %v", file, err)
	}
	if got := msg.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", got)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header, strings.ReplaceAll(string(body), "\r\n", "\n")
}

func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("unexpected file %s in the outbox", e.Name())
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
	}
	return files
}

func TestSend(t *testing.T) {
	o, logs := newOutbox(t)
	m := resetMessage(t)
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	files := emlFiles(t, o.Dir())
	if len(files) != 1 {
		t.Fatalf("%d files in the outbox, want 1", len(files))
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode %v, want 0600", got)
	}
	if di, _ := os.Stat(o.Dir()); di.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", di.Mode().Perm())
	}
	raw, _ := os.ReadFile(files[0])
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a line ends in a bare LF; RFC 5322 wants CRLF")
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long", i+1, len(line))
		}
	}

	h, body := readMessage(t, files[0])
	date, err := h.Date()
	if err != nil || time.Since(date) > time.Minute {
		t.Errorf("Date = %v, %v", date, err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "noreply@downloads.example.com" || from[0].Name != "Freight Portal" {
		t.Errorf("From = %v, %v", from, err)
	}
	if got := h.Get("To"); got != "joerg@example.com" {
		t.Errorf("To = %q", got)
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || got != "Reset your password" {
		t.Errorf("Subject = %q, %v", got, err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@downloads.example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("MIME headers: %v", h)
	}
	if h.Get("X-Freight-Kind") != "reset-password" || h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("kind headers: %v", h)
	}
	if body != m.Text {
		t.Errorf("body =\n%s\nwant\n%s", body, m.Text)
	}
	if !strings.Contains(body, "token="+secret) || !strings.Contains(body, "Hello Jörg,") {
		t.Errorf("body lacks the link or the name:\n%s", body)
	}

	// One log line, with what an operator needs and nothing of the body.
	log := logs.String()
	if n := strings.Count(log, "\n"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, log)
	}
	for _, want := range []string{"to=joerg@example.com", `subject="Reset your password"`, "kind=reset-password", "file=" + filepath.Base(files[0])} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, never := range []string{secret, "token", "https://", "Jörg", "expires"} {
		if strings.Contains(log, never) {
			t.Errorf("log holds %q:\n%s", never, log)
		}
	}
}

func TestSendHTML(t *testing.T) {
	o, _ := newOutbox(t)
	m := resetMessage(t)
	m.HTML = `<p>Open <a href="https://downloads.example.com/reset?token=` + secret + `">this link</a>.</p>`
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	files := emlFiles(t, o.Dir())
	f, _ := os.Open(files[0])
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, %v", msg.Header.Get("Content-Type"), err)
	}
	raw, _ := io.ReadAll(msg.Body)
	parts := strings.Split(string(raw), "--"+params["boundary"])
	// preamble, text, html, closing "--"
	if len(parts) != 4 || !strings.Contains(parts[1], "text/plain") || !strings.Contains(parts[2], "text/html") {
		t.Fatalf("parts: %q", parts)
	}
}

func TestSendRefusesInjection(t *testing.T) {
	o, logs := newOutbox(t)
	for _, m := range []*freight.Message{
		{Kind: freight.MailVerifyEmail, To: "a@example.com\r\nBcc: all@example.com", Subject: "x", Text: "y"},
		{Kind: freight.MailVerifyEmail, To: "a@example.com", Subject: "x\r\nBcc: all@example.com", Text: "y"},
		{Kind: freight.MailVerifyEmail, To: "a@example.com", Subject: "x\nBcc: all@example.com", Text: "y"},
	} {
		if err := o.Send(context.Background(), m); freight.ErrorCode(err) != freight.EINVALID {
			t.Errorf("Send(%q, %q) = %v, want EINVALID", m.To, m.Subject, err)
		}
	}
	if files := emlFiles(t, o.Dir()); len(files) != 0 || logs.Len() != 0 {
		t.Errorf("refused messages left %d files and log %q", len(files), logs.String())
	}
}

func TestSendCancelled(t *testing.T) {
	o, _ := newOutbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Send(ctx, resetMessage(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled) = %v, want Canceled", err)
	}
	if files := emlFiles(t, o.Dir()); len(files) != 0 {
		t.Errorf("%d files after a cancelled send", len(files))
	}
}

func TestSendConcurrent(t *testing.T) {
	o, logs := newOutbox(t)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := resetMessage(t)
			m.Text += strings.Repeat("x", i) + "\n"
			if err := o.Send(context.Background(), m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	files := emlFiles(t, o.Dir())
	if len(files) != n {
		t.Fatalf("%d files, want %d: names collided or writes were lost", len(files), n)
	}
	ids := map[string]bool{}
	lengths := map[int]bool{}
	for _, f := range files {
		h, body := readMessage(t, f)
		ids[h.Get("Message-ID")] = true
		lengths[strings.Count(body, "x")] = true
	}
	if len(ids) != n || len(lengths) != n {
		t.Errorf("%d distinct Message-IDs and %d distinct bodies, want %d each", len(ids), len(lengths), n)
	}
	if got := strings.Count(logs.String(), "\n"); got != n {
		t.Errorf("%d log lines, want %d", got, n)
	}
}

func TestNew(t *testing.T) {
	for _, from := range []string{"", "not an address", "a@example.com\r\nBcc: x@example.com"} {
		if _, err := outbox.New(t.TempDir(), from, nil); freight.ErrorCode(err) != freight.EINVALID {
			t.Errorf("New(from %q) = %v, want EINVALID", from, err)
		}
	}
	o, err := outbox.New(t.TempDir(), "noreply@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := resetMessage(t)
	if err := o.Send(context.Background(), m); err != nil {
		t.Errorf("Send with a nil logger: %v", err)
	}
}
