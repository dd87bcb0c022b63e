package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/freight-portal/freight/client"
)

// clientConfig is what every client command needs: where the portal is
// and the token to act with. Flags and FREIGHT_SERVER / FREIGHT_TOKEN come
// first; otherwise the file "freight login" wrote.
type clientConfig struct {
	server, token string
	json          bool
}

func (c *clientConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "the portal's URL (default: from freight login)")
	fs.StringVar(&c.token, "token", "", "API token (default: from freight login)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts instead of text for people")
}

// loginFile is where "freight login" keeps the server and token.
func loginFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "freight", "login.json"), nil
}

type login struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// client returns an API client, or an error that says how to configure one.
func (c *clientConfig) client() (*client.Client, error) {
	if c.server == "" || c.token == "" {
		if path, err := loginFile(); err == nil {
			var l login
			if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &l) == nil {
				c.server = cmp(c.server, l.Server)
				c.token = cmp(c.token, l.Token)
			}
		}
	}
	if c.server == "" || c.token == "" {
		return nil, errors.New("no server or token: pass --server and --token, set FREIGHT_SERVER and FREIGHT_TOKEN, or run freight login")
	}
	return client.New(c.server, c.token).WithUserAgent("freight/" + version).WithHTTPClient(&http.Client{Transport: cliTransport()}), nil
}

// cliTransport is the HTTP transport of the client commands: the default
// one (proxies from the environment, HTTP/2), but keeping a connection
// for every part or segment in flight instead of two per host, so that
// parallel transfers do not open a new connection per request, and with
// larger buffers for the bulk bytes.
func cliTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.WriteBufferSize = 256 << 10
	tr.ReadBufferSize = 64 << 10
	return tr
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// loginFlags declares "freight login", which checks a server and token and
// keeps them for the other client commands, readable by the user only.
func loginFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var c clientConfig
	c.flags(fs)
	var email string
	var web, noBrowser bool
	fs.StringVar(&email, "email", "", "sign in with this email and its password (and a second-factor code when the account has one) instead of giving a token: a personal token with your role is made and kept")
	fs.BoolVar(&web, "web", false, "sign in with your browser (any sign-in the portal offers, second factor included): a personal token named after this machine is made and kept; the default on a desktop's terminal when neither --token nor --email is given")
	fs.BoolVar(&noBrowser, "no-browser", false, "with --web (implied): only print the address to open, in a browser on this machine, instead of opening one")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		in := os.Stdin
		web = web || noBrowser
		if web && (c.token != "" || email != "") {
			return usageError{errors.New("login: --web signs in with the browser; it does not go with --token or --email")}
		}
		if c.server == "" {
			c.server = prompt(in, stderr, "Portal URL: ")
		}
		// On a desktop's terminal, with nothing else given, the browser is
		// the easy way: it offers every sign-in the portal has.
		if !web && c.token == "" && email == "" && term.IsTerminal(int(in.Fd())) && browserLikely() {
			web = true
		}
		if web {
			var err error
			if c.token, err = webLogin(ctx, c.server, !noBrowser, stderr); err != nil {
				return err
			}
		}
		if c.token == "" && email == "" {
			c.token = prompt(in, stderr, "API token (leave empty to sign in with your email and password): ")
			if c.token == "" {
				email = prompt(in, stderr, "Email: ")
			}
		}
		if c.token == "" {
			pw := promptSecret(in, stderr, "Password: ")
			code := func() string { return prompt(in, stderr, "Code from your authenticator app (or a recovery code): ") }
			var err error
			if c.token, err = passwordLogin(ctx, c.server, email, pw, code); err != nil {
				return err
			}
		}
		cl, err := c.client()
		if err != nil {
			return err
		}
		me, err := cl.Me(ctx)
		if err != nil {
			return fmt.Errorf("checking the token with %s: %w", c.server, err)
		}
		path, err := loginFile()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(login{Server: c.server, Token: c.token}, "", "  ")
		// Write with 0600 from the start: the token must never be readable
		// by others, not even for a moment.
		if err := writeFileAtomic(path, b, 0o600); err != nil {
			return err
		}
		who := cmp(me.UserID, me.TokenID)
		if me.User != nil && me.User.Email != "" {
			who = me.User.Email
		}
		fmt.Fprintf(stdout, "Logged in to %s as %s (%s). Saved in %s.\n", c.server, who, me.Role, path)
		return nil
	}
}

// passwordLogin signs in with an email and password (and a code when the
// account asks for one), mints a personal token for this machine, and
// ends the session, keeping only the token.
func passwordLogin(ctx context.Context, server, email, password string, code func() string) (string, error) {
	s := client.NewSignIn(server).WithUserAgent("freight/" + version)
	mfa, err := s.Password(ctx, email, password)
	if err != nil {
		return "", fmt.Errorf("signing in to %s: %w", server, err)
	}
	if mfa {
		if err := s.Code(ctx, code()); err != nil {
			return "", fmt.Errorf("signing in to %s: %w", server, err)
		}
	}
	host, _ := os.Hostname()
	t, err := s.Token(ctx, "freight command line on "+cmp(host, "this machine"), 0)
	if err != nil {
		return "", fmt.Errorf("making a token: %w", err)
	}
	if err := s.SignOut(ctx); err != nil {
		return "", fmt.Errorf("signing out: %w", err)
	}
	return t.Secret, nil
}

// promptSecret asks for a secret without echoing it when in is a
// terminal.
func promptSecret(in *os.File, out io.Writer, question string) string {
	if !term.IsTerminal(int(in.Fd())) {
		return prompt(in, out, question)
	}
	fmt.Fprint(out, question)
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func prompt(in io.Reader, out io.Writer, question string) string {
	fmt.Fprint(out, question)
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := in.Read(buf)
		if n == 0 || err != nil || buf[0] == '\n' {
			break
		}
		b.WriteByte(buf[0])
	}
	return strings.TrimSpace(b.String())
}

// writeFileAtomic writes a file by renaming a temporary one into place.
func writeFileAtomic(path string, b []byte, mode fs.FileMode) error {
	return placeFile(path, b, mode, os.Rename)
}

// placeFile writes b with mode into a synced temporary file beside path
// and then puts it in place with place(temporary, path).
func placeFile(path string, b []byte, mode fs.FileMode, place func(oldpath, newpath string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return place(tmp.Name(), path)
}
