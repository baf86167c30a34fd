// Package apitest starts the real gokv HTTP stack for tests: Badger on
// disk in a temporary directory, the real router with token checks, and a
// real HTTP server on loopback.
package apitest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/api"
	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/metrics"
)

// Secret is the JWT secret of every test server.
var Secret = []byte("0123456789abcdef0123456789abcdef")

// DefaultMaxValue is the value size limit of a test server.
const DefaultMaxValue = 64 << 10

// DefaultMaxInflight is the bound of bytes in flight of a test server:
// room for 32 values of the largest size at once.
const DefaultMaxInflight = 32 * DefaultMaxValue

// Server is a running test server.
type Server struct {
	URL string
	// Token is valid for an hour, without scope claims: read and write
	// on every bucket, not admin.
	Token string
	// AdminToken is valid for an hour and allows everything: read,
	// write and admin (/_admin/*) on every bucket.
	AdminToken string
	// Store is the server's store, for looking behind the API.
	Store *badgerstore.Store
	// Ready is what /readyz reports; true at start.
	Ready atomic.Bool
	// Handler is the router, for requests served in-process (fuzzing).
	Handler http.Handler
	// Metrics are the server's series; MetricsURL serves them, as
	// METRICS_PORT does.
	Metrics    *metrics.Metrics
	MetricsURL string
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Config{})
}

// Config changes a test server from the defaults.
type Config struct {
	// Wrap, when not nil, gives the router Wrap(store) rather than the
	// store itself: a test can watch or hold the real store's calls.
	Wrap func(kv.Store) kv.Store
	// RestoreSpoolMinFree is api.Options.RestoreSpoolMinFree.
	RestoreSpoolMinFree int64
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// MinFreeBytes is the store's badgerstore.Options.MinFreeBytes: set
	// it above the free space to have writes refused with 507.
	MinFreeBytes int64
	// NoMetrics turns metrics off, as METRICS_PORT=0 does: Metrics is
	// nil and MetricsURL empty.
	NoMetrics bool
}

// StartWith starts a server as cfg says.
func StartWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	gin.SetMode(gin.TestMode)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	storeOpts := badgerstore.Options{MinFreeBytes: cfg.MinFreeBytes}
	var m *metrics.Metrics
	if !cfg.NoMetrics {
		m = metrics.New()
		storeOpts.Observer = m
	}
	store, err := badgerstore.Open(t.TempDir(), storeOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if m != nil {
		m.CollectStore(store.Stats)
	}
	var served kv.Store = store
	if cfg.Wrap != nil {
		served = cfg.Wrap(store)
	}
	verifier, err := auth.NewVerifier(Secret, auth.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: store, Metrics: m}
	s.Ready.Store(true)
	router, err := api.NewRouter(api.Options{
		Store:               served,
		Verifier:            verifier,
		Live:                store.Health,
		Ready:               s.Ready.Load,
		MaxValueBytes:       DefaultMaxValue,
		MaxInflightBytes:    DefaultMaxInflight,
		Logger:              log,
		Metrics:             m,
		RestoreSpoolDir:     t.TempDir(),
		RestoreSpoolMinFree: cfg.RestoreSpoolMinFree,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Handler = router
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	if m != nil {
		msrv := httptest.NewServer(m.Handler())
		t.Cleanup(msrv.Close)
		s.MetricsURL = msrv.URL + "/metrics"
	}
	s.Token = MintToken(t, time.Hour)
	s.AdminToken = Mint(t, auth.Claims{ExpiresIn: time.Hour, Scope: auth.ScopeRead | auth.ScopeWrite | auth.ScopeAdmin})
	return s
}

// MustPut stores value under bucket and key behind the API's back.
func (s *Server) MustPut(t testing.TB, bucket, key string, value []byte) kv.Result {
	t.Helper()
	res, err := s.Store.Apply(context.Background(), []kv.Op{{Kind: kv.OpPut, Bucket: bucket, Key: key, Value: value, ContentType: "application/octet-stream"}})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return res[0]
}

// MintToken returns a token for Secret that expires after expiresIn.
func MintToken(t testing.TB, expiresIn time.Duration) string {
	t.Helper()
	token, err := auth.Mint(Secret, auth.Claims{Subject: "test", ExpiresIn: expiresIn}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Mint returns a token for Secret that says c; subject "test" when c
// names none.
func Mint(t testing.TB, c auth.Claims) string {
	t.Helper()
	if c.Subject == "" {
		c.Subject = "test"
	}
	token, err := auth.Mint(Secret, c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return token
}
