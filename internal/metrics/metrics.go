// Package metrics is gokv's Prometheus instrumentation: the series it
// exports, the Gin middleware that counts requests, the kv.Observer the
// store reports commits and GC to, and the collector that reads the
// store's state at scrape time. No other package knows Prometheus.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gokv-service/gokv/internal/kv"
)

// Reasons for refusing a request's credentials, the values of the
// reason label of gokv_auth_refusals_total.
const (
	ReasonMissing       = "missing"
	ReasonMalformed     = "malformed"
	ReasonExpired       = "expired"
	ReasonBadSignature  = "bad_signature"
	ReasonWrongAudience = "wrong_audience"
	// ReasonInvalidClaims: any other claim gokv refuses (no exp, nbf or
	// iat in the future, wrong issuer, lifetime over the maximum, crit).
	ReasonInvalidClaims = "invalid_claims"
	// ReasonForbidden: a valid token that does not allow the request:
	// a scope or bucket it does not hold.
	ReasonForbidden = "forbidden"
)

// unmatchedRoute labels requests that matched no route, so that scanners
// probing random paths add one series, not one per path.
const unmatchedRoute = "unmatched"

// Metrics holds gokv's series in a registry of its own. A nil *Metrics
// records nothing, so that instrumented code needs no checks when
// metrics are off.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	requestBytes  *prometheus.HistogramVec
	responseBytes *prometheus.HistogramVec
	authRefusals  *prometheus.CounterVec
	// routes caches the HTTP series per method and route (http.go).
	routesMu sync.RWMutex
	routes   map[routeKey]*routeSeries

	keysWritten, keysDeleted prometheus.Counter
	commitApplies            prometheus.Histogram
	commitDuration           prometheus.Histogram
	gcRuns, gcReclaimed      prometheus.Counter

	backupTime, backupBytes prometheus.Gauge
}

// New returns the series, registered with a new registry together with
// the Go runtime's and the process's collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), routes: map[routeKey]*routeSeries{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gokv_http_requests_total",
		Help: "HTTP requests answered, by method, route template and status code.",
	}, []string{"method", "route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gokv_http_request_duration_seconds",
		Help: "Time from a request's arrival to its last byte written, by method and route; watch streams are left out.",
		// From a cached GET (about 50 µs) to a MAX_VALUE_BYTES upload
		// over a slow link.
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	sizes := prometheus.ExponentialBuckets(64, 4, 9) // 64 B to 4 MiB
	m.requestBytes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gokv_http_request_size_bytes",
		Help:    "Size of request bodies, by method and route.",
		Buckets: sizes,
	}, []string{"method", "route"})
	m.responseBytes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gokv_http_response_size_bytes",
		Help:    "Size of response bodies, by method and route.",
		Buckets: sizes,
	}, []string{"method", "route"})
	m.authRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gokv_auth_refusals_total",
		Help: "Requests refused for their credentials, by reason.",
	}, []string{"reason"})
	m.keysWritten = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gokv_store_keys_written_total",
		Help: "Keys written (puts) by committed writes.",
	})
	m.keysDeleted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gokv_store_keys_deleted_total",
		Help: "Keys deleted by committed writes.",
	})
	m.commitApplies = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gokv_store_commit_batch_applies",
		Help: "Writes (requests or transactions) committed together by one group commit.",
		// Up to the committer's 256.
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	m.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gokv_store_commit_duration_seconds",
		Help:    "Time one group commit took, its fsync included when SYNC_WRITES is true.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.gcRuns = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gokv_store_value_log_gc_runs_total",
		Help: "Rounds of value-log garbage collection completed.",
	})
	m.gcReclaimed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gokv_store_value_log_gc_reclaimed_bytes_total",
		Help: "Disk space the value log shrank by during garbage collection.",
	})
	m.backupTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gokv_backup_last_success_timestamp_seconds",
		Help: "Unix time of the last successful backup; 0 before the first.",
	})
	m.backupBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gokv_backup_last_size_bytes",
		Help: "Size of the last successful backup.",
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.requestBytes, m.responseBytes, m.authRefusals,
		m.keysWritten, m.keysDeleted, m.commitApplies, m.commitDuration, m.gcRuns, m.gcReclaimed,
		m.backupTime, m.backupBytes,
	)
	return m
}

