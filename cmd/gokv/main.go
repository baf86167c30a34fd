// Command gokv is the gokv key-value server. It is configured only by
// environment variables; see the README for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gokv-service/gokv/internal/config"
	"github.com/gokv-service/gokv/internal/ginmode"
	"github.com/gokv-service/gokv/internal/server"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ginmode.Restore()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// After the first signal, restore the default handling: a second
	// Ctrl-C ends the process at once instead of waiting for the drain.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gokv: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stderr io.Writer) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	log.Info("starting gokv", "version", version)
	return server.Run(ctx, cfg, log)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
