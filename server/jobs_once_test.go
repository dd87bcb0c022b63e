package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/freight-portal/freight"
	fsblob "github.com/freight-portal/freight/blob/fs"
)

// dieAfterHandler plays a worker that claims the one due job of the kind,
// runs its handler to the end and dies before the queue records anything;
// then the clock passes the end of its lease, so that the job, were it
// not done, would be due again for the next worker.
func dieAfterHandler(t *testing.T, e *env, kind string) *freight.Job {
	t.Helper()
	js, err := e.store.ClaimJobs(t.Context(), "dead-worker", []string{kind}, 1, time.Minute, e.clock.Now())
	if err != nil || len(js) != 1 {
		t.Fatalf("claiming the %s job: %v, %v", kind, js, err)
	}
	if err := e.srv.HandleJob(t.Context(), js[0]); err != nil {
		t.Fatalf("the %s handler: %v", kind, err)
	}
	e.clock.Add(2 * time.Minute)
	return js[0]
}

// wantDoneOnce fails the test unless the job is done after one attempt.
func wantDoneOnce(t *testing.T, e *env, id string) {
	t.Helper()
	j, err := e.store.Job(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != freight.JobDone || j.Attempts != 1 {
		t.Errorf("job %s: state %s after %d attempts, want done after 1", j.Kind, j.State, j.Attempts)
	}
}

// A release-notify job whose worker dies right after the transaction that
// enqueued the mails: the next worker finds the job done, and each person
// gets exactly one mail.
func TestReleaseNotifyWorkerDiesAfterFanOut(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		blobs, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvAt(t, dbURL, blobs)
		e.do("POST", "/api/v1/products", e.token, map[string]any{"slug": "cad", "name": "CAD"})
		prodID := mustProductID(t, e)
		acme, hooli := e.mustOrg("acme"), e.mustOrg("hooli")
		for _, org := range []*freight.Organization{acme, hooli} {
			e.must(http.StatusCreated, "POST", "/api/v1/entitlements", e.token, map[string]any{"org_id": org.ID, "product_id": prodID, "channels": []string{"stable"}})
		}
		e.mustUser("ann@acme.example", goodPassword, "", acme, freight.RoleMember)
		e.mustUser("olga@acme.example", goodPassword, "", acme, freight.RoleOrgAdmin)
		carl := e.mustUser("carl@acme.example", goodPassword, "", acme, freight.RoleMember)
		if err := e.store.PutMembership(context.Background(), &freight.Membership{UserID: carl.ID, OrgID: hooli.ID, Role: freight.RoleMember}); err != nil {
			t.Fatal(err)
		}
		e.mustUser("hank@hooli.example", goodPassword, "", hooli, freight.RoleMember)

		publishWithFile(e, "1.0.0")
		j := dieAfterHandler(t, e, "release-notify")
		want := map[string]int{"ann@acme.example": 1, "olga@acme.example": 1, "carl@acme.example": 1, "hank@hooli.example": 1}
		if got := releaseMails(e); !mapsEqual(got, want) {
			t.Errorf("release mails = %v, want %v", got, want)
		}
		wantDoneOnce(t, e, j.ID)
	})
}

// A password-reset job whose worker dies right after the transaction that
// stored the link and enqueued its mail: one mail goes, and its link
// works (a second run would have voided it with a second link).
func TestPasswordResetWorkerDiesAfterMail(t *testing.T) {
	onBackends(t, func(t *testing.T, dbURL string) {
		e := newEnvAt(t, dbURL, nil)
		u := e.mustUser("hank@vendor.example", goodPassword, freight.RoleSupport, nil, "")
		b := e.browser()
		b.must(http.StatusAccepted, "POST", "/api/v1/auth/forgot", map[string]string{"email": u.Email})
		j := dieAfterHandler(t, e, "password-reset")
		e.srv.Wait()
		e.mail.mu.Lock()
		n := 0
		for _, m := range e.mail.msgs {
			if m.To == u.Email && m.Kind == freight.MailResetPassword {
				n++
			}
		}
		e.mail.mu.Unlock()
		if n != 1 {
			t.Errorf("%d reset mails sent, want 1", n)
		}
		wantDoneOnce(t, e, j.ID)
		tok := e.linkToken(u.Email)
		b.must(http.StatusNoContent, "POST", "/api/v1/auth/reset", map[string]string{"token": tok, "password": "a brand new passphrase"})
	})
}
