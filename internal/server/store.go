package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/config"
	"github.com/gokv-service/gokv/internal/etcdstore"
	"github.com/gokv-service/gokv/internal/kv"
)

// backend is the open store, and what only one kind of store needs from
// the server. It is the one place that knows which engines exist; the
// rest of the server sees a kv.Store.
type backend struct {
	store kv.Store
	// runGC, unless nil, runs the engine's garbage collection until ctx
	// is done (Badger's value log).
	runGC func(ctx context.Context, interval time.Duration, log *slog.Logger)
	// spoolDir is where a restore keeps the backup it receives until it
	// is verified, and spoolMinFree the free space it leaves there.
	spoolDir     string
	spoolMinFree int64
	// describe is what the serving log line says about the store.
	describe []any
}

// restoreSpoolDir is the directory under DB_PATH where a restore keeps
// the backup it receives until it is verified: on the volume that must
// hold the restored data anyway, rather than a small or in-memory /tmp.
// Badger and the preflight check ignore subdirectories.
const restoreSpoolDir = "restore-tmp"

// openBackend opens the store cfg.StorageBackend names.
func openBackend(cfg config.Config, log *slog.Logger, observer kv.Observer) (*backend, error) {
	switch cfg.StorageBackend {
	case config.BackendEtcd:
		return openEtcd(cfg, log)
	default:
		return openBadger(cfg, log, observer)
	}
}

func openBadger(cfg config.Config, log *slog.Logger, observer kv.Observer) (*backend, error) {
	opts := badgerstore.Options{
		SyncWrites:   cfg.SyncWrites,
		MinFreeBytes: cfg.MinFreeBytes,
		Logger:       log,
	}
	if observer != nil {
		opts.Observer = observer
	}
	store, err := badgerstore.Open(cfg.DBPath, opts)
	if err != nil {
		return nil, err
	}
	b := &backend{
		store:        store,
		runGC:        store.RunGC,
		spoolDir:     filepath.Join(cfg.DBPath, restoreSpoolDir),
		spoolMinFree: cfg.MinFreeBytes,
		describe:     []any{"storage_backend", config.BackendBadger, "db_path", cfg.DBPath, "sync_writes", cfg.SyncWrites},
	}
	// What is there is a spool a crash or kill left behind.
	if err := os.RemoveAll(b.spoolDir); err != nil {
		store.Close()
		return nil, fmt.Errorf("clear restore spool: %w", err)
	}
	if err := os.Mkdir(b.spoolDir, 0o700); err != nil {
		store.Close()
		return nil, fmt.Errorf("create restore spool: %w", err)
	}
	return b, nil
}

func openEtcd(cfg config.Config, log *slog.Logger) (*backend, error) {
	tlsCfg, err := cfg.EtcdTLS()
	if err != nil {
		return nil, err
	}
	password, err := cfg.EtcdPassword()
	if err != nil {
		return nil, err
	}
	// The pod has no data volume: the spool goes to the temporary
	// directory (TMPDIR), a directory of its own per server.
	spool, err := os.MkdirTemp("", "gokv-restore-")
	if err != nil {
		return nil, fmt.Errorf("create restore spool: %w", err)
	}
	store, err := etcdstore.Open(etcdstore.Options{
		Endpoints:       cfg.EtcdEndpoints,
		Prefix:          cfg.EtcdPrefix,
		TLS:             tlsCfg,
		Username:        cfg.EtcdUsername,
		Password:        password,
		DialTimeout:     cfg.EtcdDialTimeout,
		RequestTimeout:  cfg.EtcdRequestTimeout,
		MaxRequestBytes: cfg.EtcdMaxRequestBytes,
		Logger:          log,
	})
	if err != nil {
		os.RemoveAll(spool)
		return nil, err
	}
	return &backend{
		store:    spoolRemover{store, spool},
		spoolDir: spool,
		describe: []any{"storage_backend", config.BackendEtcd, "etcd_endpoints", cfg.EtcdEndpoints, "etcd_prefix", cfg.EtcdPrefix},
	}, nil
}

// spoolRemover removes a store's own spool directory when it closes.
type spoolRemover struct {
	*etcdstore.Store
	dir string
}

func (s spoolRemover) Close() error {
	err := s.Store.Close()
	os.RemoveAll(s.dir)
	return err
}
