package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/gokv-service/gokv/internal/etcdstore"
)

// The storage backends.
const (
	BackendBadger = "badger"
	BackendEtcd   = "etcd"
)

// badgerOnly are the settings that only the Badger backend reads, and
// etcdOnly those only the etcd backend reads. Setting one for the other
// backend is refused: it would be silently ignored, and whoever set it
// expected it to do something.
var (
	badgerOnly = []string{"DB_PATH", "SYNC_WRITES", "MIN_FREE_BYTES", "GC_INTERVAL"}
	etcdOnly   = []string{"ETCD_ENDPOINTS", "ETCD_PREFIX", "ETCD_CA_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE",
		"ETCD_USERNAME", "ETCD_PASSWORD_FILE", "ETCD_DIAL_TIMEOUT", "ETCD_REQUEST_TIMEOUT", "ETCD_MAX_REQUEST_BYTES"}
)

// checkBackendSettings refuses a setting in lookup that backend does not
// read.
func checkBackendSettings(backend string, lookup func(string) (string, bool)) error {
	other, otherName := etcdOnly, BackendEtcd
	if backend == BackendEtcd {
		other, otherName = badgerOnly, BackendBadger
	}
	for _, name := range other {
		if _, ok := lookup(name); ok {
			return fmt.Errorf("%s is a setting of STORAGE_BACKEND=%s, not of %s: unset it", name, otherName, orDefault(backend))
		}
	}
	return nil
}

func orDefault(backend string) string {
	if backend == "" {
		return BackendBadger
	}
	return backend
}

// validateEtcd checks the etcd settings, reading the files they name.
func (c Config) validateEtcd() error {
	if len(c.EtcdEndpoints) == 0 {
		return errors.New("ETCD_ENDPOINTS must list the etcd client URLs, comma-separated (like https://etcd-0.etcd:2379), with STORAGE_BACKEND=etcd")
	}
	for _, e := range c.EtcdEndpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("ETCD_ENDPOINTS: %q is not an http:// or https:// URL", e)
		}
	}
	if c.EtcdPrefix == "" || !strings.HasSuffix(c.EtcdPrefix, "/") || len(c.EtcdPrefix) > etcdstore.MaxPrefixLen {
		return fmt.Errorf("ETCD_PREFIX must end with '/' and be at most %d bytes, got %q", etcdstore.MaxPrefixLen, c.EtcdPrefix)
	}
	if (c.EtcdCertFile == "") != (c.EtcdKeyFile == "") {
		return errors.New("ETCD_CERT_FILE and ETCD_KEY_FILE go together: set both for a client certificate, or neither")
	}
	if _, err := c.EtcdTLS(); err != nil {
		return err
	}
	if (c.EtcdUsername == "") != (c.EtcdPasswordFile == "") {
		return errors.New("ETCD_USERNAME and ETCD_PASSWORD_FILE go together: set both to authenticate to etcd, or neither")
	}
	if _, err := c.EtcdPassword(); err != nil {
		return err
	}
	if c.EtcdDialTimeout <= 0 {
		return fmt.Errorf("ETCD_DIAL_TIMEOUT must be positive, got %s", c.EtcdDialTimeout)
	}
	if c.EtcdRequestTimeout <= 0 {
		return fmt.Errorf("ETCD_REQUEST_TIMEOUT must be positive, got %s", c.EtcdRequestTimeout)
	}
	if need := c.MaxValueBytes + etcdstore.RequestOverhead; int64(c.EtcdMaxRequestBytes) < need {
		return fmt.Errorf("ETCD_MAX_REQUEST_BYTES (%d) must be at least MAX_VALUE_BYTES + %d (%d): a value must fit in one etcd request; lower MAX_VALUE_BYTES or raise etcd's --max-request-bytes and this setting",
			c.EtcdMaxRequestBytes, etcdstore.RequestOverhead, need)
	}
	if c.EtcdMaxRequestBytes > maxEtcdRequestBytes {
		return fmt.Errorf("ETCD_MAX_REQUEST_BYTES must be at most %d, got %d", maxEtcdRequestBytes, c.EtcdMaxRequestBytes)
	}
	return nil
}

// maxEtcdRequestBytes is what a gRPC message can carry, with room to
// spare.
const maxEtcdRequestBytes = 1<<31 - 1<<20

// EtcdTLS is the TLS configuration to reach etcd with: nil when no
// ETCD_*_FILE is set (then endpoints use http://, or https:// with the
// system's roots).
func (c Config) EtcdTLS() (*tls.Config, error) {
	if c.EtcdCAFile == "" && c.EtcdCertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.EtcdCAFile != "" {
		pem, err := os.ReadFile(c.EtcdCAFile)
		if err != nil {
			return nil, fmt.Errorf("ETCD_CA_FILE: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ETCD_CA_FILE: no PEM certificate in %s", c.EtcdCAFile)
		}
	}
	if c.EtcdCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.EtcdCertFile, c.EtcdKeyFile)
		if err != nil {
			return nil, fmt.Errorf("ETCD_CERT_FILE and ETCD_KEY_FILE: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// EtcdPassword reads ETCD_PASSWORD_FILE: the password never travels in
// the environment or on a command line, where it would show in process
// listings and pod specs. A trailing newline is not part of it.
func (c Config) EtcdPassword() (string, error) {
	if c.EtcdPasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.EtcdPasswordFile)
	if err != nil {
		return "", fmt.Errorf("ETCD_PASSWORD_FILE: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("ETCD_PASSWORD_FILE: %s is empty", c.EtcdPasswordFile)
	}
	return p, nil
}
