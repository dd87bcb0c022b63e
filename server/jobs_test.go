package server_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
	"github.com/freight-portal/freight/server"
)

// downMailer refuses every message while down is set, as an unreachable
// mail server does, and keeps what it sends afterwards.
type downMailer struct {
	mu   sync.Mutex
	down bool
	sent []freight.Message
}

func (m *downMailer) Send(ctx context.Context, msg *freight.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errors.New("dial tcp 192.0.2.1:587: connection refused")
	}
	m.sent = append(m.sent, *msg)
	return nil
}

// Mail goes through jobs: a mail server that is down fails the job until
// it is dead; an admin sees it, without its payload, and retries it once
// the server is back.
func TestMailJobsDeadAndRetried(t *testing.T) {
	blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	mailer := &downMailer{down: true}
	e := newEnvWith(t, blobs, func(c *server.Config) { c.Mailer = mailer })

	e.must(http.StatusCreated, "POST", "/api/v1/invitations", e.token, map[string]string{"email": "new@vendor.example", "vendor_role": "support"})
	var list struct {
		Items []map[string]any `json:"items"`
	}
	// The job committed with the invitation.
	e.must(http.StatusOK, "GET", "/api/v1/jobs?state=queued", e.token, nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0]["kind"] != "mail" {
		t.Fatalf("queued jobs = %v, want the invitation's mail", list.Items)
	}
	for range freight.DefaultJobAttempts {
		e.srv.Wait()
		e.clock.Add(2 * time.Hour) // past any backoff
	}
	r := e.must(http.StatusOK, "GET", "/api/v1/jobs?state=dead", e.token, nil)
	r.decode(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("dead jobs = %v, want the mail", list.Items)
	}
	dead := list.Items[0]
	if dead["attempts"] != float64(freight.DefaultJobAttempts) || !strings.Contains(dead["last_error"].(string), "connection refused") {
		t.Errorf("dead job = %v", dead)
	}
	if strings.Contains(string(r.body), "token=") || strings.Contains(string(r.body), "new@vendor.example") || strings.Contains(string(r.body), "payload") {
		t.Errorf("the job list shows the payload: %s", r.body)
	}
	id := dead["id"].(string)

	// Only admins see and retry jobs; the matrix covers every role, this
	// checks an organization's admin once more.
	acme := e.mustOrg("acme")
	orgAdmin := e.mustToken(&freight.Token{Name: "oa", UserID: e.mustUser("oa@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin).ID, OrgID: acme.ID, Role: freight.RoleOrgAdmin})
	wantError(t, e.do("POST", "/api/v1/jobs/"+id+"/retry", orgAdmin, nil), http.StatusForbidden, freight.EFORBIDDEN, "")

	mailer.mu.Lock()
	mailer.down = false
	mailer.mu.Unlock()
	var retried freight.Job
	e.must(http.StatusOK, "POST", "/api/v1/jobs/"+id+"/retry", e.token, nil).decode(t, &retried)
	if retried.State != freight.JobQueued || retried.Attempts != 0 {
		t.Errorf("retried job = %+v", retried)
	}
	e.srv.Wait()
	mailer.mu.Lock()
	if len(mailer.sent) != 1 || mailer.sent[0].To != "new@vendor.example" || mailer.sent[0].Kind != freight.MailInvitation {
		t.Errorf("sent after the retry: %+v", mailer.sent)
	}
	mailer.mu.Unlock()
	j, err := e.store.Job(t.Context(), id)
	if err != nil || j.State != freight.JobDone {
		t.Errorf("job after the retry: %+v, %v", j, err)
	}
	wantError(t, e.do("POST", "/api/v1/jobs/"+id+"/retry", e.token, nil), http.StatusConflict, freight.ECONFLICT, "")
	wantError(t, e.do("POST", "/api/v1/jobs/nonsense/retry", e.token, nil), http.StatusNotFound, freight.ENOTFOUND, "")
	wantError(t, e.do("GET", "/api/v1/jobs?state=sleeping", e.token, nil), http.StatusBadRequest, freight.EINVALID, "state")
	evs, _, err := e.store.AuditEvents(t.Context(), freight.AuditFilter{Action: "job.retry"})
	if err != nil || len(evs) != 1 || evs[0].TargetID != id {
		t.Errorf("audit of the retry: %v, %v", evs, err)
	}
}

// A change that fails sends no mail: the job rolls back with it.
func TestMailJobRollsBackWithChange(t *testing.T) {
	e := newEnv(t)
	body := map[string]string{"email": "dup@vendor.example", "vendor_role": "support"}
	e.must(http.StatusCreated, "POST", "/api/v1/invitations", e.token, body)
	before, _, err := e.store.Jobs(t.Context(), freight.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// An invalid invitation fails inside the transaction.
	wantError(t, e.do("POST", "/api/v1/invitations", e.token, map[string]string{"email": "not an address", "vendor_role": "support"}), http.StatusBadRequest, freight.EINVALID, "email")
	after, _, err := e.store.Jobs(t.Context(), freight.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d jobs after a failed invitation, want %d", len(after), len(before))
	}
}

// A password-reset request is one job whether or not the address has an
// account; only the job learns which.
func TestForgotPasswordIsAJob(t *testing.T) {
	e := newEnv(t)
	u := e.mustUser("kim@vendor.example", goodPassword, freight.RoleSupport, nil, "")
	b := e.browser()
	for _, addr := range []string{"nobody@vendor.example", u.Email} {
		b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": addr})
	}
	queued, _, err := e.store.Jobs(t.Context(), freight.JobFilter{Kind: "password-reset", State: freight.JobQueued})
	if err != nil || len(queued) != 2 {
		t.Fatalf("queued reset requests = %d, %v; want 2", len(queued), err)
	}
	e.srv.Wait()
	if m := e.mail.last(u.Email); m == nil || m.Kind != freight.MailResetPassword {
		t.Errorf("no reset mail to the account: %+v", m)
	}
	if m := e.mail.last("nobody@vendor.example"); m != nil {
		t.Errorf("mail to an address without an account: %+v", m)
	}
	done, _, err := e.store.Jobs(t.Context(), freight.JobFilter{State: freight.JobDone})
	if err != nil || len(done) != 3 {
		t.Errorf("done jobs = %d, %v; want both requests and the one mail", len(done), err)
	}
}
