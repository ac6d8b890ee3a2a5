package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/depositflow/depositflow/internal/evidence"
	"github.com/depositflow/depositflow/internal/tenantlink"
)

// tenantLinks is the signer of tenants' links, from DEPOSITS_LINK_SECRET
// and DEPOSITS_PUBLIC_URL (the server's address as tenants reach it); nil
// when no secret is set: emails then carry no link and the tenant's page
// refuses every link.
func tenantLinks() (*tenantlink.Signer, error) {
	secret := os.Getenv("DEPOSITS_LINK_SECRET")
	if secret == "" {
		return nil, nil
	}
	s, err := tenantlink.New(secret, envOr("DEPOSITS_PUBLIC_URL", "http://"+envOr("API_ADDRESS", "localhost:8081")))
	if err != nil {
		return nil, refused("%v", err)
	}
	return s, nil
}

// evidenceStore opens the evidence store: DEPOSITS_BLOB_URL (s3://...,
// gs://..., azblob://..., file://...), or the directory blobs under
// DEPOSITS_DATA_DIR (.data).
func evidenceStore(ctx context.Context) (*evidence.Store, error) {
	url, err := evidence.URLFromEnv(envOr("DEPOSITS_DATA_DIR", ".data"))
	if err != nil {
		return nil, refused("the evidence store: %v", err)
	}
	s, err := evidence.Open(ctx, url)
	if err != nil {
		return nil, refused("%v", err)
	}
	return s, nil
}

// devTenantSide sets what the tenant's side needs for `deposits dev`, where
// it is not set already: a link secret kept in the data folder, evidence
// stored in it, and links to the dev API.
func devTenantSide(dataDir string, apiPort int) error {
	if os.Getenv("DEPOSITS_LINK_SECRET") == "" {
		file := filepath.Join(dataDir, "link-secret")
		secret, err := os.ReadFile(file)
		if err != nil {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			secret = []byte(hex.EncodeToString(b))
			if err := os.WriteFile(file, secret, 0o600); err != nil {
				return err
			}
		}
		os.Setenv("DEPOSITS_LINK_SECRET", strings.TrimSpace(string(secret)))
	}
	if os.Getenv("DEPOSITS_BLOB_URL") == "" {
		os.Setenv("DEPOSITS_DATA_DIR", dataDir)
	}
	if os.Getenv("DEPOSITS_PUBLIC_URL") == "" && apiPort != 0 {
		os.Setenv("DEPOSITS_PUBLIC_URL", "http://localhost:"+strconv.Itoa(apiPort))
	}
	return nil
}
