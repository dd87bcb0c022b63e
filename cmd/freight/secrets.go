package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/freight-portal/freight/seal"
	"github.com/freight-portal/freight/sqlstore"
)

// The secrets the database must keep usable (private signing keys, TOTP
// and webhook secrets, upload URL keys) are sealed with keys it does not
// hold: a key file (--secrets-key-file) or the keys themselves
// (--secrets-key, meant for FREIGHT_SECRETS_KEY). On SQLite without
// either, a key file is made in the data directory on first start, so that
// one machine needs no configuration; PostgreSQL serves replicas, which
// must share their keys, so there they must be configured.

// secretsKeyFileName is the key file made in the data directory.
const secretsKeyFileName = "secrets.keys"

// sealKeys returns the keys that seal the secrets of a database of the
// dialect, and where they come from for messages.
func (c *dbConfig) sealKeys(dialect string, logger *slog.Logger) (*seal.Keys, string, error) {
	switch {
	case c.secretsKeyFile != "" && c.secretsKey != "":
		return nil, "", errors.New("both --secrets-key-file and --secrets-key (FREIGHT_SECRETS_KEY) name the keys that seal secrets: set one of them")
	case c.secretsKey != "":
		// The value is never quoted: it is the keys.
		k, err := seal.Parse(c.secretsKey)
		if err != nil {
			return nil, "", fmt.Errorf("--secrets-key (FREIGHT_SECRETS_KEY): %w", err)
		}
		return k, "--secrets-key (FREIGHT_SECRETS_KEY)", nil
	case c.secretsKeyFile != "":
		k, err := seal.ReadFile(c.secretsKeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("--secrets-key-file: %w", err)
		}
		return k, c.secretsKeyFile, nil
	case dialect == "postgres":
		return nil, "", errors.New("with PostgreSQL, set --secrets-key-file PATH or FREIGHT_SECRETS_KEY: the keys that seal secrets in the database " +
			"(signing keys, TOTP and webhook secrets) must be the same on every replica and kept apart from the database; " +
			"make a key with: freight secrets-key --append PATH")
	}
	path := filepath.Join(c.dataDir, secretsKeyFileName)
	k, err := ensureKeyFile(path, logger)
	if err != nil {
		return nil, "", err
	}
	return k, path, nil
}

// ensureKeyFile reads the key file at path, or makes it with a new key
// when there is none. The file appears whole or not at all, and a process
// that starts at the same time reads the one this one made, or the other
// way round.
func ensureKeyFile(path string, logger *slog.Logger) (*seal.Keys, error) {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return seal.ReadFile(path)
	}
	line, err := seal.NewKeyLine(newSecretsKeyID(time.Now()))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	content := "# Keys that seal the secrets in Freight's database, newest last (see freight secrets-key).\n" +
		"# Back this file up apart from the database: without it, the secrets cannot be read.\n" + line + "\n"
	switch err := createFileAtomic(path, []byte(content), 0o600); {
	case errors.Is(err, fs.ErrExist):
		return seal.ReadFile(path)
	case err != nil:
		return nil, fmt.Errorf("make the key file that seals secrets: %w", err)
	}
	logger.Warn("made a key that seals the secrets in the database; back it up apart from the database, which is useless without it", "file", path)
	return seal.ReadFile(path)
}

// newSecretsKeyID names a key after the time it was made, so that a key
// file lists its keys by age.
func newSecretsKeyID(now time.Time) string { return "k" + now.UTC().Format("20060102-150405") }

// createFileAtomic writes a new file at path, complete and synced, or
// fails with fs.ErrExist when there is one already.
func createFileAtomic(path string, b []byte, mode fs.FileMode) error {
	// A link, unlike a rename, never replaces a file that is there.
	return placeFile(path, b, mode, os.Link)
}

// openDB opens and migrates the metadata database, with the keys that
// seal its secrets: Migrate seals what is still in clear or sealed with an
// older key.
func openDB(ctx context.Context, c *dbConfig, logger *slog.Logger) (*sqlstore.DB, error) {
	url, err := c.url()
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, url, logger)
	if err != nil {
		return nil, err
	}
	keys, source, err := c.sealKeys(db.Dialect(), logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	db.SealWith(keys)
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		if _, ok := errors.AsType[*seal.UnknownKeyError](err); ok {
			return nil, fmt.Errorf("%w; the keys come from %s: add the missing key from its backup", err, source)
		}
		if errors.Is(err, seal.ErrNotOpened) {
			return nil, fmt.Errorf("%w; the keys come from %s: check that they are the keys that sealed the database's secrets", err, source)
		}
		return nil, err
	}
	return db, nil
}

// secretsKeyFlags declares "freight secrets-key", which makes a key that
// seals secrets: printed, or added to a key file.
func secretsKeyFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	var id, appendTo string
	fs.StringVar(&id, "key-id", "", "id of the new key: letters, digits, '.', '_' or '-', at most 32 (default: k and the time, such as k20260501-120000)")
	fs.StringVar(&appendTo, "append", "", "add the key to this key file, the last and so the one that seals (created, private to you, if missing), instead of printing it")
	return func(_ context.Context, stdout, _ io.Writer) error {
		if id == "" {
			id = newSecretsKeyID(time.Now())
		}
		line, err := seal.NewKeyLine(id)
		if err != nil {
			return usageError{fmt.Errorf("secrets-key: --key-id: %w", err)}
		}
		if appendTo == "" {
			fmt.Fprintln(stdout, line)
			return nil
		}
		if err := appendKey(appendTo, line); err != nil {
			return fmt.Errorf("secrets-key: %w", err)
		}
		fmt.Fprintf(stdout, "Key %s added to %s. The portal seals new secrets with it from its next start, and seals the others again then;\n"+
			"keep the older keys in the file until every replica has restarted with this one.\n", id, appendTo)
		return nil
	}
}

// appendKey adds a key line at the end of the key file at path, which it
// creates when missing. An existing file must read as a key file, be
// private, and not hold the key id already; the new file replaces it whole.
func appendKey(path, line string) error {
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createFileAtomic(path, []byte(line+"\n"), 0o600)
	case err != nil:
		return err
	}
	k, err := seal.ReadFile(path)
	if err != nil {
		return err
	}
	id, _, _ := strings.Cut(line, ":")
	for _, have := range k.IDs() {
		if have == id {
			return fmt.Errorf("%s has a key %q already: choose another --key-id", path, id)
		}
	}
	b := old
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	b = append(b, line+"\n"...)
	if _, err := seal.Parse(string(b)); err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}
