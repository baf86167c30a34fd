// Package config reads gokv's settings from the environment and checks
// them, so that the server never starts half-configured.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/gokv-service/gokv/internal/auth"
)

// MaxValueLimit caps MAX_VALUE_BYTES: a value is read into memory whole,
// and Badger's value-log files are 64 MiB.
const MaxValueLimit = 16 << 20

// Bounds of the durations. Below MinGCInterval a typo such as 5ms for 5m
// would run the value-log GC, which reads value-log files, back to back;
// one second still lets tests watch GC give space back. A shutdown phase
// longer than MaxShutdownPhase is a typo too, and would hold a pod (and
// its volume) in Terminating for that long.
const (
	MinGCInterval    = time.Second
	MaxShutdownPhase = 10 * time.Minute
)

// Config is every setting of the server. The defaults are in the tags and
// in the README's table; keep the two in step.
type Config struct {
	JWTSecret        string        `envconfig:"JWT_SECRET"`
	JWTSecretPrev    string        `envconfig:"JWT_SECRET_PREVIOUS"`
	JWTIssuer        string        `envconfig:"JWT_ISSUER"`
	JWTAudience      string        `envconfig:"JWT_AUDIENCE"`
	DBPath           string        `envconfig:"DB_PATH" default:"./data"`
	Port             int           `envconfig:"PORT" default:"8080"`
	MetricsPort      int           `envconfig:"METRICS_PORT" default:"9090"`
	GinMode          string        `envconfig:"GIN_MODE" default:"debug"`
	MaxValueBytes    int64         `envconfig:"MAX_VALUE_BYTES" default:"1048576"`
	MaxInflightBytes int64         `envconfig:"MAX_INFLIGHT_BYTES" default:"33554432"`
	MaxConns         int           `envconfig:"MAX_CONNS" default:"512"`
	SyncWrites       bool          `envconfig:"SYNC_WRITES" default:"true"`
	MinFreeBytes     int64         `envconfig:"MIN_FREE_BYTES" default:"67108864"`
	GCInterval       time.Duration `envconfig:"GC_INTERVAL" default:"5m"`
	ShutdownDelay    time.Duration `envconfig:"SHUTDOWN_DELAY" default:"0s"`
	ShutdownTimeout  time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`
	LogLevel         slog.Level    `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat        string        `envconfig:"LOG_FORMAT" default:"text"`
	TrustedProxies   []string      `envconfig:"TRUSTED_PROXIES"`
	DebugAddr        string        `envconfig:"DEBUG_ADDR"`
	Host             string        `envconfig:"HOST"`
	JWTMaxLifetime   time.Duration `envconfig:"JWT_MAX_LIFETIME" default:"0s"`

	// StorageBackend is badger (embedded, one pod) or etcd (shared, any
	// number of pods); see etcd.go for the etcd settings' rules.
	StorageBackend      string        `envconfig:"STORAGE_BACKEND" default:"badger"`
	EtcdEndpoints       []string      `envconfig:"ETCD_ENDPOINTS"`
	EtcdPrefix          string        `envconfig:"ETCD_PREFIX" default:"/gokv/"`
	EtcdCAFile          string        `envconfig:"ETCD_CA_FILE"`
	EtcdCertFile        string        `envconfig:"ETCD_CERT_FILE"`
	EtcdKeyFile         string        `envconfig:"ETCD_KEY_FILE"`
	EtcdUsername        string        `envconfig:"ETCD_USERNAME"`
	EtcdPasswordFile    string        `envconfig:"ETCD_PASSWORD_FILE"`
	EtcdDialTimeout     time.Duration `envconfig:"ETCD_DIAL_TIMEOUT" default:"5s"`
	EtcdRequestTimeout  time.Duration `envconfig:"ETCD_REQUEST_TIMEOUT" default:"5s"`
	EtcdMaxRequestBytes int           `envconfig:"ETCD_MAX_REQUEST_BYTES" default:"1572864"`
}

// FromEnv reads and validates the configuration. Its error is one line
// that names the offending variable.
func FromEnv() (Config, error) {
	if err := checkDecimal(os.LookupEnv); err != nil {
		return Config{}, err
	}
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return Config{}, describeParseError(err)
	}
	for i, p := range c.TrustedProxies {
		c.TrustedProxies[i] = strings.TrimSpace(p)
	}
	for i, e := range c.EtcdEndpoints {
		c.EtcdEndpoints[i] = strings.TrimSpace(e)
	}
	if err := checkBackendSettings(c.StorageBackend, os.LookupEnv); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// describeParseError rewrites envconfig's message, which names the Go
// field and type, into one that names the variable and what it wants.
func describeParseError(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s=%q is not a valid %s", pe.KeyName, pe.Value, kindOf(pe.TypeName))
}

func kindOf(typeName string) string {
	switch typeName {
	case "time.Duration":
		return "duration (like 500ms, 10s or 5m)"
	case "bool":
		return "boolean (true or false)"
	case "slog.Level":
		return "log level (debug, info, warn or error)"
	default:
		return "number"
	}
}

