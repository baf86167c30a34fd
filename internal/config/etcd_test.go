package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEtcdSettings(t *testing.T) {
	password := writeFile(t, "password", "s3cret\n")
	setEnv(t, map[string]string{
		"JWT_SECRET":             validSecret,
		"STORAGE_BACKEND":        "etcd",
		"ETCD_ENDPOINTS":         "http://etcd-0:2379, http://etcd-1:2379",
		"ETCD_PREFIX":            "/team-a/gokv/",
		"ETCD_USERNAME":          "gokv",
		"ETCD_PASSWORD_FILE":     password,
		"ETCD_DIAL_TIMEOUT":      "2s",
		"ETCD_REQUEST_TIMEOUT":   "3s",
		"ETCD_MAX_REQUEST_BYTES": "4194304",
		"MAX_VALUE_BYTES":        "2097152",
		"MAX_INFLIGHT_BYTES":     "33554432",
	})
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.StorageBackend != BackendEtcd || !reflect.DeepEqual(c.EtcdEndpoints, []string{"http://etcd-0:2379", "http://etcd-1:2379"}) ||
		c.EtcdPrefix != "/team-a/gokv/" || c.EtcdUsername != "gokv" || c.EtcdDialTimeout != 2*time.Second ||
		c.EtcdRequestTimeout != 3*time.Second || c.EtcdMaxRequestBytes != 4<<20 {
		t.Errorf("etcd settings: %+v", c)
	}
	if p, err := c.EtcdPassword(); err != nil || p != "s3cret" {
		t.Errorf("EtcdPassword = %q, %v; want the file without its newline", p, err)
	}
}

func TestInvalidEtcdSettings(t *testing.T) {
	empty := writeFile(t, "empty", "")
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown backend", map[string]string{"STORAGE_BACKEND": "consul"}, `STORAGE_BACKEND must be badger or etcd, got "consul"`},
		{"no endpoints", map[string]string{"STORAGE_BACKEND": "etcd"}, "ETCD_ENDPOINTS must list the etcd client URLs"},
		{"endpoint without scheme", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "etcd-0:2379"}, `ETCD_ENDPOINTS: "etcd-0:2379" is not an http:// or https:// URL`},
		{"prefix without slash", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_PREFIX": "/gokv"}, `ETCD_PREFIX must end with '/'`},
		{"prefix empty", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_PREFIX": ""}, `ETCD_PREFIX must end with '/'`},
		{"cert without key", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "https://e:2379", "ETCD_CERT_FILE": "/tls/tls.crt"}, "ETCD_CERT_FILE and ETCD_KEY_FILE go together"},
		{"ca missing", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "https://e:2379", "ETCD_CA_FILE": "/nonexistent/ca.crt"}, "ETCD_CA_FILE: open /nonexistent/ca.crt"},
		{"ca not pem", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "https://e:2379", "ETCD_CA_FILE": notPEM}, "ETCD_CA_FILE: no PEM certificate"},
		{"username without password", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_USERNAME": "gokv"}, "ETCD_USERNAME and ETCD_PASSWORD_FILE go together"},
		{"password file empty", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_USERNAME": "gokv", "ETCD_PASSWORD_FILE": empty}, "ETCD_PASSWORD_FILE: " + empty + " is empty"},
		{"dial timeout zero", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_DIAL_TIMEOUT": "0s"}, "ETCD_DIAL_TIMEOUT must be positive"},
		{"request timeout unitless", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_REQUEST_TIMEOUT": "5"}, `ETCD_REQUEST_TIMEOUT="5" is not a valid duration`},
		{"value larger than a request", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "MAX_VALUE_BYTES": "2097152", "MAX_INFLIGHT_BYTES": "33554432"},
			"ETCD_MAX_REQUEST_BYTES (1572864) must be at least MAX_VALUE_BYTES + "},
		{"request limit below the default value", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_MAX_REQUEST_BYTES": "1048576"},
			"ETCD_MAX_REQUEST_BYTES (1048576) must be at least MAX_VALUE_BYTES + "},
		{"request limit octal", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "ETCD_MAX_REQUEST_BYTES": "01572864"}, `ETCD_MAX_REQUEST_BYTES="01572864" is not a valid number`},
		// A setting of the other backend would be ignored: refused.
		{"db path with etcd", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "DB_PATH": "/data"}, "DB_PATH is a setting of STORAGE_BACKEND=badger, not of etcd: unset it"},
		{"sync writes with etcd", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "SYNC_WRITES": "true"}, "SYNC_WRITES is a setting of STORAGE_BACKEND=badger"},
		{"min free with etcd", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "MIN_FREE_BYTES": "0"}, "MIN_FREE_BYTES is a setting of STORAGE_BACKEND=badger"},
		{"gc interval with etcd", map[string]string{"STORAGE_BACKEND": "etcd", "ETCD_ENDPOINTS": "http://e:2379", "GC_INTERVAL": "5m"}, "GC_INTERVAL is a setting of STORAGE_BACKEND=badger"},
		{"endpoints with badger", map[string]string{"ETCD_ENDPOINTS": "http://e:2379"}, "ETCD_ENDPOINTS is a setting of STORAGE_BACKEND=etcd, not of badger: unset it"},
		{"prefix with explicit badger", map[string]string{"STORAGE_BACKEND": "badger", "ETCD_PREFIX": "/x/"}, "ETCD_PREFIX is a setting of STORAGE_BACKEND=etcd, not of badger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"JWT_SECRET": validSecret}
			for k, v := range tt.env {
				env[k] = v
			}
			setEnv(t, env)
			_, err := FromEnv()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("FromEnv error = %v, want one line starting %q", err, tt.want)
			}
		})
	}
}

// TestEtcdDoesNotMeasureDBPath: with etcd there is no data directory, so
// the free-space check of Badger's filesystem does not run.
func TestEtcdDoesNotMeasureDBPath(t *testing.T) {
	c := Config{JWTSecret: validSecret, StorageBackend: BackendEtcd, EtcdEndpoints: []string{"http://e:2379"}, EtcdPrefix: "/gokv/",
		DBPath: "/nonexistent/never", MinFreeBytes: 1 << 40, GinMode: "debug", MaxValueBytes: 1 << 20, MaxInflightBytes: 1 << 25,
		MaxConns: 1, GCInterval: time.Minute, ShutdownTimeout: time.Second, LogFormat: "text",
		EtcdDialTimeout: time.Second, EtcdRequestTimeout: time.Second, EtcdMaxRequestBytes: 1536 << 10}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
