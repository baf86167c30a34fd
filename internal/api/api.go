// Package api is gokv's HTTP interface: the Gin router, bearer-token
// authentication, the key-value handlers and the one place where errors
// become HTTP statuses and JSON bodies.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	apispec "github.com/gokv-service/gokv/api"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/budget"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/metrics"
)

// TokenVerifier accepts or rejects a bearer token. It returns the token's
// subject, for the log, or an error wrapping one of internal/auth's
// reasons (auth.ErrExpired, ...), for metrics.
type TokenVerifier interface {
	Verify(token string) (auth.Grant, error)
}

// Options configure the router.
type Options struct {
	Store    kv.Store
	Verifier TokenVerifier
	// Ready reports whether the server should receive traffic; /readyz
	// answers 503 while it returns false.
	Ready func() bool
	// Live returns why the process needs a restart (a failed or stalled
	// store), or nil; /healthz and /readyz answer 503 while it does. Nil
	// means always live.
	Live func() error
	// MaxValueBytes bounds request bodies; larger ones get 413.
	MaxValueBytes int64
	// MaxInflightBytes bounds the bytes of values that requests hold in
	// memory at once, bodies being read and stored and values being
	// served; a request that finds no room within inflightWait gets 503.
	// It must be at least MaxValueBytes.
	MaxInflightBytes int64
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// for the client IP in logs; none by default.
	TrustedProxies []string
	Logger         *slog.Logger
	// Stopping is done when the server starts to shut down: watch
	// streams end then, so that they do not hold up the drain. Nil
	// means never.
	Stopping context.Context
	// RestoreSpoolDir is the directory where POST /_admin/restore keeps
	// the backup it receives until it is verified and restored. It must
	// have room for the largest backup; "" refuses restores.
	RestoreSpoolDir string
	// RestoreSpoolMinFree is the free space, in bytes, a restore's spool
	// leaves on its filesystem: a restore whose backup does not fit gets
	// 507. 0: no check.
	RestoreSpoolMinFree int64
	// Metrics counts requests, auth refusals and backups; nil counts
	// nothing.
	Metrics *metrics.Metrics
}

// dataRoute captures the bucket and the whole rest of the path as the key,
// so keys may contain '/'.
const dataRoute = "/:bucket/*key"

// NewRouter returns the HTTP handler of the gokv API. Set Gin's mode with
// gin.SetMode before calling it.
func NewRouter(opts Options) (*gin.Engine, error) {
	r := gin.New()
	// Route on the escaped path and leave the values escaped: the handlers
	// unescape them exactly once, as path segments, so that %2F stays
	// part of a key and '+' stays a plus sign.
	r.UseEscapedPath = true
	r.UnescapePathValues = false
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.ForwardedByClientIP = len(opts.TrustedProxies) > 0
	if err := r.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("set trusted proxies: %w", err)
	}

	if opts.MaxInflightBytes < opts.MaxValueBytes {
		return nil, fmt.Errorf("max in-flight bytes %d below max value bytes %d", opts.MaxInflightBytes, opts.MaxValueBytes)
	}
	stopping := opts.Stopping
	if stopping == nil {
		stopping = context.Background()
	}
	h := &handlers{
		store:        opts.Store,
		maxValue:     opts.MaxValueBytes,
		inflight:     budget.New(opts.MaxInflightBytes),
		log:          opts.Logger,
		stopping:     stopping,
		events:       newEventTexts(),
		metrics:      opts.Metrics,
		gate:         &gate{},
		spoolDir:     opts.RestoreSpoolDir,
		spoolMinFree: opts.RestoreSpoolMinFree,
	}
	r.Use(logRequests(opts.Logger), opts.Metrics.Middleware(), recoverPanics(opts.Logger), hardenResponses)
	r.NoRoute(func(c *gin.Context) { abort(c, http.StatusNotFound, "not found") })
	r.NoMethod(func(c *gin.Context) { abort(c, http.StatusMethodNotAllowed, "method not allowed") })

	live := opts.Live
	if live == nil {
		live = func() error { return nil }
	}
	r.GET("/healthz", healthz(live))
	r.HEAD("/healthz", healthz(live))
	r.GET("/readyz", readyz(opts.Ready, live))
	r.HEAD("/readyz", readyz(opts.Ready, live))
	// The contract is public: clients and tools read it before they
	// have a token.
	r.GET("/_openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", apispec.Spec) })

	authed := r.Group("", authenticate(opts.Verifier, opts.Logger, opts.Metrics))
	read, write, admin := h.authorize(auth.ScopeRead), h.authorize(auth.ScopeWrite), h.authorize(auth.ScopeAdmin)
	authed.GET("/_admin/backup", admin, h.gate.admit, h.backup)
	authed.POST("/_admin/restore", admin, h.restore)
	// Data requests wait for no restore: they are refused while one runs.
	// Paths whose first segment starts with '_' are gokv's own; no
	// bucket can be named so (kv.ValidateBucket).
	authed.GET("/_buckets", read, h.gate.admit, h.buckets)
	authed.POST("/_txn", write, h.gate.admit, h.txn)
	authed.GET(dataRoute, read, h.gate.admit, h.get)
	authed.HEAD(dataRoute, read, h.gate.admit, h.get)
	authed.POST(dataRoute, write, h.gate.admit, h.put)
	authed.PUT(dataRoute, write, h.gate.admit, h.put)
	authed.DELETE(dataRoute, write, h.gate.admit, h.delete)
	return r, nil
}

// healthz is the liveness probe: it fails only for what a restart cures,
// and names the reason.
func healthz(live func() error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := live(); err != nil {
			abort(c, http.StatusServiceUnavailable, "not live: "+err.Error())
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

func readyz(ready func() bool, live func() error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !ready() || live() != nil {
			abort(c, http.StatusServiceUnavailable, "not ready")
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}
