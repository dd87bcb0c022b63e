package main

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/freight-portal/freight"
	"github.com/freight-portal/freight/internal/testdb"
	"github.com/freight-portal/freight/seal"
	"github.com/freight-portal/freight/sqlstore"
)

// runCmd runs a command of the binary and returns its output and error.
func runCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	var out output
	err := run(context.Background(), args, env, &out, t.Output())
	return out.String(), err
}

// storeKey stores a new grant signing key in the SQLite database of dir
// with the keys given, as the portal would, and returns its id.
func storeKey(t *testing.T, dir string, keys *seal.Keys) string {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, "freight.db")), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SealWith(keys)
	pub, priv, _ := ed25519.GenerateKey(nil)
	k := &freight.SigningKey{ID: "grants-1", Purpose: freight.KeyGrants, Public: pub, Private: priv}
	if err := db.CreateSigningKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// storedKeyID returns the id of the key that sealed a signing key in the
// SQLite database of dir, read as the database holds it.
func storedKeyID(t *testing.T, dir, id string) string {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.ToSlash(filepath.Join(dir, "freight.db")), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	if err := db.SQL().QueryRowContext(t.Context(), `SELECT private_key FROM signing_keys WHERE id = ?`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	kid, err := seal.KeyID(raw)
	if err != nil {
		t.Fatalf("the private key is stored unsealed (%d bytes)", len(raw))
	}
	return kid
}

// On one machine, the first start makes a private key file in the data
// directory, and later starts use it.
func TestSecretsKeyFileMadeOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCmd(t, nil, "migrate", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secretsKeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file after the first start: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	keys, err := seal.ReadFile(path)
	if err != nil {
		t.Fatalf("the key file made does not read: %v", err)
	}
	id := storeKey(t, dir, keys)
	if _, err := runCmd(t, nil, "migrate", "--data-dir", dir); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Error("a second start changed the key file")
	}
	if got := storedKeyID(t, dir, id); got != keys.Current() {
		t.Errorf("signing key sealed with %q, want the key file's %q", got, keys.Current())
	}
}

// A lost key file is not silently replaced by a new key that opens
// nothing: the start fails and says which key is missing.
func TestSecretsKeyLost(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, secretsKeyFileName)
	// The key of the first start has an id that the key made again after
	// the loss cannot have.
	if _, err := runCmd(t, nil, "secrets-key", "--key-id", "first", "--append", path); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, nil, "migrate", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	keys, err := seal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	storeKey(t, dir, keys)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = runCmd(t, nil, "migrate", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), `sealed with key "first", which is not configured`) ||
		!strings.Contains(err.Error(), "add the missing key from its backup") {
		t.Errorf("start without the key = %v, want an error naming the missing key and the backup", err)
	}

	// A key of the same id but other bytes is caught at the start too.
	other, _ := seal.NewKeyLine("first")
	if err := os.WriteFile(path, []byte(other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCmd(t, nil, "migrate", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "does not open") || !strings.Contains(err.Error(), "check that they are the keys") {
		t.Errorf("start with another key of the same id = %v, want an error saying the values do not open", err)
	}
}

// Rotation with the command line: add a key, restart, and every secret is
// sealed with the new key; the old key can then go.
func TestSecretsKeyRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "secrets.keys")
	out, err := runCmd(t, nil, "secrets-key", "--key-id", "k1", "--append", path)
	if err != nil {
		t.Fatalf("secrets-key --append to a new file: %v", err)
	}
	if !strings.Contains(out, "Key k1 added to "+path) {
		t.Errorf("secrets-key said %q", out)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	env := []string{"FREIGHT_SECRETS_KEY_FILE=" + path, "FREIGHT_DATA_DIR=" + dir}
	if _, err := runCmd(t, env, "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretsKeyFileName)); err == nil {
		t.Error("a key file was made in the data directory although --secrets-key-file was set")
	}
	k1, _ := seal.ReadFile(path)
	id := storeKey(t, dir, k1)

	if _, err := runCmd(t, nil, "secrets-key", "--key-id", "k2", "--append", path); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, nil, "secrets-key", "--key-id", "k2", "--append", path); err == nil || !strings.Contains(err.Error(), `has a key "k2" already`) {
		t.Errorf("adding k2 twice = %v, want an error", err)
	}
	both, err := seal.ReadFile(path)
	if err != nil || strings.Join(both.IDs(), " ") != "k1 k2" {
		t.Fatalf("key file after two appends: %v, %v; want k1 then k2", both, err)
	}
	if _, err := runCmd(t, env, "migrate"); err != nil {
		t.Fatal(err)
	}
	if got := storedKeyID(t, dir, id); got != "k2" {
		t.Errorf("after a restart with k2, the signing key is sealed with %q, want k2", got)
	}

	// k1 can go: a file with k2 alone opens everything.
	lines, _ := os.ReadFile(path)
	var keep []string
	for l := range strings.SplitSeq(string(lines), "\n") {
		if strings.HasPrefix(l, "k2:") {
			keep = append(keep, l)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(keep, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, env, "migrate"); err != nil {
		t.Errorf("start with k2 alone: %v", err)
	}
}

func TestSecretsKeyCommand(t *testing.T) {
	out, err := runCmd(t, nil, "secrets-key")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out)
	k, err := seal.Parse(line)
	if err != nil {
		t.Fatalf("secrets-key printed %q, which does not parse: %v", line, err)
	}
	if !strings.HasPrefix(k.Current(), "k") || len(k.Current()) != len("k20260501-120000") {
		t.Errorf("default key id %q, want k and the time", k.Current())
	}
	if _, err := runCmd(t, nil, "secrets-key", "--key-id", "no spaces"); err == nil {
		t.Error("secrets-key with a bad id succeeded")
	}
	if runtime.GOOS != "windows" {
		path := filepath.Join(t.TempDir(), "open.keys")
		os.WriteFile(path, []byte(line+"\n"), 0o644)
		if _, err := runCmd(t, nil, "secrets-key", "--append", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("secrets-key --append to a file others may read = %v, want an error", err)
		}
	}
}

