package smtp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/mail/smtp"
)

const (
	user = "portal"
	pass = "s3cret-Pa55word"
)

// received is one message as the server got it.
type received struct {
	from   string
	to     []string
	data   []byte
	authed string
	tls    bool
}

// server is a real SMTP server on a loopback port, from go-smtp, that
// requires AUTH PLAIN with the test's credentials.
type server struct {
	mu    sync.Mutex
	msgs  []received
	addr  string
	roots *x509.CertPool
}

func (s *server) last(t *testing.T) received {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		t.Fatal("the server received no message")
	}
	return s.msgs[len(s.msgs)-1]
}

type session struct {
	srv  *server
	conn *gosmtp.Conn
	cur  received
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != user || password != pass {
			return errors.New("invalid credentials")
		}
		x.cur.authed = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if x.cur.authed == "" {
		return gosmtp.ErrAuthRequired
	}
	x.cur.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	x.cur.to = append(x.cur.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.cur.data = b
	_, x.cur.tls = x.conn.TLSConnectionState()
	x.srv.mu.Lock()
	x.srv.msgs = append(x.srv.msgs, x.cur)
	x.srv.mu.Unlock()
	return nil
}

func (x *session) Reset()        { x.cur = received{authed: x.cur.authed} }
func (x *session) Logout() error { return nil }

// startServer runs a server until the test ends; implicit makes it speak
// TLS from the first byte, otherwise it offers STARTTLS.
func startServer(t *testing.T, implicit bool) *server {
	t.Helper()
	cert, roots := testCert(t)
	s := &server{roots: roots}
	be := gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &session{srv: s, conn: c}, nil })
	gs := gosmtp.NewServer(be)
	gs.Domain = "localhost"
	// AUTH on a plain connection, for the tls=none test; the client
	// only does that to a loopback address.
	gs.AllowInsecureAuth = true
	gs.ReadTimeout, gs.WriteTimeout = 10*time.Second, 10*time.Second
	gs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	var l net.Listener
	var err error
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", gs.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go gs.Serve(l)
	t.Cleanup(func() { gs.Close() })
	return s
}

// testCert makes a self-signed certificate for 127.0.0.1.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

func (s *server) config(mode string) smtp.Config {
	host, port, _ := net.SplitHostPort(s.addr)
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	return smtp.Config{Host: host, Port: p, TLS: mode, Username: user, Password: pass, From: "Downloads <downloads@vendor.example>",
		Timeout: 10 * time.Second, TLSConfig: &tls.Config{RootCAs: s.roots, ServerName: host}}
}

var msg = &freight.Message{
	Kind: freight.MailResetPassword, To: "ann@example.com", Subject: "Réinitialiser votre mot de passe",
	Text: "Hello Ann,\n\nhttps://downloads.example.com/reset-password?token=frl_abc\n",
	HTML: "<p>Hello Ann,</p><p><a href=\"https://downloads.example.com/reset-password?token=frl_abc\">Reset</a></p>\n",
}

func TestSendOverTLS(t *testing.T) {
	for _, mode := range []string{smtp.TLSStartTLS, smtp.TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			srv := startServer(t, mode == smtp.TLSImplicit)
			var logs bytes.Buffer
			m, err := smtp.New(srv.config(mode), slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Send(t.Context(), msg); err != nil {
				t.Fatal(err)
			}
			got := srv.last(t)
			if !got.tls || got.authed != user {
				t.Errorf("tls %v, authenticated as %q; want TLS and %q", got.tls, got.authed, user)
			}
			if got.from != "downloads@vendor.example" || len(got.to) != 1 || got.to[0] != "ann@example.com" {
				t.Errorf("envelope from %q to %q", got.from, got.to)
			}
			checkMessage(t, got.data)
			for _, secret := range []string{pass, "frl_abc", "Hello Ann"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("the log shows %q:\n%s", secret, logs.String())
				}
			}
			if !strings.Contains(logs.String(), "mail sent") || !strings.Contains(logs.String(), "reset-password") {
				t.Errorf("the log does not record the mail: %s", logs.String())
			}
		})
	}
}

// checkMessage parses the received message and checks headers and both
// parts.
func checkMessage(t *testing.T, data []byte) {
	t.Helper()
	pm, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the received message does not parse: %v\n%s", err, data)
	}
	h := pm.Header
	dec := new(mimeDecoder)
	if subj, err := dec.DecodeHeader(h.Get("Subject")); err != nil || subj != msg.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, msg.Subject)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != "downloads@vendor.example" || from.Name != "Downloads" {
		t.Errorf("From = %q", h.Get("From"))
	}
	if h.Get("To") != "<ann@example.com>" && h.Get("To") != "ann@example.com" {
		t.Errorf("To = %q", h.Get("To"))
	}
	if h.Get("Message-Id") == "" || h.Get("Date") == "" || h.Get("X-Freight-Mail") != "reset-password" {
		t.Errorf("headers: Message-Id %q, Date %q, X-Freight-Mail %q", h.Get("Message-Id"), h.Get("Date"), h.Get("X-Freight-Mail"))
	}
	text, html := parts(t, pm)
	if text != msg.Text {
		t.Errorf("text part = %q, want %q", text, msg.Text)
	}
	if html != msg.HTML {
		t.Errorf("HTML part = %q, want %q", html, msg.HTML)
	}
}

