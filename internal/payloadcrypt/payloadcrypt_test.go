package payloadcrypt

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

type lease struct {
	TenantEmail string
	AmountCents int64
}

func TestSealsEveryPayloadAndOpensIt(t *testing.T) {
	c, err := Parse("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	dc := c.DataConverter(nil)
	p, err := dc.ToPayload(lease{TenantEmail: "ana@example.com", AmountCents: 150000})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("ana@example.com")) || bytes.Contains(p.GetData(), []byte("150000")) {
		t.Fatal("the sealed payload shows its content")
	}
	if string(p.Metadata[converter.MetadataEncoding]) != Encoding || string(p.Metadata[MetadataKeyID]) != "k1" {
		t.Fatalf("metadata %v", p.Metadata)
	}
	var back lease
	if err := dc.FromPayload(p, &back); err != nil || back.TenantEmail != "ana@example.com" || back.AmountCents != 150000 {
		t.Fatalf("opened %+v, %v", back, err)
	}
	// Two seals of one value differ (a fresh nonce each time).
	q, _ := dc.ToPayload(lease{TenantEmail: "ana@example.com", AmountCents: 150000})
	if bytes.Equal(p.Data, q.Data) {
		t.Error("two seals are equal: the nonce repeats")
	}
}

// A ring rotated to a new current key still opens what the old key sealed,
// and what was written before encryption was turned on; without the old key
// the old payloads are an error, never garbage.
func TestRotationKeepsOldHistoriesReadable(t *testing.T) {
	old, _ := Parse("2026-01:" + key(1))
	sealedOld, _ := old.DataConverter(nil).ToPayload("ana@example.com")
	plain, _ := converter.GetDefaultDataConverter().ToPayload("before encryption")

	rotated, err := Parse("2026-12:" + key(2) + ", 2026-01:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentKeyID() != "2026-12" || strings.Join(rotated.KeyIDs(), ",") != "2026-12,2026-01" {
		t.Fatalf("ring %v, current %s", rotated.KeyIDs(), rotated.CurrentKeyID())
	}
	dc := rotated.DataConverter(nil)
	var s string
	if err := dc.FromPayload(sealedOld, &s); err != nil || s != "ana@example.com" {
		t.Fatalf("old payload: %q %v", s, err)
	}
	if err := dc.FromPayload(plain, &s); err != nil || s != "before encryption" {
		t.Fatalf("plain payload: %q %v", s, err)
	}
	fresh, _ := dc.ToPayload("x")
	if string(fresh.Metadata[MetadataKeyID]) != "2026-12" {
		t.Errorf("new payloads sealed with %s", fresh.Metadata[MetadataKeyID])
	}

	newOnly, _ := Parse("2026-12:" + key(2))
	if err := newOnly.DataConverter(nil).FromPayload(sealedOld, &s); err == nil || !strings.Contains(err.Error(), `lacks key "2026-01"`) {
		t.Errorf("a retired key's payload: %v", err)
	}
}

func TestTamperedPayloadsAreRefused(t *testing.T) {
	c, _ := Parse("k1:" + key(1) + ",k2:" + key(2))
	sealed, _ := c.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	flipped := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: bytes.Clone(sealed[0].Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte("k2")}, Data: sealed[0].Data}
	short := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: []byte{1, 2}}
	for name, p := range map[string]*commonpb.Payload{"flipped": flipped, "relabelled": relabelled, "short": short} {
		if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
			t.Errorf("%s payload opened", name)
		}
	}
}

func TestKeyRingFromTheEnvironment(t *testing.T) {
	t.Setenv(EnvKeys, "")
	t.Setenv(EnvKeysFile, "")
	if c, err := FromEnv(); c != nil || err != nil {
		t.Fatalf("no keys: %v %v", c, err)
	}
	secret := key(7)
	for _, bad := range []string{"k1", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), "bad id:" + secret, "k1:" + secret + ",k1:" + key(8), " , "} {
		t.Setenv(EnvKeys, bad)
		_, err := FromEnv()
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	t.Setenv(EnvKeys, "")
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# rotated 2026-12\n2026-12  "+key(2)+"\n\n2026-01 "+key(1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvKeysFile, file)
	c, err := FromEnv()
	if err != nil || c.CurrentKeyID() != "2026-12" || len(c.KeyIDs()) != 2 {
		t.Fatalf("from the file: %v %v", c, err)
	}
	t.Setenv(EnvKeys, "k1:"+key(1))
	if _, err := FromEnv(); err == nil {
		t.Error("both variables accepted")
	}
}
