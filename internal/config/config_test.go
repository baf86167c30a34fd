package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

const validSecret = "0123456789abcdef0123456789abcdef"

// setEnv clears every gokv variable, then sets the given ones, for the
// duration of the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, name := range []string{"JWT_SECRET", "JWT_SECRET_PREVIOUS", "JWT_ISSUER", "JWT_AUDIENCE", "DB_PATH", "PORT", "GIN_MODE",
		"MAX_VALUE_BYTES", "MAX_INFLIGHT_BYTES", "MAX_CONNS", "SYNC_WRITES", "MIN_FREE_BYTES", "GC_INTERVAL", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT",
		"LOG_LEVEL", "LOG_FORMAT", "TRUSTED_PROXIES", "DEBUG_ADDR", "HOST", "JWT_MAX_LIFETIME", "METRICS_PORT", "STORAGE_BACKEND",
		"ETCD_ENDPOINTS", "ETCD_PREFIX", "ETCD_CA_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE", "ETCD_USERNAME", "ETCD_PASSWORD_FILE",
		"ETCD_DIAL_TIMEOUT", "ETCD_REQUEST_TIMEOUT", "ETCD_MAX_REQUEST_BYTES"} {
		t.Setenv(name, "") // restores the old value after the test
		os.Unsetenv(name)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestDefaults(t *testing.T) {
	setEnv(t, map[string]string{"JWT_SECRET": validSecret})
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		JWTSecret:          validSecret,
		DBPath:             "./data",
		Port:               8080,
		MetricsPort:        9090,
		GinMode:            "debug",
		MaxValueBytes:      1 << 20,
		MaxInflightBytes:   32 << 20,
		MaxConns:           512,
		SyncWrites:         true,
		MinFreeBytes:       64 << 20,
		GCInterval:         5 * time.Minute,
		ShutdownDelay:      0,
		ShutdownTimeout:    20 * time.Second,
		LogLevel:           slog.LevelInfo,
		LogFormat:          "text",
		StorageBackend:     "badger",
		EtcdPrefix:         "/gokv/",
		EtcdDialTimeout:    5 * time.Second,
		EtcdRequestTimeout: 5 * time.Second,
		// etcd's own default --max-request-bytes.
		EtcdMaxRequestBytes: 1536 << 10,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\ngot  %+v\nwant %+v", c, want)
	}
}

func TestSettings(t *testing.T) {
	setEnv(t, map[string]string{
		"JWT_SECRET":          validSecret,
		"JWT_SECRET_PREVIOUS": "previous-secret-previous-secret-1",
		"JWT_ISSUER":          "ops",
		"JWT_AUDIENCE":        "gokv",
		"DB_PATH":             "/data",
		"PORT":                "9000",
		"METRICS_PORT":        "0",
		"GIN_MODE":            "release",
		"MAX_VALUE_BYTES":     "4096",
		"MAX_INFLIGHT_BYTES":  "4096",
		"MAX_CONNS":           "10",
		"SYNC_WRITES":         "false",
		"MIN_FREE_BYTES":      "0",
		"GC_INTERVAL":         "30s",
		"SHUTDOWN_DELAY":      "5s",
		"SHUTDOWN_TIMEOUT":    "1m",
		"LOG_LEVEL":           "debug",
		"LOG_FORMAT":          "json",
		"TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.1.1",
		"DEBUG_ADDR":          "127.0.0.1:6060",
		"HOST":                "127.0.0.1",
		"JWT_MAX_LIFETIME":    "24h",
	})
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		JWTSecret:           validSecret,
		JWTSecretPrev:       "previous-secret-previous-secret-1",
		JWTIssuer:           "ops",
		JWTAudience:         "gokv",
		DBPath:              "/data",
		Port:                9000,
		GinMode:             "release",
		MaxValueBytes:       4096,
		MaxInflightBytes:    4096,
		MaxConns:            10,
		SyncWrites:          false,
		GCInterval:          30 * time.Second,
		ShutdownDelay:       5 * time.Second,
		ShutdownTimeout:     time.Minute,
		LogLevel:            slog.LevelDebug,
		LogFormat:           "json",
		TrustedProxies:      []string{"10.0.0.0/8", "192.168.1.1"},
		DebugAddr:           "127.0.0.1:6060",
		Host:                "127.0.0.1",
		JWTMaxLifetime:      24 * time.Hour,
		StorageBackend:      "badger",
		EtcdPrefix:          "/gokv/",
		EtcdDialTimeout:     5 * time.Second,
		EtcdRequestTimeout:  5 * time.Second,
		EtcdMaxRequestBytes: 1536 << 10,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("settings:\ngot  %+v\nwant %+v", c, want)
	}
}