// Validate checks every setting and returns the first problem found.
func (c Config) Validate() error {
	if err := auth.CheckSecret([]byte(c.JWTSecret)); err != nil {
		return fmt.Errorf("JWT_SECRET %w (generate one with: head -c 32 /dev/urandom | base64)", err)
	}
	if c.JWTSecretPrev != "" {
		if err := auth.CheckSecret([]byte(c.JWTSecretPrev)); err != nil {
			return fmt.Errorf("JWT_SECRET_PREVIOUS %w (or leave it unset when no rotation is under way)", err)
		}
		if c.JWTSecretPrev == c.JWTSecret {
			return errors.New("JWT_SECRET_PREVIOUS must differ from JWT_SECRET: it is the secret being rotated out")
		}
	}
	switch c.StorageBackend {
	case BackendBadger:
		if strings.TrimSpace(c.DBPath) == "" {
			return errors.New("DB_PATH must not be empty")
		}
	case BackendEtcd:
		if err := c.validateEtcd(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("STORAGE_BACKEND must be badger or etcd, got %q", c.StorageBackend)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("PORT must be between 0 and 65535 (0 picks a free port), got %d", c.Port)
	}
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		return fmt.Errorf("METRICS_PORT must be between 0 and 65535 (0 turns metrics off), got %d", c.MetricsPort)
	}
	if c.MetricsPort != 0 && c.MetricsPort == c.Port {
		return fmt.Errorf("METRICS_PORT must differ from PORT (%d): metrics need no token, so they never share the API's port", c.Port)
	}
	switch c.GinMode {
	case "debug", "release", "test":
	default:
		return fmt.Errorf("GIN_MODE must be debug, release or test, got %q", c.GinMode)
	}
	if c.MaxValueBytes < 1 || c.MaxValueBytes > MaxValueLimit {
		return fmt.Errorf("MAX_VALUE_BYTES must be between 1 and %d, got %d", MaxValueLimit, c.MaxValueBytes)
	}
	if c.MaxInflightBytes < c.MaxValueBytes {
		return fmt.Errorf("MAX_INFLIGHT_BYTES must be at least MAX_VALUE_BYTES (%d), got %d", c.MaxValueBytes, c.MaxInflightBytes)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("MAX_CONNS must be at least 1, got %d", c.MaxConns)
	}
	if c.MinFreeBytes < 0 {
		return fmt.Errorf("MIN_FREE_BYTES must not be negative (0 turns the check off), got %d", c.MinFreeBytes)
	}
	if c.StorageBackend == BackendBadger {
		if err := c.checkMinFreeFits(); err != nil {
			return err
		}
	}
	if c.GCInterval < MinGCInterval {
		return fmt.Errorf("GC_INTERVAL must be at least %s, got %s", MinGCInterval, c.GCInterval)
	}
	if c.ShutdownDelay < 0 {
		return fmt.Errorf("SHUTDOWN_DELAY must not be negative, got %s", c.ShutdownDelay)
	}
	if c.ShutdownDelay > MaxShutdownPhase {
		return fmt.Errorf("SHUTDOWN_DELAY must be at most %s, got %s", MaxShutdownPhase, c.ShutdownDelay)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout)
	}
	if c.ShutdownTimeout > MaxShutdownPhase {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be at most %s, got %s", MaxShutdownPhase, c.ShutdownTimeout)
	}
	if c.JWTMaxLifetime < 0 {
		return fmt.Errorf("JWT_MAX_LIFETIME must not be negative (0 turns the check off), got %s", c.JWTMaxLifetime)
	}
	if c.Host != "" && net.ParseIP(c.Host) == nil {
		return fmt.Errorf("HOST must be an IP address such as 127.0.0.1 or ::1 (empty listens on all interfaces), got %q", c.Host)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("LOG_FORMAT must be text or json, got %q", c.LogFormat)
	}
	for _, p := range c.TrustedProxies {
		if !isIPOrCIDR(p) {
			return fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or CIDR", p)
		}
	}
	if c.DebugAddr != "" && !isLoopbackAddr(c.DebugAddr) {
		return fmt.Errorf("DEBUG_ADDR must be a loopback host:port such as 127.0.0.1:6060, got %q", c.DebugAddr)
	}
	return nil
}

// checkMinFreeFits refuses a MIN_FREE_BYTES that DB_PATH's filesystem
// cannot hold: every write would get 507.
func (c Config) checkMinFreeFits() error {
	if c.MinFreeBytes == 0 {
		return nil
	}
	size, dir, err := filesystemSize(c.DBPath)
	if err != nil {
		return fmt.Errorf("DB_PATH: cannot measure its filesystem: %w", err)
	}
	if uint64(c.MinFreeBytes) >= size {
		return fmt.Errorf("MIN_FREE_BYTES must be less than the size of DB_PATH's filesystem (%d bytes at %s), got %d",
			size, dir, c.MinFreeBytes)
	}
	return nil
}

// isLoopbackAddr reports whether addr is host:port with a loopback IP or
// localhost: the debug endpoints show the heap and goroutine stacks, so
// they are never offered beyond the pod or machine.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isIPOrCIDR(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	_, _, err := net.ParseCIDR(s)
	return err == nil
}
