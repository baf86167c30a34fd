// Package server runs gokv from a configuration: it opens the store,
// serves the API on a hardened http.Server, and on shutdown drains
// requests and closes the store so that no acknowledged write is lost.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/netutil"

	"github.com/gokv-service/gokv/internal/api"
	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/config"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/metrics"
)

// Timeouts and limits of the HTTP server. They bound how long a slow or
// idle client can hold a connection (slowloris) while leaving room for a
// MAX_VALUE_BYTES upload over a slow link.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	// maxHeaderBytes leaves room for a 1 KiB key escaped to 3 KiB and a
	// large token, not for abuse.
	maxHeaderBytes = 32 << 10
)

// tokenCacheSize is how many verified tokens are remembered until they
// expire. Clients reuse a token for many requests, and a cache hit costs
// a map lookup instead of base64, JSON and HMAC-SHA256 (about a sixth of
// the CPU of a GET, see docs/performance.md); at most 1024 tokens of up to
// 4 KiB bound it to a few MiB.
const tokenCacheSize = 1024

// closeGrace is how long closing the store may take beyond the shutdown
// deadline (SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT after the signal): a clean
// close takes well under a second, and the chart gives the pod 10 s more
// than that deadline before Kubernetes kills it.
const closeGrace = 5 * time.Second

// Server is gokv ready to serve: the store is open and the router built.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    kv.Store
	backend  *backend // what the store needs of the server beyond kv.Store
	http     *http.Server
	stopping atomic.Bool
	// stopStreams ends watch streams when the shutdown starts.
	stopStreams context.CancelFunc
	addr        atomic.Pointer[net.Addr]
	// metrics is nil when METRICS_PORT is 0; metricsLn, unless nil, is
	// the listener to serve them on instead of HOST:METRICS_PORT.
	metrics     *metrics.Metrics
	metricsLn   net.Listener
	metricsAddr atomic.Pointer[net.Addr]
}

// New opens the store and builds the server; Serve runs it. When New
// fails nothing is left open.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	var m *metrics.Metrics
	var observer kv.Observer
	if cfg.MetricsPort != 0 {
		m = metrics.New()
		observer = m
	}
	b, err := openBackend(cfg, log, observer)
	if err != nil {
		return nil, err
	}
	if m != nil {
		m.CollectStore(b.store.Stats)
	}
	s := &Server{cfg: cfg, log: log, store: b.store, backend: b, metrics: m}
	if err := s.build(); err != nil {
		return nil, errors.Join(err, s.closeStore(func() {}, &sync.WaitGroup{}, closeGrace))
	}
	return s, nil
}

// build makes the router and the HTTP server around the open store.
func (s *Server) build() error {
	var previous []byte
	if s.cfg.JWTSecretPrev != "" {
		previous = []byte(s.cfg.JWTSecretPrev)
	}
	verifier, err := auth.NewVerifier([]byte(s.cfg.JWTSecret), auth.VerifierOptions{
		Issuer:         s.cfg.JWTIssuer,
		Audience:       s.cfg.JWTAudience,
		CacheSize:      tokenCacheSize,
		MaxLifetime:    s.cfg.JWTMaxLifetime,
		PreviousSecret: previous,
	})
	if err != nil {
		return fmt.Errorf("JWT_SECRET: %w", err)
	}
	streams, stopStreams := context.WithCancel(context.Background())
	s.stopStreams = stopStreams
	gin.SetMode(s.cfg.GinMode)
	router, err := api.NewRouter(api.Options{
		Store:            s.store,
		Verifier:         verifier,
		Ready:            func() bool { return !s.stopping.Load() && s.store.Ready() == nil },
		Live:             s.store.Health,
		MaxValueBytes:    s.cfg.MaxValueBytes,
		MaxInflightBytes: s.cfg.MaxInflightBytes,
		TrustedProxies:   s.cfg.TrustedProxies,
		Logger:           s.log,
		Stopping:         streams,
		RestoreSpoolDir:  s.backend.spoolDir,
		// With Badger the spool shares the database's volume and its
		// reserve.
		RestoreSpoolMinFree: s.backend.spoolMinFree,
		Metrics:             s.metrics,
	})
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           router,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return nil
}

// Run serves gokv on the configured host and port until ctx is done; see
// Serve.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		err = fmt.Errorf("listen on port %d: %w", cfg.Port, err)
		return errors.Join(err, s.closeStore(func() {}, &sync.WaitGroup{}, closeGrace))
	}
	return s.Serve(ctx, ln)
}

// Addr is the address Serve listens on; nil until Serve is called.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// ServeMetricsOn makes Serve serve /metrics on ln rather than on
// HOST:METRICS_PORT, e.g. on a free port picked by the caller. Call it
// before Serve; it is ignored (and ln closed) when METRICS_PORT is 0.
func (s *Server) ServeMetricsOn(ln net.Listener) {
	if s.metrics == nil {
		ln.Close()
		return
	}
	s.metricsLn = ln
}