func TestInvalidSettings(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantText string // the variable must be named in the message
	}{
		{"secret missing", map[string]string{}, "JWT_SECRET must not be empty"},
		{"secret empty", map[string]string{"JWT_SECRET": ""}, "JWT_SECRET must not be empty"},
		{"secret short", map[string]string{"JWT_SECRET": "31-bytes-is-one-byte-too-short!"}, "JWT_SECRET must be at least 32 bytes, got 31"},
		{"secret whitespace", map[string]string{"JWT_SECRET": strings.Repeat(" \t", 20)}, "JWT_SECRET must not be only whitespace"},
		{"previous secret short", map[string]string{"JWT_SECRET": validSecret, "JWT_SECRET_PREVIOUS": "too-short"}, "JWT_SECRET_PREVIOUS must be at least 32 bytes, got 9"},
		{"previous secret whitespace", map[string]string{"JWT_SECRET": validSecret, "JWT_SECRET_PREVIOUS": strings.Repeat(" ", 40)}, "JWT_SECRET_PREVIOUS must not be only whitespace"},
		{"previous secret the current one", map[string]string{"JWT_SECRET": validSecret, "JWT_SECRET_PREVIOUS": validSecret}, "JWT_SECRET_PREVIOUS must differ from JWT_SECRET"},
		{"port not a number", map[string]string{"PORT": "http"}, `PORT="http" is not a valid number`},
		{"port out of range", map[string]string{"PORT": "70000"}, "PORT must be between"},
		{"port negative", map[string]string{"PORT": "-1"}, "PORT must be between"},
		{"metrics port out of range", map[string]string{"METRICS_PORT": "65536"}, "METRICS_PORT must be between 0 and 65535 (0 turns metrics off), got 65536"},
		{"metrics port negative", map[string]string{"METRICS_PORT": "-1"}, "METRICS_PORT must be between"},
		{"metrics port the API port", map[string]string{"PORT": "9000", "METRICS_PORT": "9000"}, "METRICS_PORT must differ from PORT (9000)"},
		{"metrics port the default API port", map[string]string{"METRICS_PORT": "8080"}, "METRICS_PORT must differ from PORT (8080)"},
		{"metrics port octal", map[string]string{"METRICS_PORT": "09090"}, `METRICS_PORT="09090" is not a valid number`},
		{"gin mode", map[string]string{"GIN_MODE": "prod"}, `GIN_MODE must be debug, release or test, got "prod"`},
		{"db path empty", map[string]string{"DB_PATH": " "}, "DB_PATH must not be empty"},
		{"max value zero", map[string]string{"MAX_VALUE_BYTES": "0"}, "MAX_VALUE_BYTES must be between 1 and"},
		{"max value huge", map[string]string{"MAX_VALUE_BYTES": "1073741824"}, "MAX_VALUE_BYTES must be between 1 and"},
		{"max value text", map[string]string{"MAX_VALUE_BYTES": "1MiB"}, `MAX_VALUE_BYTES="1MiB" is not a valid number`},
		{"max inflight below max value", map[string]string{"MAX_INFLIGHT_BYTES": "1048575"}, "MAX_INFLIGHT_BYTES must be at least MAX_VALUE_BYTES (1048576), got 1048575"},
		{"max inflight zero", map[string]string{"MAX_INFLIGHT_BYTES": "0"}, "MAX_INFLIGHT_BYTES must be at least MAX_VALUE_BYTES"},
		{"max conns zero", map[string]string{"MAX_CONNS": "0"}, "MAX_CONNS must be at least 1, got 0"},
		{"sync writes", map[string]string{"SYNC_WRITES": "yes please"}, `SYNC_WRITES="yes please" is not a valid boolean`},
		{"min free negative", map[string]string{"MIN_FREE_BYTES": "-1"}, "MIN_FREE_BYTES must not be negative"},
		{"gc interval zero", map[string]string{"GC_INTERVAL": "0s"}, "GC_INTERVAL must be at least 1s, got 0s"},
		{"gc interval milliseconds", map[string]string{"GC_INTERVAL": "5ms"}, "GC_INTERVAL must be at least 1s, got 5ms"},
		{"shutdown delay unitless", map[string]string{"SHUTDOWN_DELAY": "5"}, `SHUTDOWN_DELAY="5" is not a valid duration`},
		{"shutdown delay negative", map[string]string{"SHUTDOWN_DELAY": "-1s"}, "SHUTDOWN_DELAY must not be negative"},
		{"shutdown delay too long", map[string]string{"SHUTDOWN_DELAY": "11m"}, "SHUTDOWN_DELAY must be at most 10m0s, got 11m0s"},
		{"shutdown timeout zero", map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT must be positive"},
		{"shutdown timeout too long", map[string]string{"SHUTDOWN_TIMEOUT": "1h"}, "SHUTDOWN_TIMEOUT must be at most 10m0s, got 1h0m0s"},
		{"max lifetime negative", map[string]string{"JWT_MAX_LIFETIME": "-1h"}, "JWT_MAX_LIFETIME must not be negative"},
		{"max lifetime unitless", map[string]string{"JWT_MAX_LIFETIME": "3600"}, `JWT_MAX_LIFETIME="3600" is not a valid duration`},
		{"host name", map[string]string{"HOST": "gokv.example.com"}, `HOST must be an IP address`},
		{"host with port", map[string]string{"HOST": "127.0.0.1:8080"}, `HOST must be an IP address`},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL="loud" is not a valid log level`},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT must be text or json, got "xml"`},
		{"trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, `TRUSTED_PROXIES: "proxy.local" is not an IP address or CIDR`},
		{"debug addr all interfaces", map[string]string{"DEBUG_ADDR": ":6060"}, `DEBUG_ADDR must be a loopback host:port`},
		{"debug addr public", map[string]string{"DEBUG_ADDR": "10.1.2.3:6060"}, `DEBUG_ADDR must be a loopback host:port`},
		{"debug addr no port", map[string]string{"DEBUG_ADDR": "127.0.0.1"}, `DEBUG_ADDR must be a loopback host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"JWT_SECRET": validSecret}
			if strings.HasPrefix(tt.name, "secret") {
				env = map[string]string{}
			}
			for k, v := range tt.env {
				env[k] = v
			}
			setEnv(t, env)
			_, err := FromEnv()
			if err == nil {
				t.Fatal("FromEnv succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantText) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line containing %q", msg, tt.wantText)
			}
		})
	}
}

// TestIntegersAreDecimal: envconfig parses integers with base 0, so
// PORT=010 was port 8 and 0x1F90, 0b1 and 1_000 were numbers too.
func TestIntegersAreDecimal(t *testing.T) {
	tests := []struct {
		value string
		ok    bool
	}{
		{"8080", true},
		{"+8080", true},
		{"1", true},
		{"010", false},
		{"0x1F90", false},
		{"0X1F90", false},
		{"0o17", false},
		{"0b1", false},
		{"8_080", false},
		{"1e3", false},
		{" 8080", false},
		{"8080 ", false},
		{"", false},
		{"٨٠٨٠", false},
	}
	for _, name := range []string{"PORT", "MAX_VALUE_BYTES", "MIN_FREE_BYTES"} {
		for _, tt := range tests {
			t.Run(name+"="+tt.value, func(t *testing.T) {
				setEnv(t, map[string]string{"JWT_SECRET": validSecret, "DB_PATH": t.TempDir(), "MIN_FREE_BYTES": "0", name: tt.value})
				_, err := FromEnv()
				if tt.ok && err != nil {
					t.Fatalf("FromEnv: %v", err)
				}
				if tt.ok {
					return
				}
				want := fmt.Sprintf("%s=%q is not a valid number", name, tt.value)
				if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
					t.Errorf("FromEnv error = %v, want one line starting %q", err, want)
				}
			})
		}
	}
}

// TestMinFreeBytesFitsTheFilesystem mounts a 16 MiB tmpfs: keeping more
// free than the filesystem holds would refuse every write.
func TestMinFreeBytesFitsTheFilesystem(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("this test needs to mount a tmpfs, which is not permitted here (%v); run it as root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	tests := []struct {
		name, dbPath, minFree string
		ok                    bool
	}{
		{"well below", mnt, "1048576", true},
		{"default on a small disk", mnt, "", false},
		{"the whole filesystem", mnt, "16777216", false},
		{"DB_PATH not created yet", filepath.Join(mnt, "a", "b", "db"), "33554432", false},
		{"DB_PATH not created yet, fits", filepath.Join(mnt, "a", "b", "db"), "8388608", true},
		{"off", mnt, "0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"JWT_SECRET": validSecret, "DB_PATH": tt.dbPath}
			if tt.minFree != "" {
				env["MIN_FREE_BYTES"] = tt.minFree
			}
			setEnv(t, env)
			_, err := FromEnv()
			if tt.ok && err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if !tt.ok && (err == nil || !strings.HasPrefix(err.Error(), "MIN_FREE_BYTES must be less than the size of DB_PATH's filesystem (16777216 bytes")) {
				t.Errorf("FromEnv error = %v, want MIN_FREE_BYTES must be less than the size of DB_PATH's filesystem (16777216 bytes...", err)
			}
		})
	}
}