// CollectStore has every scrape read stats for the store's sizes and
// state (gokv_store_lsm_bytes and the gauges beside it). Call it once.
func (m *Metrics) CollectStore(stats func() kv.Stats) {
	m.reg.MustRegister(storeCollector{stats})
}

// Handler serves the registry in Prometheus' text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Registry is the registry the series are in, for tests that gather them.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// AuthRefused counts a request refused for its credentials; reason is one
// of the Reason constants.
func (m *Metrics) AuthRefused(reason string) {
	if m == nil {
		return
	}
	m.authRefusals.WithLabelValues(reason).Inc()
}

// Committed implements kv.Observer.
func (m *Metrics) Committed(applies, puts, deletes int, took time.Duration) {
	if m == nil {
		return
	}
	m.keysWritten.Add(float64(puts))
	m.keysDeleted.Add(float64(deletes))
	m.commitApplies.Observe(float64(applies))
	m.commitDuration.Observe(took.Seconds())
}

// GarbageCollected implements kv.Observer.
func (m *Metrics) GarbageCollected(reclaimedBytes int64) {
	if m == nil {
		return
	}
	m.gcRuns.Inc()
	m.gcReclaimed.Add(float64(reclaimedBytes))
}

// BackupSucceeded records a backup that completed at at with size bytes,
// for gokv_backup_last_success_timestamp_seconds and
// gokv_backup_last_size_bytes: alert when the timestamp grows old. Call it
// only for backups that succeeded; failures leave the last success shown.
func (m *Metrics) BackupSucceeded(at time.Time, bytes int64) {
	if m == nil {
		return
	}
	m.backupTime.Set(float64(at.UnixNano()) / 1e9)
	m.backupBytes.Set(float64(bytes))
}

// storeCollector reads the store's Stats when scraped, so that sizes and
// free space cost nothing between scrapes.
type storeCollector struct {
	stats func() kv.Stats
}

var (
	treeBytesDesc = prometheus.NewDesc("gokv_store_lsm_bytes",
		"Size of the LSM tree's tables on disk.", nil, nil)
	valueLogBytesDesc = prometheus.NewDesc("gokv_store_value_log_bytes",
		"Disk space of the value-log files.", nil, nil)
	freeBytesDesc = prometheus.NewDesc("gokv_store_filesystem_free_bytes",
		"Free space on DB_PATH's filesystem for unprivileged writers; absent when it cannot be read.", nil, nil)
	refusingDesc = prometheus.NewDesc("gokv_store_refusing_writes",
		"1 while writes of new data get 507 because free space is below MIN_FREE_BYTES, else 0.", nil, nil)
	watchersDesc = prometheus.NewDesc("gokv_watchers",
		"Watch streams open.", nil, nil)
)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- treeBytesDesc
	ch <- valueLogBytesDesc
	ch <- freeBytesDesc
	ch <- refusingDesc
	ch <- watchersDesc
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(treeBytesDesc, prometheus.GaugeValue, float64(st.TreeBytes))
	ch <- prometheus.MustNewConstMetric(valueLogBytesDesc, prometheus.GaugeValue, float64(st.ValueLogBytes))
	if st.FreeBytes >= 0 {
		ch <- prometheus.MustNewConstMetric(freeBytesDesc, prometheus.GaugeValue, float64(st.FreeBytes))
	}
	refusing := 0.0
	if st.RefusingWrites {
		refusing = 1
	}
	ch <- prometheus.MustNewConstMetric(refusingDesc, prometheus.GaugeValue, refusing)
	ch <- prometheus.MustNewConstMetric(watchersDesc, prometheus.GaugeValue, float64(st.Watchers))
}
