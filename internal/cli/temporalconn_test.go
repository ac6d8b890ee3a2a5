package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depositflow/depositflow/internal/payloadcrypt"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deposits-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// clearTemporalEnv leaves only what a test sets: no profile file, no variables.
func clearTemporalEnv(t *testing.T, dir string) {
	for _, v := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_PROFILE",
		"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME",
		payloadcrypt.EnvKeys, payloadcrypt.EnvKeysFile} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(dir, "absent.toml"))
}

// The connection is configured as the temporal CLI's is: a TOML profile,
// the standard TEMPORAL_* variables over it, the flags over both.
func TestTemporalConnectionOptions(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	clearTemporalEnv(t, dir)
	cert, key := writeCert(t, dir)

	plain, err := (&temporalConn{}).options("", "", logger)
	if err != nil || plain.ConnectionOptions.TLS != nil || plain.Credentials != nil || plain.HostPort != "localhost:7233" || plain.Namespace != "default" {
		t.Fatalf("plaintext to localhost by default: %+v %v", plain, err)
	}

	// A profile in the shared config file, picked by name.
	toml := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(toml, []byte(`[profile.prod]
address = "temporal.internal:7233"
namespace = "deposits"
[profile.prod.tls]
client_cert_path = "`+cert+`"
client_key_path = "`+key+`"
server_ca_cert_path = "`+cert+`"
server_name = "temporal.internal"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", toml)
	c := &temporalConn{profile: "prod"}
	o, err := c.options("", "", logger)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := o.ConnectionOptions.TLS; o.HostPort != "temporal.internal:7233" || o.Namespace != "deposits" || cfg == nil ||
		len(cfg.Certificates) != 1 || cfg.RootCAs == nil || cfg.ServerName != "temporal.internal" || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("mTLS profile: %s %s %+v", o.HostPort, o.Namespace, cfg)
	}
	if c.describe(o) != "mtls" {
		t.Errorf("describe = %s", c.describe(o))
	}
	// The variables over the profile, the flags over both.
	t.Setenv("TEMPORAL_NAMESPACE", "from-env")
	if o, err = c.options("flag:7233", "", logger); err != nil || o.HostPort != "flag:7233" || o.Namespace != "from-env" {
		t.Fatalf("overrides: %s %s %v", o.HostPort, o.Namespace, err)
	}
	if _, err := (&temporalConn{profile: "nosuch"}).options("", "", logger); err == nil {
		t.Error("an unknown profile was accepted")
	}

	// Temporal Cloud with an API key: TLS and credentials, the key never shown.
	clearTemporalEnv(t, dir)
	t.Setenv("TEMPORAL_API_KEY", "secret-key")
	o, err = (&temporalConn{}).options("ns.acct.tmprl.cloud:7233", "ns.acct", logger)
	if err != nil || o.Credentials == nil || o.ConnectionOptions.TLS == nil {
		t.Fatalf("an API key implies TLS and credentials: %+v %v", o.ConnectionOptions, err)
	}
	if d := c.describe(o); d != "tls+api-key" || strings.Contains(d, "secret") {
		t.Errorf("describe = %s", d)
	}

	// --temporal-tls alone: TLS with the system's roots.
	clearTemporalEnv(t, dir)
	if o, err = (&temporalConn{tls: true}).options("h:7233", "", logger); err != nil || o.ConnectionOptions.TLS == nil || c.describe(o) != "tls" {
		t.Fatalf("--temporal-tls: %+v %v", o.ConnectionOptions, err)
	}

	// A payload key ring seals payloads; a broken one is refused.
	t.Setenv(payloadcrypt.EnvKeys, "k1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	if o, err = (&temporalConn{}).options("", "", logger); err != nil || o.DataConverter == nil || c.describe(o) != "plaintext, payloads encrypted" {
		t.Fatalf("payload keys: %v %v", c.describe(o), err)
	}
	t.Setenv(payloadcrypt.EnvKeys, "k1:short")
	if _, err := (&temporalConn{}).options("", "", logger); err == nil {
		t.Error("a short payload key was accepted")
	}

	clearTemporalEnv(t, dir)
	t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", cert)
	if _, err := (&temporalConn{}).options("h:1", "", logger); err == nil {
		t.Error("a client certificate without its key was accepted")
	}
	clearTemporalEnv(t, dir)
	t.Setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", filepath.Join(dir, "missing.pem"))
	if _, err := (&temporalConn{}).options("h:1", "", logger); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
