package main

// Reliability suites: the real binary under concurrent load, killed with
// SIGKILL or SIGTERM (diskfull_test.go: on a filesystem that fills up).

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// TestKill9KeepsAcknowledgedWrites kills gokv at a random moment while 16
// writers overwrite their keys, restarts it on the same database and
// expects every acknowledged value back, several times in a row.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	const rounds, writers, keysPerWriter = 4, 16, 40
	for _, sync := range []string{"false", "true"} {
		t.Run("SYNC_WRITES="+sync, func(t *testing.T) {
			dbPath := t.TempDir()
			acks := newAckLog()
			for round := range rounds {
				p := start(t, env(dbPath, "SYNC_WRITES="+sync))
				acks.verify(t, p.URL)
				done := make(chan int, 1)
				go func() {
					done <- writeLoad(t, p.URL, fmt.Sprintf("round%d", round), writers, keysPerWriter, acks, nil)
				}()
				time.Sleep(100*time.Millisecond + rand.N(400*time.Millisecond))
				if err := p.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				p.wait(t, 10*time.Second)
				acked := <-done
				t.Logf("round %d: %d writes acknowledged before kill -9, %d keys in doubt", round, acked, len(acks.inFlight))
				if acked == 0 {
					t.Fatalf("round %d: no write was acknowledged before the kill; the round proves nothing", round)
				}
			}
			p := start(t, env(dbPath, "SYNC_WRITES="+sync))
			acks.verify(t, p.URL)
		})
	}
}

// TestSIGTERMUnderLoad sends SIGTERM while 16 writers are busy: no request
// may fail with a 5xx, gokv must exit 0 within SHUTDOWN_DELAY +
// SHUTDOWN_TIMEOUT, and every acknowledged write must be there after a
// restart.
func TestSIGTERMUnderLoad(t *testing.T) {
	const delay, timeout = time.Second, 5 * time.Second
	dbPath := t.TempDir()
	p := start(t, env(dbPath, "SHUTDOWN_DELAY="+delay.String(), "SHUTDOWN_TIMEOUT="+timeout.String()))
	acks := newAckLog()
	done := make(chan int, 1)
	go func() { done <- writeLoad(t, p.URL, "graceful", 16, 40, acks, nil) }()
	time.Sleep(300 * time.Millisecond)

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, delay+timeout+10*time.Second)
	took := time.Since(sent)
	acked := <-done
	t.Logf("exit %d %s after SIGTERM; %d writes acknowledged; statuses %v", code, took.Round(time.Millisecond), acked, acks.statuses)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > delay+timeout {
		t.Errorf("exit %s after SIGTERM, want within SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT = %s", took, delay+timeout)
	}
	for status, n := range acks.statuses {
		if status >= 500 {
			t.Errorf("%d requests answered %d during the shutdown", n, status)
		}
	}
	if acked == 0 {
		t.Fatal("no write was acknowledged; the test proves nothing")
	}
	p = start(t, env(dbPath))
	acks.verify(t, p.URL)
}
