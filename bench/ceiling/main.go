// Command ceiling is the yardstick of `make bench`, not part of gokv: the
// least a server with gokv's API shape can do per request. It is Gin with
// the same routes, gokv's HS256 verification of the bearer token on every
// request (auth.Verifier without its cache of verified tokens) and an
// in-memory map instead of Badger. gokv's throughput is reported as a
// share of this one's, measured in the same run on the same core.
//
// Usage: JWT_SECRET=... ceiling [-addr 127.0.0.1:0]
//
// It prints "ceiling is serving on ADDR" on stderr once it listens and
// stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv("JWT_SECRET"), os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ceiling: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, secret string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	verifier, err := auth.NewVerifier([]byte(secret), auth.VerifierOptions{})
	if err != nil {
		return fmt.Errorf("JWT_SECRET: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// The same limits as gokv's server, so that both pay for them.
	srv := &http.Server{
		Handler:           newRouter(verifier),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "ceiling is serving on %s\n", ln.Addr())
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type entry struct {
	contentType string
	value       []byte
}

// store is the in-memory stand-in for Badger.
type store struct {
	mu sync.RWMutex
	m  map[string]entry
}

func newRouter(verifier *auth.Verifier) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	s := &store{m: map[string]entry{}}
	r := gin.New()
	r.UseEscapedPath = true
	r.UnescapePathValues = false
	r.GET("/readyz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	data := r.Group("", func(c *gin.Context) {
		scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
		if _, err := verifier.Verify(token); !strings.EqualFold(scheme, "Bearer") || err != nil {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "invalid token"})
		}
	})
	data.GET("/:bucket/*key", func(c *gin.Context) {
		s.mu.RLock()
		e, ok := s.m[c.Param("bucket")+":"+c.Param("key")]
		s.mu.RUnlock()
		if !ok {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "not found"})
			return
		}
		c.Data(http.StatusOK, e.contentType, e.value)
	})
	data.PUT("/:bucket/*key", func(c *gin.Context) {
		value, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "bad body"})
			return
		}
		k := c.Param("bucket") + ":" + c.Param("key")
		s.mu.Lock()
		_, existed := s.m[k]
		s.m[k] = entry{contentType: c.ContentType(), value: value}
		s.mu.Unlock()
		if existed {
			c.Status(http.StatusNoContent)
			return
		}
		c.Status(http.StatusCreated)
	})
	return r
}
