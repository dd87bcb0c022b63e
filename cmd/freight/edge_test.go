package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEdgeCommandRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"Bare", nil, "--origin, --token, --public-url"},
		{"APIToken", []string{"--origin", "http://127.0.0.1:1", "--token", "frt_x", "--public-url", "http://e.example"}, "edge credential (fre_…)"},
		{"BadSize", []string{"--cache-size", "12 parsecs"}, "unknown unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"edge", "--addr", "127.0.0.1:0", "--cache-dir", t.TempDir()}, tc.args...)
			err := run(context.Background(), args, nil, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if _, ok := errors.AsType[usageError](err); !ok {
				t.Errorf("err = %v is not a usage error (exit status 2)", err)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "500G": 500e9, "2T": 2e12, "800GiB": 800 << 30, "64 MiB": 64 << 20, "10K": 10000} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1X", "G", "99999999999999T"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) succeeded", in)
		}
	}
}
