package main

import (
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJobsSurviveKill kills a real server (SIGKILL) while its background
// jobs are pending: invitation mails queued behind one stuck on an SMTP
// server that never answers. Restarted with an outbox instead, the server
// runs every job, the stuck one once its lease has passed, and each person
// gets exactly one mail.
func TestJobsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	const people = 12
	bin := buildBinary(t)
	dir := t.TempDir()
	token := createAdmin(t, bin, dir)

	// An SMTP server that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	dialed := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			select {
			case dialed <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})

	common := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--job-lease", "3s"}
	srv := startProcess(t, bin, append(common, "--job-concurrency", "1",
		"--smtp-url", "smtp://"+ln.Addr().String()+"?tls=none&timeout=10m")...)
	a := api{t, srv.url, token}
	var org struct{ ID string }
	a.call("POST", "/api/v1/organizations", map[string]any{"name": "Initech", "slug": "initech"}, 201, &org)
	want := map[string]bool{}
	for i := range people {
		email := fmt.Sprintf("person%d@initech.example", i)
		want[email] = true
		a.call("POST", "/api/v1/organizations/"+org.ID+"/invitations", map[string]any{"email": email, "role": "member"}, 201, nil)
	}
	select {
	case <-dialed:
	case <-time.After(time.Minute):
		t.Fatal("no mail job reached the SMTP server")
	}
	var queued struct{ Items []struct{ ID string } }
	a.call("GET", "/api/v1/jobs?kind=mail&state=queued&limit=100", nil, 200, &queued)
	if len(queued.Items) != people-1 {
		t.Fatalf("%d mail jobs queued behind the stuck one, want %d", len(queued.Items), people-1)
	}
	srv.kill(t)

	outbox := filepath.Join(t.TempDir(), "outbox")
	srv = startProcess(t, bin, append(common, "--mail-outbox", outbox)...)
	a = api{t, srv.url, token}
	deadline := time.Now().Add(time.Minute)
	for {
		var done struct{ Items []struct{ ID string } }
		a.call("GET", "/api/v1/jobs?kind=mail&state=done&limit=100", nil, 200, &done)
		if len(done.Items) == people {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d mail jobs done a minute after the restart", len(done.Items), people)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, state := range []string{"queued", "running", "dead"} {
		var l struct{ Items []struct{ ID string } }
		a.call("GET", "/api/v1/jobs?kind=mail&state="+state+"&limit=100", nil, 200, &l)
		if len(l.Items) != 0 {
			t.Errorf("%d mail jobs %s after the restart", len(l.Items), state)
		}
	}
	files, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range files {
		b, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(b)
		b.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		to, err := mail.ParseAddress(m.Header.Get("To"))
		if err != nil {
			t.Fatalf("%s: To: %v", f, err)
		}
		got[strings.ToLower(to.Address)]++
	}
	for email := range want {
		if got[email] != 1 {
			t.Errorf("%s got %d mails, want 1", email, got[email])
		}
	}
	if len(files) != people {
		t.Errorf("the outbox holds %d mails, want %d: %v", len(files), people, got)
	}
}
