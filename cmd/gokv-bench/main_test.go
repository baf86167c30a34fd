package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/loadgen"
)

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestJSONResult(t *testing.T) {
	ts := apitest.Start(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-url", ts.URL, "-workload", "mixed", "-keys", "20", "-requests", "200", "-duration", "0", "-concurrency", "4", "-json"}
	code := run(context.Background(), args, getenv(map[string]string{"JWT_SECRET": string(apitest.Secret)}), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON result: %v\n%s", err, stdout.String())
	}
	if res.Requests != 200 || res.Errors != 0 || res.Workload != loadgen.Mixed || res.ReadRatio != 0.9 {
		t.Errorf("result %+v, want 200 mixed requests at 90%% reads without errors", res)
	}
}

func TestWatchWorkload(t *testing.T) {
	ts := apitest.Start(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-url", ts.URL, "-workload", "watch", "-watchers", "8", "-rate", "500", "-requests", "30", "-duration", "0", "-json"}
	code := run(context.Background(), args, getenv(map[string]string{"GOKV_TOKEN": ts.Token}), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var res loadgen.WatchResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON result: %v\n%s", err, stdout.String())
	}
	if res.Workload != loadgen.Watch || res.Writes != 30 || res.Complete != 8 || res.Delivered != 8*30 {
		t.Errorf("result %+v, want 30 writes and their events to 8 complete watchers", res)
	}
}

func TestTokenFromGOKV_TOKEN(t *testing.T) {
	ts := apitest.Start(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-url", ts.URL, "-workload", "put", "-keys", "5", "-requests", "20", "-duration", "0", "-progress", "0"}
	if code := run(context.Background(), args, getenv(map[string]string{"GOKV_TOKEN": ts.Token}), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "throughput") || !strings.Contains(stdout.String(), "errors      0") {
		t.Errorf("text report:\n%s", stdout.String())
	}
}

func TestFailedRequestsExit1(t *testing.T) {
	ts := apitest.Start(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-url", ts.URL, "-workload", "get", "-preload=false", "-requests", "10", "-duration", "0"}
	code := run(context.Background(), args, getenv(map[string]string{"JWT_SECRET": string(apitest.Secret)}), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "10 of 10 requests failed") || !strings.Contains(stdout.String(), "404: 10") {
		t.Errorf("GETs of missing keys: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", nil, nil, "set JWT_SECRET (to mint a token) or GOKV_TOKEN"},
		{"short secret", nil, map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET: secret must be at least 32 bytes"},
		{"unknown flag", []string{"-secret", "x"}, nil, "flag provided but not defined: -secret"},
		{"argument", []string{"get"}, nil, `unexpected argument "get"`},
		{"unbounded", []string{"-duration", "0"}, nil, "must be bounded"},
		{"workload", []string{"-workload", "scan"}, nil, "workload must be get, put, mixed, txn or watch"},
		{"txn ops", []string{"-workload", "txn", "-txn-ops", "0"}, nil, "ops per transaction must be 1 to 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, getenv(tt.env), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) || stdout.Len() != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout.String(), stderr.String(), tt.want)
			}
		})
	}
}