// MetricsAddr is the address /metrics is served on; nil until Serve has
// started it, and always nil when METRICS_PORT is 0.
func (s *Server) MetricsAddr() net.Addr {
	if a := s.metricsAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// serveMetrics serves /metrics, without authentication, on s.metricsLn or
// a listener of its own on HOST:METRICS_PORT: a listener apart from the
// API's, so that scrapers need no token and the API grows no endpoint.
// The returned function stops it.
func (s *Server) serveMetrics() (stop func(), err error) {
	ln := s.metricsLn
	if ln == nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.MetricsPort)))
		if err != nil {
			return nil, fmt.Errorf("METRICS_PORT: listen on port %d: %w", s.cfg.MetricsPort, err)
		}
	}
	addr := ln.Addr()
	s.metricsAddr.Store(&addr)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go srv.Serve(ln)
	s.log.Info("metrics serving", "addr", addr.String(), "path", "/metrics")
	return func() { srv.Close() }, nil
}

// Serve serves gokv on ln until ctx is done, then shuts down gracefully:
// /readyz turns 503 at once, requests are still served for
// cfg.ShutdownDelay so that load balancers can stop sending new ones, then
// watch streams end, the listener closes, in-flight requests get up to
// cfg.ShutdownTimeout to finish, and the store is closed. A drain that
// times out is logged, not an error; a store that does not close cleanly,
// or not within closeGrace of the deadline, is an error. Serve closes the
// store whatever happens; call it once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) (err error) {
	cfg, log := s.cfg, s.log
	// Until shutdown starts, an early return closes at once.
	deadline := time.Now()
	var gcDone sync.WaitGroup
	stopGC := func() {}
	defer func() {
		s.stopStreams()
		if cerr := s.closeStore(stopGC, &gcDone, time.Until(deadline)+closeGrace); cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		log.Info("database closed", s.backend.describe...)
	}()

	if s.metrics != nil {
		// Stopped when Serve returns, after the drain and before the
		// store closes: scrapes read the store. Started before Addr is
		// set, so that a caller who sees Addr sees MetricsAddr too.
		stopMetrics, err := s.serveMetrics()
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}
	addr := ln.Addr()
	s.addr.Store(&addr)

	// Every connection costs memory (buffers, a goroutine) for as long as
	// it is open, idle or not; beyond MAX_CONNS new ones wait in the
	// kernel's accept queue until one closes.
	ln = netutil.LimitListener(ln, cfg.MaxConns)

	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDebug()
	}

	gcCtx, cancelGC := context.WithCancel(context.Background())
	stopGC = cancelGC
	if s.backend.runGC != nil {
		gcDone.Go(func() { s.backend.runGC(gcCtx, cfg.GCInterval, log) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(ln) }()
	fields := append([]any{"addr", addr.String()}, s.backend.describe...)
	fields = append(fields, "max_value_bytes", cfg.MaxValueBytes,
		"max_inflight_bytes", cfg.MaxInflightBytes, "max_conns", cfg.MaxConns)
	log.Info("gokv is serving", fields...)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	deadline = time.Now().Add(cfg.ShutdownDelay + cfg.ShutdownTimeout)
	s.stopping.Store(true)
	log.Info("shutting down: not ready any more", "delay", cfg.ShutdownDelay, "timeout", cfg.ShutdownTimeout)
	time.Sleep(cfg.ShutdownDelay)

	// A watch stream is never idle, so the drain would wait for it
	// until its timeout: end the streams first; clients resume with
	// Last-Event-ID on another pod.
	s.stopStreams()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(drainCtx); err != nil {
		log.Warn("drain timed out; closing remaining connections", "err", err)
		if err := s.http.Close(); err != nil {
			log.Warn("close connections", "err", err)
		}
		return nil
	}
	log.Info("requests drained")
	return nil
}

// closeStore stops the value-log GC and closes the store, giving up after
// limit: a store whose engine failed may wait forever on its own locks
// (storage's fence.go), and a shutdown must end in time all the same.
// The goroutine left behind then ends with the process.
func (s *Server) closeStore(stopGC func(), gcDone *sync.WaitGroup, limit time.Duration) error {
	closed := make(chan error, 1)
	go func() {
		stopGC()
		gcDone.Wait()
		closed <- s.store.Close()
	}()
	select {
	case err := <-closed:
		return err
	case <-time.After(limit):
		return fmt.Errorf("close database: gave up after %s: %w", limit.Round(time.Millisecond), errCloseTimeout)
	}
}

// errCloseTimeout: the store did not close in time; writes acknowledged
// before are durable all the same, but the next start replays the log.
var errCloseTimeout = errors.New("database did not close in time")

// serveDebug serves Go's profiling endpoints (/debug/pprof/) on addr,
// which config has checked is loopback: they are for an operator on the
// machine or pod (kubectl port-forward), never for clients. The returned
// function stops them.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("DEBUG_ADDR: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go srv.Serve(ln)
	log.Info("debug endpoints serving", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
