// Package etcdstore keeps gokv's buckets and keys in an etcd cluster, so
// that several gokv replicas can serve the same data and survive the loss
// of any one machine. Versions are etcd revisions, conditions are Txn
// compares, TTLs are shared leases, watches are etcd watches and
// listings are ranges. The package knows nothing of HTTP.
package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gokv-service/gokv/internal/kv"
)

// Defaults of Options.
const (
	DefaultPrefix          = "/gokv/"
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 5 * time.Second
	DefaultMaxRequestBytes = 1536 << 10 // etcd's --max-request-bytes default
)

// RequestOverhead is what a write of one entry adds to its value in an
// etcd request, at most: the envelope, the longest key under a prefix of
// MaxPrefixLen bytes, and the framing of a transaction with a compare.
const RequestOverhead = maxEnvelopeOverhead + MaxPrefixLen + 2 + kv.MaxBucketLen + 1 + kv.MaxKeyLen + 1024

// MaxPrefixLen bounds ETCD_PREFIX.
const MaxPrefixLen = 256

// readyInterval is how often readiness asks etcd for a linearizable read:
// often enough that a pod leaves its Service within a couple of seconds of
// losing quorum, rarely enough to cost etcd nothing.
const readyInterval = time.Second

// Options say how to reach etcd.
type Options struct {
	Endpoints []string
	// Prefix is put before every key gokv writes, so that gokv can share
	// a cluster; DefaultPrefix when empty.
	Prefix string
	// TLS, unless nil, is used to reach etcd.
	TLS *tls.Config
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// DialTimeout bounds connecting (and authenticating); RequestTimeout
	// bounds one request to etcd, after which it fails with
	// kv.ErrUnavailable. Defaults when 0.
	DialTimeout, RequestTimeout time.Duration
	// MaxRequestBytes is the cluster's --max-request-bytes: an Apply that
	// would send more fails with kv.ErrTooLarge before reaching etcd.
	// DefaultMaxRequestBytes when 0.
	MaxRequestBytes int
	// Logger receives the store's own messages; nil discards them.
	Logger *slog.Logger
}

// Store is a connection to etcd. Its methods are safe for concurrent use.
type Store struct {
	cli        *clientv3.Client
	keys       layout
	reqTimeout time.Duration
	maxRequest int
	log        *slog.Logger
	leases     *leases

	// life ends when Close starts; background work stops with it.
	life context.Context
	end  context.CancelFunc
	bg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}

	// ready is the outcome of the last readiness probe (nil: ready).
	ready atomic.Pointer[error]
}

// Open connects to etcd. It does not wait for etcd to answer: a store
// whose cluster is unreachable opens, and is not Ready until it answers,
// so that gokv pods start (and stay alive) while etcd is down. It fails
// only for options that can never work.
func Open(opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		TLS:         opts.TLS,
		Username:    opts.Username,
		Password:    opts.Password,
		// Room for a request as large as the cluster takes: gRPC's own
		// limit (2 MiB) would refuse one first with a less clear error.
		MaxCallSendMsgSize: opts.MaxRequestBytes + 64<<10,
		// The client retries and logs every failed attempt; gokv's errors
		// say what failed.
		Logger: zap.NewNop(),
		// Keepalives find a dead member, and move to another, well
		// before a request timeout.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd at %v: %w", opts.Endpoints, err)
	}
	life, end := context.WithCancel(context.Background())
	s := &Store{
		cli:        cli,
		keys:       newLayout(opts.Prefix),
		reqTimeout: opts.RequestTimeout,
		maxRequest: opts.MaxRequestBytes,
		log:        log,
		life:       life,
		end:        end,
		watchers:   map[*watcher]struct{}{},
	}
	s.leases = newLeases(cli, life, opts.RequestTimeout)
	// Not ready until the first probe answers.
	notYet := fmt.Errorf("%w: etcd has not answered yet", kv.ErrUnavailable)
	s.ready.Store(&notYet)
	rev := s.probe()
	s.bg.Go(func() { s.probeLoop() })
	s.bg.Go(func() { s.followRestores(rev) })
	return s, nil
}

// request is ctx bounded by the request timeout.
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.reqTimeout)
}

// probe checks that etcd answers a linearizable read, which needs a
// leader and a quorum, records the outcome for Ready, and returns the
// revision it read at (0 when it failed).
func (s *Store) probe() int64 {
	ctx, cancel := s.request(s.life)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.epoch, clientv3.WithCountOnly())
	if err != nil {
		err = s.mapError(ctx, "readiness probe", err)
		if prev := s.ready.Load(); *prev == nil {
			s.log.Warn("etcd unavailable: not ready", "err", err)
		}
		s.ready.Store(&err)
		return 0
	}
	if prev := s.ready.Load(); *prev != nil {
		s.log.Info("etcd answers: ready")
	}
	var ok error
	s.ready.Store(&ok)
	return resp.Header.Revision
}

func (s *Store) probeLoop() {
	t := time.NewTicker(readyInterval)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			s.probe()
		}
	}
}

// Ready returns nil while etcd answered the last linearizable read
// (within a second or so), else an error wrapping kv.ErrUnavailable, or
// kv.ErrClosed once closed.
func (s *Store) Ready() error {
	if s.life.Err() != nil {
		return kv.ErrClosed
	}
	return *s.ready.Load()
}

// Health is nil: nothing in this process breaks for good when etcd is
// unreachable, and a restart would not bring etcd back, so losing etcd
// must not make Kubernetes restart every gokv pod (Ready reports it).
func (s *Store) Health() error { return nil }

// Stats reports the watches running; sizes are etcd's to report.
func (s *Store) Stats() kv.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return kv.Stats{FreeBytes: -1, Watchers: len(s.watchers)}
}

// Close ends every watch with kv.ErrClosed and closes the connection.
// Writes acknowledged before are in etcd: there is nothing to flush.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.endWatches(kv.ErrClosed)
	s.end()
	s.bg.Wait()
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}

// mapError turns an etcd client error into gokv's vocabulary: the
// caller's own cancellation stays a context error; no leader, no quorum,
// an unreachable cluster or a request timeout are kv.ErrUnavailable (a
// retry may succeed); a compacted revision is kv.ErrHistoryGone; etcd's
// space quota is kv.ErrNoSpace.
func (s *Store) mapError(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if s.life.Err() != nil {
		return fmt.Errorf("etcd %s: %w", op, kv.ErrClosed)
	}
	err = rpctypes.Error(err)
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("etcd %s: %w: %v", op, kv.ErrHistoryGone, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("etcd %s: %w: %v", op, kv.ErrNoSpace, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("etcd %s: %w: %v", op, kv.ErrTooLarge, err)
	}
	if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
		// The caller gave up (its request was canceled).
		return fmt.Errorf("etcd %s: %w", op, cerr)
	}
	var code codes.Code
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		code = etcdErr.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		code == codes.Unavailable, code == codes.DeadlineExceeded, code == codes.Canceled,
		errors.Is(err, rpctypes.ErrTooManyRequests):
		return fmt.Errorf("etcd %s: %w: %v", op, kv.ErrUnavailable, err)
	case code == codes.ResourceExhausted:
		// gRPC's own message limit, on either side (etcd's is
		// --max-request-bytes plus 512 KiB).
		return fmt.Errorf("etcd %s: %w: %v", op, kv.ErrTooLarge, err)
	}
	return fmt.Errorf("etcd %s: %w", op, err)
}
