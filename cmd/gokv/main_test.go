package main

// These tests build the real gokv binary and run it as a subprocess on a
// free loopback port, to check what only a whole process shows: exit
// codes, signals, crashes and the directory lock.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gokv-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gokv")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gokv: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running gokv.
type process struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	logs bytes.Buffer
}

// env returns a minimal valid environment for gokv, overridden by extra.
func env(dbPath string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"JWT_SECRET=" + testSecret,
		"DB_PATH=" + dbPath,
		"PORT=0",
		// Tests run many servers at once; the default 9090 is one port.
		"METRICS_PORT=0",
		"GIN_MODE=release",
		"LOG_FORMAT=json",
	}, extra...)
}

// start runs gokv with environ and waits until it listens.
func start(t *testing.T, environ []string) *process {
	t.Helper()
	return startBinary(t, binary, environ)
}

// startBinary is start with another build of gokv.
func startBinary(t *testing.T, bin string, environ []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin), done: make(chan struct{})}
	p.cmd.Env = environ
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.Write(sc.Bytes())
			p.logs.WriteByte('\n')
			p.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gokv is serving" {
				listening <- line.Addr
			}
		}
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("gokv log:\n%s", p.log())
		}
	})
	select {
	case addr := <-listening:
		p.URL = "http://127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	case <-p.done:
		t.Fatalf("gokv exited before listening: %v\n%s", p.cmd.ProcessState, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("gokv did not listen within 30s\n%s", p.log())
	}
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		t.Fatalf("gokv did not exit within %s", limit)
		return -1
	}
}

