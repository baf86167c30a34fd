// Command gokv is the gokv key-value server. It is configured only by
// environment variables; see the README for the list.
//
//	gokv            serve
//	gokv check      check a running gokv end to end (what `helm test` runs)
//	gokv repair     report and, when told, repair a damaged database directory
//	gokv backup     save a verified backup of a running gokv into a directory (the backup CronJob)
//	gokv restore    load a backup into a running gokv (the disaster-recovery Job)
//	gokv backups    check a backup directory is writable and list its backups
//	gokv version    print the version
//
// The check is a subcommand rather than a binary of its own so that the
// image carries one copy of the HTTP and token code, not two.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gokv-service/gokv/internal/config"
	"github.com/gokv-service/gokv/internal/ginmode"
	"github.com/gokv-service/gokv/internal/server"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise. Badger's caches and memtables live on the Go
// heap (about 45 MiB at most with the pod-sized options), and with the
// default GOGC the heap would grow to twice that before a collection;
// the limit makes the collector run earlier instead, keeping RSS under
// 100 MiB (docs/performance.md). It is soft: a heap that needs more, for
// values in flight (at most MAX_INFLIGHT_BYTES, twice over), still gets it;
// the README's "Memory budget" adds the two up.
const defaultMemoryLimit = 64 << 20

func main() {
	ginmode.Restore()
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run dispatches on the subcommand and returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		if err := serve(stderr); err != nil {
			fmt.Fprintf(stderr, "gokv: %v\n", err)
			return 1
		}
		return 0
	}
	switch args[0] {
	case "check":
		return runCheck(args[1:], getenv, stdout, stderr)
	case "repair":
		return runRepair(args[1:], getenv, stdout, stderr)
	case "backup":
		return runBackup(args[1:], getenv, stdout, stderr)
	case "restore":
		return runRestore(args[1:], getenv, stdout, stderr)
	case "backups":
		return runBackups(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	}
	fmt.Fprintf(stderr, "gokv: unknown command %q\nUsage: gokv [check [flags] | repair [flags] | backup [flags] | restore [flags] | backups [flags] | version]; with no command gokv serves, configured by environment variables.\n", args[0])
	return 2
}

// serve runs the server until SIGTERM or SIGINT has drained it.
func serve(stderr io.Writer) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// After the first signal, restore the default handling: a second
	// Ctrl-C ends the process at once instead of waiting for the drain.
	go func() {
		<-ctx.Done()
		stop()
	}()
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
