package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
)

func TestCheckCommand(t *testing.T) {
	srv := apitest.Start(t)
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"secret", []string{"--url", srv.URL}, map[string]string{"JWT_SECRET": string(apitest.Secret)}, 0, "PASS " + srv.URL, ""},
		{"token", []string{"--url", srv.URL}, map[string]string{"GOKV_TOKEN": srv.Token}, 0, "PASS", ""},
		{"wrong secret", []string{"--url", srv.URL}, map[string]string{"JWT_SECRET": "some-other-secret-at-least-32-bytes"}, 1, "", "FAIL: write"},
		{"no credentials", []string{"--url", srv.URL}, nil, 2, "", "set JWT_SECRET"},
		{"short secret", []string{"--url", srv.URL}, map[string]string{"JWT_SECRET": "short"}, 2, "", "at least 32 bytes"},
		{"server down", []string{"--url", "http://127.0.0.1:1", "--wait", "200ms"}, map[string]string{"GOKV_TOKEN": srv.Token}, 1, "", "not ready"},
		{"bad flag", []string{"--nope"}, nil, 2, "", "Usage: gokv check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runCheck(tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}