func token(t *testing.T) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends one request and returns status and body.
func do(t *testing.T, method, url string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConfigErrorsExitAtOnce(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no secret", []string{"JWT_SECRET="}, "gokv: JWT_SECRET must not be empty"},
		{"short secret", []string{"JWT_SECRET=short"}, "gokv: JWT_SECRET must be at least 32 bytes, got 5"},
		// Gin itself panics on this while it initialises.
		{"bad gin mode", []string{"GIN_MODE=prod"}, `gokv: GIN_MODE must be debug, release or test, got "prod"`},
		{"bad port", []string{"PORT=eighty"}, `gokv: PORT="eighty" is not a valid number`},
		{"bad duration", []string{"SHUTDOWN_TIMEOUT=20"}, `gokv: SHUTDOWN_TIMEOUT="20" is not a valid duration`},
		// Octal 8 before: a privileged process would listen on port 8.
		{"octal port", []string{"PORT=010"}, `gokv: PORT="010" is not a valid number`},
		{"whitespace secret", []string{"JWT_SECRET=" + strings.Repeat(" ", 40)}, "gokv: JWT_SECRET must not be only whitespace"},
		{"host name", []string{"HOST=gokv.example.com"}, "gokv: HOST must be an IP address"},
		{"GC interval too short", []string{"GC_INTERVAL=5ms"}, "gokv: GC_INTERVAL must be at least 1s, got 5ms"},
		{"shutdown timeout too long", []string{"SHUTDOWN_TIMEOUT=2h"}, "gokv: SHUTDOWN_TIMEOUT must be at most 10m0s, got 2h0m0s"},
		{"metrics on the API port", []string{"PORT=9000", "METRICS_PORT=9000"}, "gokv: METRICS_PORT must differ from PORT (9000)"},
		{"min free larger than the disk", []string{"MIN_FREE_BYTES=9223372036854775807"}, "gokv: MIN_FREE_BYTES must be less than the size of DB_PATH's filesystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "db")
			cmd := exec.Command(binary)
			cmd.Env = env(dbPath, tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("exit code %d (%v), want 1; stderr:\n%s", code, err, stderr.String())
			}
			if got := stderr.String(); got != tt.want+"\n" && !strings.HasPrefix(got, tt.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting %q", got, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
				t.Errorf("a misconfigured server created its database: %v", err)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{[]string{"version"}, 0, "dev\n", ""},
		{[]string{"serve"}, 2, "", `unknown command "serve"`},
		{[]string{"check", "--url", "http://127.0.0.1:1", "--wait", "100ms"}, 2, "", "set JWT_SECRET"},
		{[]string{"backup", "--url", "http://127.0.0.1:1", "--dir", os.TempDir()}, 2, "", "set JWT_SECRET"},
		{[]string{"restore"}, 2, "", "--file is required"},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary, tt.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != tt.wantCode || stdout.String() != tt.wantOut && tt.wantOut != "" ||
			!strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("gokv %v: exit %d, stdout %q, stderr %q; want %d, %q, %q",
				tt.args, code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
		}
	}
}

func TestSecondServerOnSameDatabase(t *testing.T) {
	dbPath := t.TempDir()
	first := start(t, env(dbPath))
	if status, _ := do(t, http.MethodPut, first.URL+"/b/k", strings.NewReader("kept")); status != http.StatusCreated {
		t.Fatalf("PUT: status %d", status)
	}

	cmd := exec.Command(binary)
	cmd.Env = env(dbPath)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("second server: exit code %d, want 1; output:\n%s", code, out)
	}
	if !bytes.Contains(out, []byte("in use by another process")) {
		t.Errorf("second server's message does not say the database is in use:\n%s", out)
	}
	if status, body := do(t, http.MethodGet, first.URL+"/b/k", nil); status != http.StatusOK || body != "kept" {
		t.Errorf("first server after the second failed: %d %q", status, body)
	}
}

// TestSIGTERMDuringUpload checks the graceful shutdown: readiness fails at
// once, an upload in flight is finished and acknowledged, the process
// exits 0, and the data is there after a restart.
func TestSIGTERMDuringUpload(t *testing.T) {
	dbPath := t.TempDir()
	p := start(t, env(dbPath, "SHUTDOWN_DELAY=1s", "SHUTDOWN_TIMEOUT=10s"))

	body, upload := io.Pipe()
	result := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, p.URL+"/b/in-flight", body)
		req.Header.Set("Authorization", "Bearer "+token(t))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight upload: %v", err)
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	if _, err := upload.Write([]byte("first half, ")); err != nil {
		t.Fatal(err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz to fail", func() bool {
		resp, err := http.Get(p.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if _, err := upload.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	upload.Close()

	if status := <-result; status != http.StatusCreated {
		t.Fatalf("in-flight upload: status %d, want 201", status)
	}
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}

	p = start(t, env(dbPath))
	if status, got := do(t, http.MethodGet, p.URL+"/b/in-flight", nil); status != http.StatusOK || got != "first half, second half" {
		t.Errorf("after restart: %d %q, want the whole upload", status, got)
	}
}

// TestDrainTimeoutStillExitsZero: a client that never finishes its upload
// cannot hold the shutdown longer than SHUTDOWN_TIMEOUT.
func TestDrainTimeoutStillExitsZero(t *testing.T) {
	p := start(t, env(t.TempDir(), "SHUTDOWN_TIMEOUT=1s"))
	body, upload := io.Pipe()
	defer upload.Close()
	go func() {
		req, _ := http.NewRequest(http.MethodPut, p.URL+"/b/stuck", body)
		req.Header.Set("Authorization", "Bearer "+token(t))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := upload.Write([]byte("never finished")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the request reach the handler
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(p.log(), "drain timed out") {
		t.Errorf("the log does not mention the drain timeout:\n%s", p.log())
	}
}

// TestAcknowledgedWritesSurviveKill9 writes keys one by one, kills the
// process without warning, and expects every acknowledged key back.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	for _, sync := range []string{"true", "false"} {
		t.Run("SYNC_WRITES="+sync, func(t *testing.T) {
			dbPath := t.TempDir()
			p := start(t, env(dbPath, "SYNC_WRITES="+sync))
			const n = 200
			for i := range n {
				if status, _ := do(t, http.MethodPut, fmt.Sprintf("%s/b/k%d", p.URL, i), strings.NewReader(fmt.Sprint("v", i))); status != http.StatusCreated {
					t.Fatalf("PUT k%d: status %d", i, status)
				}
			}
			if err := p.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			p.wait(t, 10*time.Second)

			p = start(t, env(dbPath))
			for i := range n {
				status, got := do(t, http.MethodGet, fmt.Sprintf("%s/b/k%d", p.URL, i), nil)
				if status != http.StatusOK || got != fmt.Sprint("v", i) {
					t.Fatalf("after kill -9, k%d = %d %q, want v%d", i, status, got, i)
				}
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends p SIGTERM and expects exit code 0.
func stop(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.log())
	}
}
