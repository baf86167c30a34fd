package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProbeMeasures runs every measurement on the test's filesystem: each
// prints its line, and MADV_RANDOM leaves the first write with its own page
// only, the reason the probe compares it with the default.
func TestProbeMeasures(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-dir", t.TempDir(), "-duration", "100ms"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 6:\n%s", len(lines), out.String())
	}
	for _, want := range []string{"flush: fdatasync after 0 bytes", "flush: fdatasync after 1024 bytes", "one fault per page", "MAP_POPULATE", "default read-ahead", "MADV_RANDOM"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no line with %q:\n%s", want, out.String())
		}
	}
	if random := lines[5]; !strings.Contains(random, ", 1 pages resident after the first") {
		t.Errorf("MADV_RANDOM line: %s, want 1 page resident after the first write", random)
	}
}

func TestProbeRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-duration", "0s"}, {"-nope"}} {
		var out, errOut bytes.Buffer
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
