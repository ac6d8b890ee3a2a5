// Package devcerts makes a private certificate authority and the
// certificates a depositflow stack needs to speak TLS between its services:
// the Temporal server (frontend and internode), the API server (deposits
// serve) and the clients of Temporal (deposits worker, serve and admin
// commands, the Web UI, the temporal CLI). It is for a stack that has no PKI
// of its own: docker compose, tests, a first try. A production deployment
// brings its own (cert-manager, a cloud CA, Temporal Cloud's).
package devcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// A Cert is one certificate to issue: NAME.pem and NAME-key.pem.
type Cert struct {
	Name   string
	Hosts  []string // DNS names and IP addresses it serves; none for a client only
	Server bool     // may serve TLS
	Client bool     // may authenticate as a client (mutual TLS)
}

// Stack is what a depositflow stack uses, for the extra host names given
// (the names its services reach each other by, such as "temporal" and
// "serve" in docker compose):
//   - temporal: the Temporal server's frontend and internode certificate (it
//     also authenticates the server's own system workers to its frontend);
//   - api: deposits serve's HTTPS certificate;
//   - deposits: the client certificate of every deposits process;
//   - tools: the client certificate of the Web UI and the temporal CLI.
func Stack(temporalHosts, apiHosts []string) []Cert {
	local := []string{"localhost", "127.0.0.1", "::1"}
	return []Cert{
		{Name: "temporal", Hosts: append(append([]string(nil), temporalHosts...), local...), Server: true, Client: true},
		{Name: "api", Hosts: append(append([]string(nil), apiHosts...), local...), Server: true},
		{Name: "deposits", Client: true},
		{Name: "tools", Client: true},
	}
}

// ErrExists says the directory already holds a CA: nothing was written.
var ErrExists = errors.New("certificates already exist")

// Write issues ca.pem and each certificate under dir, valid for validFor,
// keys with keyMode (0600 unless the services read them as other users).
// The CA's own key is never written: nothing more can be signed later, so
// an attacker who reads the volume cannot mint a client certificate. A
// directory that already holds ca.pem is left as it is (ErrExists).
func Write(dir string, certs []Cert, validFor time.Duration, keyMode fs.FileMode) error {
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
		return ErrExists
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "depositflow stack CA", Organization: []string{"depositflow"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	for _, c := range certs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: c.Name, Organization: []string{"depositflow"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
			KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
		}
		if c.Server {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		}
		if c.Client {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		}
		for _, h := range c.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, c.Name+"-key.pem"), "PRIVATE KEY", keyDER, keyMode); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, c.Name+".pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
	}
	// The CA last: its presence says the set is complete.
	return writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER, 0o644)
}

func writePEM(path, kind string, der []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: kind, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The umask may have narrowed it; the caller asked for this mode.
	return os.Chmod(path, mode)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return n
}
