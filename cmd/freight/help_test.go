package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBashCompletion loads the bash script in a real bash and asks it to
// complete, as a shell would on Tab.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	var script output
	if err := run(context.Background(), []string{"completion", "bash"}, nil, &script, io.Discard); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "freight.bash")
	os.WriteFile(path, []byte(script.String()), 0o600)
	complete := func(words ...string) string {
		t.Helper()
		line := strings.Join(words, " ")
		cmd := exec.Command(bash, "-c", `source "$1"; COMP_WORDS=(`+line+`); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _freight; echo "${COMPREPLY[@]}"`, "bash", path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("freight", "pub"); got != "publish" {
		t.Errorf("freight pub<Tab> = %q, want publish", got)
	}
	if got := complete("freight", "publish", "--prod"); got != "--product" {
		t.Errorf("freight publish --prod<Tab> = %q, want --product", got)
	}
	if got := complete("freight", "license", "v"); got != "verify" {
		t.Errorf("freight license v<Tab> = %q, want verify", got)
	}
	if got := complete("freight", "license", "verify", "--public"); got != "--public-key" {
		t.Errorf("freight license verify --public<Tab> = %q, want --public-key", got)
	}
}

func TestHelpShowsExamples(t *testing.T) {
	var stderr output
	if err := run(context.Background(), []string{"publish", "-h"}, nil, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "Examples:") || !strings.Contains(stderr.String(), "freight publish --product") {
		t.Errorf("publish -h:\n%s", stderr.String())
	}
	for _, shell := range []string{"zsh", "fish"} {
		var o output
		if err := run(context.Background(), []string{"completion", shell}, nil, &o, io.Discard); err != nil || !strings.Contains(o.String(), "publish") {
			t.Errorf("completion %s: %v", shell, err)
		}
	}
	if err := run(context.Background(), []string{"completion", "tcsh"}, nil, io.Discard, io.Discard); err == nil {
		t.Error("completion for an unknown shell succeeded")
	}
}
