package devcerts

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The stack's certificates speak mutual TLS to each other, under their
// names, and to nobody else: a client of another CA is refused, a server
// name the certificate does not carry fails, a client certificate cannot
// serve, and the CA's key is nowhere.
func TestStackSpeaksMutualTLS(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := Write(dir, Stack([]string{"temporal"}, []string{"serve"}), 24*time.Hour, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(other, Stack(nil, nil), 24*time.Hour, 0o600); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 9 {
		t.Fatalf("want ca.pem and four pairs, got %d files", len(files))
	}
	for _, f := range files {
		st, _ := f.Info()
		if strings.HasSuffix(f.Name(), "-key.pem") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f.Name(), st.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
		if f.Name() == "ca.pem" && bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Error("ca.pem holds a key")
		}
	}
	// Running again changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, "temporal.pem"))
	if err := Write(dir, Stack(nil, nil), time.Hour, 0o600); !errors.Is(err, ErrExists) {
		t.Fatalf("second write: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "temporal.pem"))
	if string(before) != string(after) {
		t.Fatal("a second run replaced the certificates")
	}

	handshake := func(serverDir, server, clientDir, client, name string) error {
		// Both sides trust the server's CA: only the client's certificate
		// comes from clientDir.
		pool := x509.NewCertPool()
		ca, _ := os.ReadFile(filepath.Join(serverDir, "ca.pem"))
		pool.AppendCertsFromPEM(ca)
		serverPool := pool
		sc, err := tls.LoadX509KeyPair(filepath.Join(serverDir, server+".pem"), filepath.Join(serverDir, server+"-key.pem"))
		if err != nil {
			return err
		}
		cc, err := tls.LoadX509KeyPair(filepath.Join(clientDir, client+".pem"), filepath.Join(clientDir, client+"-key.pem"))
		if err != nil {
			return err
		}
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{sc}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: serverPool})
		if err != nil {
			return err
		}
		defer l.Close()
		served := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			served <- c.(*tls.Conn).Handshake()
		}()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cc}, ServerName: name})
		if err == nil {
			err = c.Handshake()
			c.Close()
		}
		if serr := <-served; err == nil {
			err = serr
		}
		return err
	}
	for _, ok := range []struct{ server, client, name string }{
		{"temporal", "deposits", "temporal"}, {"temporal", "tools", "localhost"}, {"temporal", "temporal", "127.0.0.1"}, {"api", "deposits", "serve"},
	} {
		if err := handshake(dir, ok.server, dir, ok.client, ok.name); err != nil {
			t.Errorf("%s serving %s as %s: %v", ok.server, ok.client, ok.name, err)
		}
	}
	for _, bad := range []struct {
		why                          string
		serverDir, server, clientDir string
		client, name                 string
	}{
		{"a client of another CA", dir, "temporal", other, "deposits", "temporal"},
		{"a name the server does not carry", dir, "temporal", dir, "deposits", "postgres"},
		{"the API's name on Temporal's certificate", dir, "temporal", dir, "deposits", "serve"},
		{"a client certificate serving", dir, "deposits", dir, "tools", "localhost"},
	} {
		if err := handshake(bad.serverDir, bad.server, bad.clientDir, bad.client, bad.name); err == nil {
			t.Errorf("%s: the handshake succeeded", bad.why)
		}
	}
}