// Keys configured wrongly stop the start with a clear message, which never
// quotes the keys.
func TestSecretsKeyConfigErrors(t *testing.T) {
	good, _ := seal.NewKeyLine("k1")
	keyPart := good[len("k1:"):]
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	os.WriteFile(file, []byte(good+"\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"both", []string{"FREIGHT_SECRETS_KEY=" + good, "FREIGHT_SECRETS_KEY_FILE=" + file}, "set one of them"},
		{"short key", []string{"FREIGHT_SECRETS_KEY=k1:" + keyPart[:20]}, `FREIGHT_SECRETS_KEY): seal: line 1: key "k1"`},
		{"bare key", []string{"FREIGHT_SECRETS_KEY=" + keyPart}, "an entry is not keyid:base64key"},
		{"missing file", []string{"FREIGHT_SECRETS_KEY_FILE=" + filepath.Join(dir, "nope")}, "--secrets-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCmd(t, append(tc.env, "FREIGHT_DATA_DIR="+t.TempDir()), "migrate")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("migrate = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), keyPart[:20]) {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
	if runtime.GOOS != "windows" {
		os.Chmod(file, 0o644)
		_, err := runCmd(t, []string{"FREIGHT_SECRETS_KEY_FILE=" + file, "FREIGHT_DATA_DIR=" + t.TempDir()}, "migrate")
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a key file others may read = %v, want an error that says to chmod 600", err)
		}
	}
}

// Replicas on PostgreSQL must share their keys, so a key made on one
// machine would not do: without keys the start fails and says what to set.
func TestSecretsKeyRequiredOnPostgres(t *testing.T) {
	url := testdb.Postgres(t)
	dir := t.TempDir()
	_, err := runCmd(t, []string{"FREIGHT_DATABASE=" + url, "FREIGHT_DATA_DIR=" + dir}, "serve", "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "with PostgreSQL, set --secrets-key-file PATH or FREIGHT_SECRETS_KEY") {
		t.Errorf("serve on PostgreSQL without keys = %v, want an error saying what to set", err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretsKeyFileName)); err == nil {
		t.Error("a key file was made for PostgreSQL")
	}
	key, _ := seal.NewKeyLine("k1")
	if _, err := runCmd(t, []string{"FREIGHT_DATABASE=" + url, "FREIGHT_SECRETS_KEY=" + key}, "migrate"); err != nil {
		t.Errorf("migrate on PostgreSQL with FREIGHT_SECRETS_KEY: %v", err)
	}
}
