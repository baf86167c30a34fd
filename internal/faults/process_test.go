package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// binary is the gokv built for the tests, with the race detector: a kill
// and a restart are when a race would show.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gokv-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "gokv")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/gokv-service/gokv/cmd/gokv")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gokv: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// faultsDuration is how long a test keeps its load and faults going:
// short unless GOKV_FAULTS_DURATION says otherwise.
func faultsDuration(t *testing.T, short time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv("GOKV_FAULTS_DURATION")
	if v == "" {
		return short
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("GOKV_FAULTS_DURATION=%q: want a positive Go duration such as 2m", v)
	}
	return d
}

func token(t *testing.T) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{Subject: "faults", ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// freePort returns a loopback port nothing listens on now, for a server
// that must come back on the same address after a restart.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// servingMsg is the message of gokv's log line once it listens, with
// the address in its addr.
const servingMsg = "gokv is serving"

// process is a running gokv.
type process struct {
	cmd *exec.Cmd
	// URL is the base URL gokv serves on.
	URL  string
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	logs bytes.Buffer
}

// startGokv runs gokv with environ and waits until it serves.
func startGokv(t *testing.T, environ []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary), done: make(chan struct{})}
	p.cmd.Env = environ
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			json.Unmarshal(sc.Bytes(), &line)
			if line.Msg == servingMsg {
				serving <- line.Addr
			}
			// A line per request would bury the log shown on failure.
			if line.Msg == "request" {
				continue
			}
			p.mu.Lock()
			p.logs.Write(sc.Bytes())
			p.logs.WriteByte('\n')
			p.mu.Unlock()
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
	case addr := <-serving:
		p.URL = "http://" + addr
	case <-p.done:
		t.Fatalf("gokv exited before serving: %v\n%s", p.cmd.ProcessState, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("gokv did not serve within 60s\n%s", p.log())
	}
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// kill9 kills the process with SIGKILL and waits until it is gone.
func (p *process) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("gokv still running 10s after SIGKILL")
	}
}

// gokvEnv is the environment of a gokv on loopback port (0: any free
// one), with extra: DB_PATH or the etcd settings.
func gokvEnv(port int, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"JWT_SECRET=" + testSecret,
		"HOST=127.0.0.1",
		"PORT=" + strconv.Itoa(port),
		"METRICS_PORT=0",
		"GIN_MODE=release",
		"LOG_FORMAT=json",
	}, extra...)
}
