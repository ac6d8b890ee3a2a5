package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/depositflow/depositflow/internal/contract"
)

// Every exchange with a `deposits serve` of this suite goes through a
// validator of api/openapi.yaml (internal/contract): the shared server the
// CLI calls and each test's own (startServe) are reached through a
// validating reverse proxy, so the CLI's calls, the README's curl and the
// tests' own requests are all held to the document in both directions.
// A test that broke the contract fails with what broke it; any breach no
// test claimed fails the run.

var (
	apiContract *contract.Checker

	contractMu sync.Mutex
	claimed    int                     // breaches reported so far
	watched    = map[testing.TB]bool{} // tests whose end reports the breaches since the last report
)

// loadContract reads the document the proxies hold the servers to.
func loadContract() error {
	c, err := contract.Load("../api/openapi.yaml")
	if err != nil {
		return err
	}
	apiContract = c
	return nil
}

// checked serves target through the document's validator and returns the
// address to call instead, until stop. The bench measures the server
// alone (BENCH=1): it gets target itself.
func checked(target string) (string, func(), error) {
	if os.Getenv("BENCH") != "" {
		return target, func() {}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	stop, err := checkedOn(l, target)
	if err != nil {
		return "", nil, err
	}
	return "http://" + l.Addr().String(), stop, nil
}

// checkedOn serves target through the document's validator on l, until
// stop (target itself, unchecked, for the bench).
func checkedOn(l net.Listener, target string) (func(), error) {
	var h http.Handler
	if os.Getenv("BENCH") != "" {
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		h = httputil.NewSingleHostReverseProxy(u)
	} else {
		var err error
		if h, err = apiContract.Proxy(target); err != nil {
			return nil, err
		}
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	return func() { _ = srv.Close() }, nil
}

// watchContract makes the end of t report, as its failures, the breaches
// of the contract since the last report (tests run one at a time).
func watchContract(t testing.TB) {
	contractMu.Lock()
	defer contractMu.Unlock()
	if apiContract == nil || watched[t] {
		return
	}
	watched[t] = true
	t.Cleanup(func() {
		contractMu.Lock()
		breaches, n := apiContract.Breaches(claimed)
		claimed = n
		contractMu.Unlock()
		for _, b := range breaches {
			t.Errorf("api/openapi.yaml broken: %s", b)
		}
	})
}

// unclaimedBreaches reports the breaches no test reported; false when there are some.
func unclaimedBreaches() bool {
	if apiContract == nil {
		return true
	}
	contractMu.Lock()
	defer contractMu.Unlock()
	breaches, n := apiContract.Breaches(claimed)
	claimed = n
	for _, b := range breaches {
		fmt.Fprintf(os.Stderr, "api/openapi.yaml broken: %s\n", b)
	}
	return len(breaches) == 0
}
