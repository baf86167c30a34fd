package faults

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/lincheck"
)

// TestBadgerKill9 runs the real gokv on Badger (SYNC_WRITES=true, the
// default: an acknowledged write is durable) under concurrent new-key
// writes and If-Match increments, SIGKILLs it every one to three seconds
// and restarts it on the same DB_PATH and port. Afterwards every
// acknowledged write must read back and the history must be
// linearizable: a restart may lose only writes nobody was told about.
//
// Mutation check (done by hand, then reverted): restarting gokv on a
// fresh DB_PATH after each kill, as if the volume were lost, makes the
// test fail with hundreds of acknowledged writes lost and a history that
// is not linearizable (counters that went back). SYNC_WRITES=false would
// not do: a SIGKILL leaves the page cache, and so the writes, intact
// (TestKill9KeepsAcknowledgedWrites in cmd/gokv).
func TestBadgerKill9(t *testing.T) {
	d := faultsDuration(t, 12*time.Second)
	dbPath, port := t.TempDir(), freePort(t)
	environ := gokvEnv(port, "DB_PATH="+dbPath)
	p := startGokv(t, environ)
	url := p.URL

	run := lincheck.Workload{
		Targets:  []string{url},
		Token:    token(t),
		Bucket:   "faults",
		Clients:  8,
		Counters: 3,
		Timeout:  5 * time.Second,
	}.Start(context.Background())
	kills := 0
	var down time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(time.Second + rand.N(2*time.Second))
		p.kill9(t)
		kills++
		killed := time.Now()
		p = startGokv(t, environ)
		down += time.Since(killed)
	}
	// The last start serves some load too before the check.
	time.Sleep(time.Second)
	run.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := run.Verify(ctx, url, time.Minute)
	t.Logf("%s of load, %d SIGKILLs and restarts (down %s in all): %s", d, kills, down.Round(time.Millisecond), rep)
	if err != nil {
		t.Error(err)
	}
	if rep.AckedWrites == 0 || kills == 0 {
		t.Fatal("no write acknowledged or no kill: the run proves nothing")
	}
	for status, n := range rep.Statuses {
		if strings.HasSuffix(status, " 500") {
			t.Errorf("%d answers %s", n, status)
		}
	}
}
