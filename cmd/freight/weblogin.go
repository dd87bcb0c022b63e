package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/client"
)

// Browser sign-in ("freight login --web") is OAuth 2.0 for native apps
// (RFC 8252) with PKCE (RFC 7636): the command listens on a loopback
// address at a port the system picks, sends the person's browser to the
// portal's /cli/authorize with the address, a random state and the S256
// challenge of a random verifier, and waits. The person signs in there
// as usual (password, second factor, or an OpenID provider) and allows;
// the browser then brings an authorization code to the loopback address,
// and the command exchanges code and verifier for a personal token. The
// verifier never leaves this process until the exchange, so a code seen by
// anyone else (another local program, the browser's history) is useless.

// webLoginTimeout bounds the wait for the person to finish in the browser.
var webLoginTimeout = 10 * time.Minute

// openBrowser opens u in the desktop's browser without waiting for it.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; its outcome is the browser's business
	return nil
}

// browserLikely reports whether a browser can probably be opened on this
// machine's screen: on macOS and Windows, or under X11 or Wayland, but not
// in an SSH session, whose loopback address the person's browser (on
// another machine) could not reach.
func browserLikely() bool {
	if os.Getenv("SSH_CONNECTION") != "" || os.Getenv("SSH_TTY") != "" {
		return false
	}
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

// machineName is the name the person sees on the authorize page and the
// token is named after.
func machineName() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, host)
	if r := []rune(strings.TrimSpace(host)); len(r) > 0 {
		return string(r[:min(len(r), 64)])
	}
	return "this machine"
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// callbackResult is what the browser brought to the loopback address.
type callbackResult struct {
	token *client.CreatedToken
	err   error
}

// webLogin signs in through the browser and returns the secret of the new
// personal token. The address to open is printed on errOut; with
// openIt, the desktop's browser is also asked to open it.
func webLogin(ctx context.Context, server string, openIt bool, errOut io.Writer) (string, error) {
	server = strings.TrimSuffix(server, "/")
	if u, err := url.Parse(server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError{fmt.Errorf("login: --server %q is not a portal URL like https://downloads.example.com", server)}
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		var err6 error
		if ln, err6 = net.Listen("tcp6", "[::1]:0"); err6 != nil {
			return "", fmt.Errorf("listening on the loopback address for the browser's answer: %w", err)
		}
	}
	defer ln.Close()
	redirect := "http://" + ln.Addr().String() + "/callback"
	verifier, state := randomString(32), randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"redirect_uri":          {redirect},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"name":                  {machineName()},
	}
	authURL := server + "/cli/authorize?" + q.Encode()

	results := make(chan callbackResult, 1)
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query()
		// An answer without our state was not asked for by this command:
		// another page may be trying to slip in a code of its own.
		if subtle.ConstantTimeCompare([]byte(got.Get("state")), []byte(state)) != 1 {
			callbackPage(w, http.StatusBadRequest, "This answer does not belong to the waiting freight login. Nothing was changed.")
			return
		}
		handled := false
		once.Do(func() {
			handled = true
			var res callbackResult
			switch code := got.Get("code"); {
			case got.Get("error") == "access_denied":
				res.err = errors.New("you denied the sign-in in the browser")
			case got.Get("error") != "":
				res.err = fmt.Errorf("the portal refused the sign-in: %s", got.Get("error"))
			case code == "":
				res.err = errors.New("the browser brought no sign-in code")
			default:
				res.token, res.err = client.ExchangeCLICode(r.Context(), server, "freight/"+version, code, verifier, redirect)
			}
			if res.err != nil {
				callbackPage(w, http.StatusOK, "The sign-in did not complete: "+res.err.Error()+". The terminal says more.")
			} else {
				callbackPage(w, http.StatusOK, "The Freight command line is signed in. You may close this tab and go back to the terminal.")
			}
			results <- res
		})
		if !handled {
			callbackPage(w, http.StatusOK, "This sign-in is finished already. You may close this tab.")
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer func() {
		// The handler hands the result over before its page has reached
		// the browser: let it finish rather than cut the connection under
		// it, which would leave the browser on an error page.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()

	fmt.Fprintf(errOut, "Sign in with your browser: open this address on this machine, sign in and allow the command line.\n\n  %s\n\n", authURL)
	if openIt {
		if err := openBrowser(authURL); err != nil {
			fmt.Fprintf(errOut, "(The browser could not be opened: %v. Open the address yourself.)\n", err)
		}
	}
	fmt.Fprintf(errOut, "Waiting for the browser (at most %v; Ctrl+C gives up)…\n", webLoginTimeout)
	timer := time.NewTimer(webLoginTimeout)
	defer timer.Stop()
	select {
	case res := <-results:
		if res.err != nil {
			if _, ok := errors.AsType[*freight.Error](res.err); ok {
				return "", fmt.Errorf("signing in through the browser: %s", freight.ErrorMessage(res.err))
			}
			return "", fmt.Errorf("signing in through the browser: %w", res.err)
		}
		return res.token.Secret, nil
	case <-timer.C:
		return "", fmt.Errorf("no answer from the browser within %v: run freight login again", webLoginTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// callbackPage answers the browser at the loopback address with a short
// page of its own: the portal's pages are not at hand here.
func callbackPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\"><title>Freight command line</title>\n<h1>Freight command line</h1>\n<p id=\"result\">%s</p>\n</html>\n", html.EscapeString(msg))
}
