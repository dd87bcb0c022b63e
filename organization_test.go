package freight_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
)

// TestUserJSONRoundTrip checks that a user read back from its JSON keeps
// its release notification choice, which JSON names the other way round,
// and that the second factor and the password hash never travel.
func TestUserJSONRoundTrip(t *testing.T) {
	for _, noMail := range []bool{false, true} {
		u := freight.User{ID: "usr_1", Email: "a@example.com", NoReleaseMail: noMail, PasswordHash: "secret-hash",
			Security: freight.UserSecurity{TOTPSecret: []byte("totp-secret")}}
		b, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.Contains(s, "secret") || !strings.Contains(s, `"mfa_enabled":true`) {
			t.Errorf("JSON %s: want mfa_enabled and no secret", s)
		}
		var got freight.User
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.NoReleaseMail != noMail || got.Email != u.Email || got.ID != u.ID {
			t.Errorf("NoReleaseMail %v: read back %+v", noMail, got)
		}
	}
	var u freight.User
	if err := json.Unmarshal([]byte(`{"email":"b@example.com"}`), &u); err != nil || u.NoReleaseMail || u.Email != "b@example.com" {
		t.Errorf("without notify_releases: %+v, %v; want notifications on", u, err)
	}
}
