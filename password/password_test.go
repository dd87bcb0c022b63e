package password_test

import (
	"context"
	"strings"
	"testing"

	"github.com/freight-portal/freight/password"
)

// fast keeps tests quick; the format and checks do not depend on cost.
var fast = password.Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h, err := password.Hash(ctx, "correct horse battery staple", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash = %q, want the PHC argon2id form with its parameters", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"correct horse battery staple ", false},
		{"", false},
	} {
		got, err := password.Verify(ctx, tc.pw, h)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("Verify(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
	h2, _ := password.Hash(ctx, "correct horse battery staple", fast)
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestDefaultMeetsOWASP(t *testing.T) {
	if password.Default.Time < 2 || password.Default.Memory < 19456 || password.Default.Threads < 1 {
		t.Errorf("Default = %+v, below OWASP's argon2id minimum t=2 m=19456 p=1", password.Default)
	}
}

func TestNeedsRehash(t *testing.T) {
	h, _ := password.Hash(context.Background(), "pw", fast)
	if !password.NeedsRehash(h, password.Default) {
		t.Error("NeedsRehash(fast hash, Default) = false, want true")
	}
	if password.NeedsRehash(h, fast) {
		t.Error("NeedsRehash(fast hash, fast) = true, want false")
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
	} {
		if _, err := password.Verify(context.Background(), "pw", h); err != password.ErrMalformed {
			t.Errorf("Verify(%q) err = %v, want ErrMalformed", h, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	h, _ := password.Hash(context.Background(), "pw", fast)
	f.Add(h)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Fuzz(func(t *testing.T, encoded string) {
		ok, err := password.Verify(context.Background(), "pw", encoded)
		if err != nil && ok {
			t.Fatal("Verify reported a match with an error")
		}
	})
}