func TestSendPlainToLoopback(t *testing.T) {
	srv := startServer(t, false)
	cfg := srv.config(smtp.TLSNone)
	m, err := smtp.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t); got.tls {
		t.Error("tls=none used TLS")
	}
}

func TestSendFails(t *testing.T) {
	srv := startServer(t, false)
	t.Run("WrongPassword", func(t *testing.T) {
		cfg := srv.config(smtp.TLSStartTLS)
		cfg.Password = "wrong-password-value"
		m, err := smtp.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(t.Context(), msg)
		if freight.ErrorCode(err) != freight.EUNAVAILABLE {
			t.Fatalf("Send = %v, want EUNAVAILABLE", err)
		}
		if strings.Contains(err.Error(), "wrong-password-value") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("UntrustedCertificate", func(t *testing.T) {
		cfg := srv.config(smtp.TLSStartTLS)
		cfg.TLSConfig = nil // the system roots do not know the test CA
		m, _ := smtp.New(cfg, nil)
		if err := m.Send(t.Context(), msg); freight.ErrorCode(err) != freight.EUNAVAILABLE {
			t.Errorf("Send = %v, want EUNAVAILABLE", err)
		}
	})
	t.Run("NoServer", func(t *testing.T) {
		cfg := srv.config(smtp.TLSStartTLS)
		cfg.Port = 1
		m, _ := smtp.New(cfg, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := m.Send(ctx, msg); freight.ErrorCode(err) != freight.EUNAVAILABLE {
			t.Errorf("Send = %v, want EUNAVAILABLE", err)
		}
	})
	t.Run("InvalidMessage", func(t *testing.T) {
		m, _ := smtp.New(srv.config(smtp.TLSStartTLS), nil)
		bad := *msg
		bad.To = "ann@example.com\r\nBcc: eve@example.com"
		if err := m.Send(t.Context(), &bad); freight.ErrorCode(err) != freight.EINVALID {
			t.Errorf("Send = %v, want EINVALID", err)
		}
	})
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want smtp.Config
		err  string
	}{
		{url: "smtp://u:p%40ss@mail.example.com?from=d@example.com", want: smtp.Config{Host: "mail.example.com", Port: 587, TLS: "starttls", Username: "u", Password: "p@ss", From: "d@example.com", Timeout: smtp.DefaultTimeout}},
		{url: "smtps://u:p@mail.example.com?from=d@example.com&timeout=5s", want: smtp.Config{Host: "mail.example.com", Port: 465, TLS: "tls", Username: "u", Password: "p", From: "d@example.com", Timeout: 5 * time.Second}},
		{url: "smtp://localhost:25?tls=none&from=d@example.com", want: smtp.Config{Host: "localhost", Port: 25, TLS: "none", From: "d@example.com", Timeout: smtp.DefaultTimeout}},
		{url: "smtp://u:hunter2@relay.example.com:25?tls=none&from=d@example.com", err: "without TLS"},
		{url: "smtp://mail.example.com?tls=maybe&from=d@example.com", err: "TLS mode"},
		{url: "smtps://mail.example.com?tls=starttls&from=d@example.com", err: "always tls"},
		{url: "smtp://mail.example.com", err: "from address"},
		{url: "smtp://mail.example.com?from=d@example.com&pasword=x", err: "unknown URL parameter"},
		{url: "http://mail.example.com", err: "scheme"},
		{url: "smtp://mail.example.com:99999?from=d@example.com", err: "port"},
		{url: "smtp:///?from=d@example.com", err: "no host"},
		{url: "smtp://u:hunter2@mail.example.com:x?from=d@example.com", err: "malformed"},
	} {
		got, err := smtp.ParseURL(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %v, want an error about %q", tc.url, err, tc.err)
			} else if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("ParseURL(%q) error shows the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	if _, err := smtp.New(smtp.Config{Host: "mail.example.com", From: "not an address"}, nil); err == nil {
		t.Error("New accepted an invalid from address")
	}
}

// FuzzParseURL: any string gives a config or an error, never a panic, and
// an error never shows the URL's password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtp://u:p@h:587?tls=starttls&from=a@b.c", "smtps://h?from=x", "smtp://u:secret@h:x", "smtp://[::1]:25?tls=none&from=a@b", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := smtp.ParseURL(raw)
		if err != nil {
			if c != (smtp.Config{}) && c.Password != "" && len(c.Password) > 3 && strings.Contains(err.Error(), c.Password) {
				t.Errorf("error shows the password: %v", err)
			}
			return
		}
		if c.Host == "" || c.From == "" || c.Port < 1 || c.Port > 65535 {
			t.Errorf("ParseURL(%q) = %+v without error", raw, c)
		}
	})
}
