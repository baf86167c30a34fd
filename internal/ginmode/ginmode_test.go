package ginmode

import (
	"os"
	"os/exec"
	"testing"
)

// TestHidesInvalidModeUntilRestore runs the test binary again with an
// invalid GIN_MODE, since init only sees the environment the process
// starts with.
func TestHidesInvalidModeUntilRestore(t *testing.T) {
	if os.Getenv("GINMODE_TEST_CHILD") == "1" {
		if v, ok := os.LookupEnv(envVar); ok {
			t.Fatalf("after init GIN_MODE = %q, want it unset", v)
		}
		Restore()
		if v := os.Getenv(envVar); v != "prod" {
			t.Fatalf("after Restore GIN_MODE = %q, want prod", v)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHidesInvalidModeUntilRestore$")
	cmd.Env = append(os.Environ(), "GINMODE_TEST_CHILD=1", envVar+"=prod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestLeavesValidModesAlone(t *testing.T) {
	for _, mode := range []string{"", "debug", "release", "test"} {
		if !valid(mode) {
			t.Errorf("valid(%q) = false", mode)
		}
	}
	for _, mode := range []string{"prod", "Release", " debug"} {
		if valid(mode) {
			t.Errorf("valid(%q) = true", mode)
		}
	}
}
