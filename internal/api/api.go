// Package api is gokv's HTTP interface: the Gin router, bearer-token
// authentication, the key-value handlers and the one place where errors
// become HTTP statuses and JSON bodies.
package api

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/budget"
)

// Store is the storage the handlers need.
type Store interface {
	// GetReserving calls reserve with about the value's size before it
	// copies the value into memory.
	GetReserving(bucket, key string, reserve func(size int64) error) (badgerstore.Entry, error)
	Put(bucket, key string, e badgerstore.Entry) (created bool, err error)
	Delete(bucket, key string) error
}

// TokenVerifier accepts or rejects a bearer token.
type TokenVerifier interface {
	Verify(token string) error
}

// Options configure the router.
type Options struct {
	Store    Store
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
	h := &handlers{
		store:    opts.Store,
		maxValue: opts.MaxValueBytes,
		inflight: budget.New(opts.MaxInflightBytes),
		log:      opts.Logger,
	}
	r.Use(logRequests(opts.Logger), recoverPanics(opts.Logger), hardenResponses)
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

	data := r.Group("", authenticate(opts.Verifier, opts.Logger))
	data.GET(dataRoute, h.get)
	data.HEAD(dataRoute, h.get)
	data.POST(dataRoute, h.put)
	data.PUT(dataRoute, h.put)
	data.DELETE(dataRoute, h.delete)
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
