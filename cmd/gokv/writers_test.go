package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// ackLog remembers, across restarts, what the server acknowledged: the
// last value each key was acknowledged with, and the value of a write
// whose answer never came (the server died or closed the connection
// first), which may or may not have been applied.
type ackLog struct {
	mu       sync.Mutex
	acked    map[string]string
	inFlight map[string]string
	statuses map[int]int
}

func newAckLog() *ackLog {
	return &ackLog{acked: map[string]string{}, inFlight: map[string]string{}, statuses: map[int]int{}}
}

// writeLoad runs writers goroutines that each overwrite their own keys
// (keysPerWriter of them, round-robin) with fresh values until stop is
// closed or their connection fails, and records every outcome in log. It
// returns how many writes were acknowledged.
func writeLoad(t *testing.T, url, tag string, writers, keysPerWriter int, log *ackLog, stop <-chan struct{}) int {
	t.Helper()
	tok := token(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked int
	)
	for w := range writers {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%02d-k%03d", w, seq%keysPerWriter)
				value := fmt.Sprintf("%s-w%02d-seq%06d", tag, w, seq)
				req, _ := http.NewRequest(http.MethodPut, url+"/crash/"+key, strings.NewReader(value))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					// No answer: the write may or may not have happened.
					log.mu.Lock()
					log.inFlight[key] = value
					log.mu.Unlock()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				log.mu.Lock()
				log.statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusNoContent {
					log.acked[key] = value
					delete(log.inFlight, key)
				}
				log.mu.Unlock()
				if resp.StatusCode/100 != 2 {
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked
}

// verify checks that the server at url has every acknowledged value, or
// for a key with a write in flight, either value. It then forgets the
// in-flight writes, taking what the server has as acknowledged.
func (l *ackLog) verify(t *testing.T, url string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	tok := token(t)
	keys := map[string]bool{}
	for k := range l.acked {
		keys[k] = true
	}
	for k := range l.inFlight {
		keys[k] = true
	}
	lost := 0
	for key := range keys {
		req, _ := http.NewRequest(http.MethodGet, url+"/crash/"+key, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(body)
		if resp.StatusCode != http.StatusOK {
			got = fmt.Sprintf("<status %d>", resp.StatusCode)
		}
		acked, wasAcked := l.acked[key]
		pending, wasPending := l.inFlight[key]
		switch {
		case wasAcked && got == acked, wasPending && got == pending:
		case !wasAcked && resp.StatusCode == http.StatusNotFound:
			// Only an unanswered create: not having it is fine.
		default:
			lost++
			if lost <= 5 {
				t.Errorf("key %s = %q, acknowledged %q (in flight: %q)", key, got, acked, pending)
			}
			continue
		}
		if resp.StatusCode == http.StatusOK {
			l.acked[key] = got
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d keys lost their acknowledged value", lost, len(keys))
	}
	clear(l.inFlight)
}
