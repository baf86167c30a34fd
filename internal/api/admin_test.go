package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/backup"
	"github.com/gokv-service/gokv/internal/kv"
)

// fill stores n keys with TTLs and content types of their own behind the
// API's back.
func fill(t testing.TB, s kv.Store, bucket string, n int) {
	t.Helper()
	var ops []kv.Op
	for i := range n {
		op := kv.Op{Kind: kv.OpPut, Bucket: bucket, Key: fmt.Sprintf("k%06d", i),
			Value: []byte(strings.Repeat(fmt.Sprint(i), 1+i%9)), ContentType: fmt.Sprint("text/x-", i%4)}
		if i%3 == 0 {
			op.TTL = time.Hour
		}
		if ops = append(ops, op); len(ops) == kv.MaxOps || i == n-1 {
			if _, err := s.Apply(context.Background(), ops); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
}

// dump is every record of s, in the order Backup gives them (key order).
func dump(t testing.TB, s kv.Store) []kv.Record {
	t.Helper()
	var recs []kv.Record
	if _, err := s.Backup(context.Background(), func(r kv.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

func sameDump(t testing.TB, got, want []kv.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the database holds %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Bucket != w.Bucket || g.Key != w.Key || g.ContentType != w.ContentType ||
			!g.ExpiresAt.Equal(w.ExpiresAt) || !bytes.Equal(g.Value, w.Value) {
			t.Fatalf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

// getBackup takes a backup over HTTP and checks its headers.
func (ts *testServer) getBackup(t testing.TB) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/_admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+ts.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != backup.ContentType || resp.ContentLength != -1 {
		t.Fatalf("GET /_admin/backup: %d %q, length %d", resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength)
	}
	if resp.Trailer.Get("Gokv-Backup-Version") == "" {
		t.Fatalf("GET /_admin/backup: no Gokv-Backup-Version trailer (trailers %v)", resp.Trailer)
	}
	return body
}

func (ts *testServer) restore(t testing.TB, query string, body []byte) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/_admin/restore"+query, bytes.NewReader(body),
		map[string]string{"Content-Type": backup.ContentType, "Authorization": "Bearer " + ts.AdminToken})
}

// TestBackupRestoreRoundTrip: a backup restored into an empty server gives
// back every entry, content type, expiry and value.
func TestBackupRestoreRoundTrip(t *testing.T) {
	src, dst := newTestServer(t), newTestServer(t)
	fill(t, src.Store, "a", 2000)
	fill(t, src.Store, "b", 10)
	src.MustPut(t, "big", "v", bytes.Repeat([]byte("v"), testMaxValue))
	body := src.getBackup(t)

	r := dst.restore(t, "", body)
	r.wantStatus(t, http.StatusOK, "restore into an empty server")
	var res struct {
		Restored      int    `json:"restored"`
		BackupVersion string `json:"backup_version"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil || res.Restored != 2011 || res.BackupVersion == "" {
		t.Fatalf("restore answered %s (%v), want 2011 restored and a version", r.body, err)
	}
	sameDump(t, dump(t, dst.Store), dump(t, src.Store))
	// What clients see: the value, its type and its expiry.
	got := dst.request(t, http.MethodGet, "/a/k000003", nil, nil)
	got.wantStatus(t, http.StatusOK, "GET of a restored key")
	if string(got.body) != "3333" || got.header.Get("Content-Type") != "text/x-3" || got.header.Get("Gokv-Expires-At") == "" {
		t.Fatalf("restored key: %q %q expires %q", got.body, got.header.Get("Content-Type"), got.header.Get("Gokv-Expires-At"))
	}
}

// TestRestoreRefusesDamage: a backup cut short or with a byte flipped is
// refused with 400 and leaves the database as it was, empty or not.
func TestRestoreRefusesDamage(t *testing.T) {
	src := newTestServer(t)
	fill(t, src.Store, "a", 500)
	good := src.getBackup(t)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01
	tests := []struct {
		name, query string
		body        []byte
		want        string
	}{
		{"cut in the middle", "", good[:len(good)/2], "truncated"},
		{"cut in the middle, replace", "?mode=replace", good[:len(good)/2], "truncated"},
		{"one byte flipped", "", flipped, "corrupt"},
		{"one byte flipped, replace", "?mode=replace", flipped, "corrupt"},
		{"checksum cut off", "?mode=replace", good[:len(good)-32], "truncated"},
		{"not a backup", "?mode=replace", []byte(`{"json": true}`), "not a gokv backup"},
		{"empty", "?mode=replace", nil, "not a gokv backup"},
	}
	for _, empty := range []bool{true, false} {
		ts := newTestServer(t)
		if !empty {
			fill(t, ts.Store, "mine", 50)
		}
		before := dump(t, ts.Store)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/empty=%v", tt.name, empty), func(t *testing.T) {
				r := ts.restore(t, tt.query, tt.body)
				r.wantStatus(t, http.StatusBadRequest, tt.name)
				if msg := r.errorMessage(t); !strings.Contains(msg, tt.want) {
					t.Errorf("error %q does not say %q", msg, tt.want)
				}
				sameDump(t, dump(t, ts.Store), before)
			})
		}
	}
}

// TestRestoreModes: without mode=replace a database with entries is
// refused with 409 and unchanged; with it, it holds the backup exactly.
func TestRestoreModes(t *testing.T) {
	src, ts := newTestServer(t), newTestServer(t)
	fill(t, src.Store, "a", 100)
	body := src.getBackup(t)
	fill(t, ts.Store, "mine", 10)
	ts.MustPut(t, "a", "k000001", []byte("old"))
	before := dump(t, ts.Store)

	ts.restore(t, "", body).wantStatus(t, http.StatusConflict, "restore into a non-empty database")
	sameDump(t, dump(t, ts.Store), before)
	ts.restore(t, "?mode=merge", body).wantStatus(t, http.StatusBadRequest, "restore with an unknown mode")
	sameDump(t, dump(t, ts.Store), before)

	ts.restore(t, "?mode=replace", body).wantStatus(t, http.StatusOK, "restore with mode=replace")
	sameDump(t, dump(t, ts.Store), dump(t, src.Store))
}

func TestBackupSinceIsRefused(t *testing.T) {
	ts := newTestServer(t)
	r := ts.request(t, http.MethodGet, "/_admin/backup?since=5", nil, map[string]string{"Authorization": "Bearer " + ts.AdminToken})
	r.wantStatus(t, http.StatusBadRequest, "incremental backup")
	if msg := r.errorMessage(t); !strings.Contains(msg, "not supported by this backend") {
		t.Errorf("error %q does not say incremental backups are unsupported", msg)
	}
	ts.request(t, http.MethodGet, "/_admin/backup", nil, map[string]string{"Authorization": ""}).
		wantStatus(t, http.StatusUnauthorized, "backup without a token")
	ts.request(t, http.MethodPost, "/_admin/restore", nil, map[string]string{"Authorization": ""}).
		wantStatus(t, http.StatusUnauthorized, "restore without a token")
}

// heldStore holds Restore until released, so that a test can look at the
// server while a restore runs.
type heldStore struct {
	kv.Store
	entered, release chan struct{}
}

func (s *heldStore) Restore(ctx context.Context, replace bool, next func() (kv.Record, error)) (int, error) {
	close(s.entered)
	<-s.release
	return s.Store.Restore(ctx, replace, next)
}

// TestRequestsWaitOutARestore: while a restore runs, data requests, backups
// and other restores get 503 with Retry-After; probes do not.
func TestRequestsWaitOutARestore(t *testing.T) {
	held := &heldStore{entered: make(chan struct{}), release: make(chan struct{})}
	ts := &testServer{apitest.StartWith(t, apitest.Config{Wrap: func(s kv.Store) kv.Store { held.Store = s; return held }})}
	ts.MustPut(t, "a", "k", []byte("v"))
	body := ts.getBackup(t)

	done := make(chan response, 1)
	go func() { done <- ts.restore(t, "?mode=replace", body) }()
	<-held.entered
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/a/k"},
		{http.MethodPut, "/a/k"},
		{http.MethodGet, "/a/"},
		{http.MethodGet, "/_buckets"},
		{http.MethodPost, "/_txn"},
		{http.MethodGet, "/_admin/backup"},
		{http.MethodPost, "/_admin/restore"},
	} {
		r := ts.request(t, tt.method, tt.path, strings.NewReader("x"), map[string]string{"Authorization": "Bearer " + ts.AdminToken})
		r.wantStatus(t, http.StatusServiceUnavailable, tt.method+" "+tt.path+" during a restore")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s during a restore: no Retry-After", tt.method, tt.path)
		}
	}
	ts.request(t, http.MethodGet, "/healthz", nil, nil).wantStatus(t, http.StatusOK, "liveness during a restore")
	ts.request(t, http.MethodGet, "/readyz", nil, nil).wantStatus(t, http.StatusOK, "readiness during a restore")
	close(held.release)
	(<-done).wantStatus(t, http.StatusOK, "the restore")
	ts.request(t, http.MethodGet, "/a/k", nil, nil).wantStatus(t, http.StatusOK, "GET after the restore")
}

// TestRestoreSpoolKeepsTheReserve: the spool shares the database's volume,
// which must not fill up; a backup that would leave less free than the
// reserve is refused with 507 part way through the upload, and nothing
// changes.
func TestRestoreSpoolKeepsTheReserve(t *testing.T) {
	src := newTestServer(t)
	fill(t, src.Store, "a", 30000) // a backup of more than 1 MiB
	body := src.getBackup(t)
	if len(body) < 1<<20+128<<10 {
		t.Fatalf("the backup is only %d bytes", len(body))
	}
	ts := &testServer{apitest.StartWith(t, apitest.Config{RestoreSpoolMinFree: 1 << 62})}
	ts.restore(t, "", body).wantStatus(t, http.StatusInsufficientStorage, "restore onto a full volume")
	if got := dump(t, ts.Store); len(got) != 0 {
		t.Fatalf("the refused restore wrote %d entries", len(got))
	}
}
