package config

import (
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const validSecret = "0123456789abcdef0123456789abcdef"

// setEnv clears every gokv variable, then sets the given ones, for the
// duration of the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, name := range []string{"JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "DB_PATH", "PORT", "GIN_MODE",
		"MAX_VALUE_BYTES", "MAX_INFLIGHT_BYTES", "MAX_CONNS", "SYNC_WRITES", "MIN_FREE_BYTES", "GC_INTERVAL", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT",
		"LOG_LEVEL", "LOG_FORMAT", "TRUSTED_PROXIES", "DEBUG_ADDR"} {
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
		JWTSecret:        validSecret,
		DBPath:           "./data",
		Port:             8080,
		GinMode:          "debug",
		MaxValueBytes:    1 << 20,
		MaxInflightBytes: 32 << 20,
		MaxConns:         512,
		SyncWrites:       true,
		MinFreeBytes:     64 << 20,
		GCInterval:       5 * time.Minute,
		ShutdownDelay:    0,
		ShutdownTimeout:  20 * time.Second,
		LogLevel:         slog.LevelInfo,
		LogFormat:        "text",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\ngot  %+v\nwant %+v", c, want)
	}
}

func TestSettings(t *testing.T) {
	setEnv(t, map[string]string{
		"JWT_SECRET":         validSecret,
		"JWT_ISSUER":         "ops",
		"JWT_AUDIENCE":       "gokv",
		"DB_PATH":            "/data",
		"PORT":               "9000",
		"GIN_MODE":           "release",
		"MAX_VALUE_BYTES":    "4096",
		"MAX_INFLIGHT_BYTES": "4096",
		"MAX_CONNS":          "10",
		"SYNC_WRITES":        "false",
		"MIN_FREE_BYTES":     "0",
		"GC_INTERVAL":        "30s",
		"SHUTDOWN_DELAY":     "5s",
		"SHUTDOWN_TIMEOUT":   "1m",
		"LOG_LEVEL":          "debug",
		"LOG_FORMAT":         "json",
		"TRUSTED_PROXIES":    "10.0.0.0/8, 192.168.1.1",
		"DEBUG_ADDR":         "127.0.0.1:6060",
	})
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		JWTSecret:        validSecret,
		JWTIssuer:        "ops",
		JWTAudience:      "gokv",
		DBPath:           "/data",
		Port:             9000,
		GinMode:          "release",
		MaxValueBytes:    4096,
		MaxInflightBytes: 4096,
		MaxConns:         10,
		SyncWrites:       false,
		GCInterval:       30 * time.Second,
		ShutdownDelay:    5 * time.Second,
		ShutdownTimeout:  time.Minute,
		LogLevel:         slog.LevelDebug,
		LogFormat:        "json",
		TrustedProxies:   []string{"10.0.0.0/8", "192.168.1.1"},
		DebugAddr:        "127.0.0.1:6060",
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
		{"port not a number", map[string]string{"PORT": "http"}, `PORT="http" is not a valid number`},
		{"port out of range", map[string]string{"PORT": "70000"}, "PORT must be between"},
		{"port negative", map[string]string{"PORT": "-1"}, "PORT must be between"},
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
		{"gc interval zero", map[string]string{"GC_INTERVAL": "0s"}, "GC_INTERVAL must be positive"},
		{"shutdown delay unitless", map[string]string{"SHUTDOWN_DELAY": "5"}, `SHUTDOWN_DELAY="5" is not a valid duration`},
		{"shutdown delay negative", map[string]string{"SHUTDOWN_DELAY": "-1s"}, "SHUTDOWN_DELAY must not be negative"},
		{"shutdown timeout zero", map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT must be positive"},
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
