// Package outbox is the embedded freight.Mailer: it writes each message as
// an RFC 5322 file (name.eml) into a folder and logs one line about it. An
// operator, a test or a demo reads the folder; nothing leaves the machine.
//
// Files are written atomically (temporary file, fsync, rename) with mode
// 0600, because a body holds single-use links that sign a person in. For
// the same reason the log line names the recipient, subject, kind and file,
// and never the body.
package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/freight-portal/freight"
)

// Outbox writes mail into a folder. It is safe for concurrent use.
type Outbox struct {
	dir    string
	from   *mail.Address
	domain string
	logger *slog.Logger
	now    func() time.Time
}

var _ freight.Mailer = (*Outbox)(nil)

// New returns an Outbox writing into dir, which it creates (mode 0700) when
// missing. from is the sender, with or without a display name:
// "Freight <noreply@example.com>". A nil logger logs nothing.
func New(dir, from string, logger *slog.Logger) (*Outbox, error) {
	addr, err := mail.ParseAddress(from)
	if err != nil || strings.ContainsAny(from, "\r\n") {
		return nil, freight.FieldError("from", "must be an email address, optionally with a name: Freight <noreply@example.com>")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{
		dir:    dir,
		from:   addr,
		domain: addr.Address[strings.LastIndexByte(addr.Address, '@')+1:],
		logger: logger,
		now:    time.Now,
	}, nil
}

// Dir returns the folder the outbox writes into.
func (o *Outbox) Dir() string { return o.dir }

// Send writes m as a new .eml file. It returns m's validation error
// unchanged, and the context's error if ctx is done before writing starts.
func (o *Outbox) Send(ctx context.Context, m *freight.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := o.now()
	id := random(12)
	msg, err := format(m, o.from, now, "<"+id+"@"+o.domain+">")
	if err != nil {
		return freight.Internal(fmt.Errorf("outbox: %w", err))
	}
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + string(m.Kind) + "-" + id[:16] + ".eml"
	if err := writeFile(o.dir, name, msg); err != nil {
		return freight.Internal(fmt.Errorf("outbox: %w", err))
	}
	o.logger.InfoContext(ctx, "mail written to outbox",
		"kind", string(m.Kind), "to", m.To, "subject", m.Subject, "file", name)
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeFile writes data to dir/name through a temporary file, so that a
// reader of the folder sees a whole message or none.
func writeFile(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*.eml") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	// The rename is durable once the folder itself is synced.
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	d.Sync()
	return nil
}

// format returns m as an RFC 5322 message with CRLF line endings. The body
// is UTF-8 in quoted-printable, which keeps every line short and ASCII
// whatever the text holds; with HTML it is a multipart/alternative of the
// text and the HTML.
func format(m *freight.Message, from *mail.Address, date time.Time, msgID string) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", date.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", m.To)
	header("Subject", encodeSubject(m.Subject))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	// RFC 3834: tells auto-responders not to answer.
	header("Auto-Submitted", "auto-generated")
	header("X-Freight-Kind", string(m.Kind))
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeQP writes s quoted-printable with CRLF line breaks, whatever line
// endings s has.
func writeQP(w io.Writer, s string) error {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}

// encodeSubject returns the subject as it goes in the header: as it is when
// it is printable ASCII, otherwise as RFC 2047 encoded words (base64 UTF-8),
// one per folded line. A subject that holds "=?" is encoded too, so that text
// from a name in it is never read as an encoded word of its own, and so is
// one with spaces around it, which readers would drop.
func encodeSubject(s string) string {
	plain := !strings.Contains(s, "=?") && strings.TrimSpace(s) == s
	for i := 0; i < len(s) && plain; i++ {
		plain = s[i] >= 0x20 && s[i] < 0x7f
	}
	if plain {
		return s
	}
	// 45 bytes make 60 base64 characters: each line stays under 78.
	const chunk = 45
	var words []string
	for len(s) > 0 {
		n := min(chunk, len(s))
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n-- // never split a character between two words
		}
		if n == 0 { // not UTF-8: Validate refuses it, but never loop
			n = min(chunk, len(s))
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}
