package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestTemporalConnectionOptions(t *testing.T) {
	t.Setenv("TEMPORAL_API_KEY", "")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	cert, key := writeCert(t, dir)

	plain, err := (&temporalConn{}).options("h:7233", "ns", logger)
	if err != nil || plain.ConnectionOptions.TLS != nil || plain.Credentials != nil {
		t.Fatalf("plaintext by default: %+v %v", plain.ConnectionOptions, err)
	}

	c := &temporalConn{cert: cert, key: key, ca: cert, serverName: "temporal.internal"}
	o, err := c.options("h:7233", "ns", logger)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := o.ConnectionOptions.TLS; cfg == nil || len(cfg.Certificates) != 1 || cfg.RootCAs == nil || cfg.ServerName != "temporal.internal" {
		t.Fatalf("mTLS options: %+v", cfg)
	}
	if c.describe(o) != "mtls" {
		t.Errorf("describe = %s", c.describe(o))
	}

	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte("secret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = &temporalConn{apiKeyFile: keyFile}
	o, err = c.options("ns.acct.tmprl.cloud:7233", "ns.acct", logger)
	if err != nil || o.Credentials == nil || o.ConnectionOptions.TLS == nil {
		t.Fatalf("an API key implies TLS and credentials: %+v %v", o.ConnectionOptions, err)
	}
	if d := c.describe(o); d != "tls+api-key" || strings.Contains(d, "secret") {
		t.Errorf("describe = %s", d)
	}

	for _, bad := range []temporalConn{{cert: cert}, {ca: filepath.Join(dir, "missing.pem")}, {tls: true, ca: keyFile}, {apiKeyFile: filepath.Join(dir, "nope")}} {
		if _, err := bad.options("h:1", "ns", logger); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
