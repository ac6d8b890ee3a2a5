package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification (and Svix's docs):
// a known secret, message ID, timestamp and body give a known signature.
func TestSignMatchesTheStandardWebhooksExample(t *testing.T) {
	sig, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
}

func TestHeadersSignWithEverySecret(t *testing.T) {
	a, _ := NewSecret()
	b, _ := NewSecret()
	if a == b || !strings.HasPrefix(a, SecretPrefix) || len(a) != len(SecretPrefix)+44 {
		t.Fatalf("secrets %q %q", a, b)
	}
	at := time.Unix(1700000000, 0)
	h, err := Headers([]string{a, b}, "evt_1", at, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := Sign(a, "evt_1", at, []byte("{}"))
	sb, _ := Sign(b, "evt_1", at, []byte("{}"))
	if h["webhook-signature"] != sa+" "+sb || h["webhook-id"] != "evt_1" || h["webhook-timestamp"] != "1700000000" {
		t.Fatalf("headers %v", h)
	}
	if _, err := Sign("whsec_not base64!", "x", at, nil); err == nil || strings.Contains(err.Error(), "not base64") {
		t.Fatalf("a bad secret: %v (the error must not quote it)", err)
	}
	if _, err := Headers(nil, "x", at, nil); err == nil {
		t.Fatal("no secret signs nothing")
	}
}

func TestEventIDIsTheFact(t *testing.T) {
	a := EventID(TypeRefundDue, "deposit-L-1/settlement/refund/1")
	if a != EventID(TypeRefundDue, "deposit-L-1/settlement/refund/1") || !strings.HasPrefix(a, "evt_") || len(a) != 36 {
		t.Fatalf("id %s", a)
	}
	if a == EventID(TypeInvoiceDue, "deposit-L-1/settlement/refund/1") || a == EventID(TypeRefundDue, "deposit-L-1/settlement/refund/2") {
		t.Fatal("another fact has another ID")
	}
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://pms.example/hooks", "http://127.0.0.1:8080/x?token=1"} {
		if _, err := CheckURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for raw, want := range map[string]string{
		"ftp://pms.example/":             "http:// or https://",
		"https://user:pw@pms.example/":   "credentials",
		"https://token@pms.example/":     "credentials",
		"pms.example/hooks":              "http:// or https://",
		"https:///hooks":                 "no host",
		"https://pms.example/x#frag":     "fragment",
		"https://pms.example/%zz":        "not a URL",
		"javascript:alert(1)":            "http:// or https://",
		"https://:443/":                  "no host",
		"http://[::1]:9/hooks?secret=42": "",
	} {
		_, err := CheckURL(raw)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", raw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "token@")) {
			t.Errorf("%s: the error quotes the credentials: %v", raw, err)
		}
	}
	if s := Shown("https://pms.example/hooks?token=secret"); s != "https://pms.example/hooks?..." {
		t.Errorf("shown %s", s)
	}
}

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes("refund.due, invoice.due,refund.due")
	if err != nil || strings.Join(got, ",") != "refund.due,invoice.due" {
		t.Fatalf("%v %v", got, err)
	}
	if all, _ := ParseTypes("all"); len(all) != 5 {
		t.Fatalf("all: %v", all)
	}
	for _, bad := range []string{"", "refund.paid", ","} {
		if _, err := ParseTypes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBodyIsTheStandardEnvelope(t *testing.T) {
	b, err := Body(TypeRefundDue, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), json.RawMessage(`{"lease_id":"L-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"type":"refund.due","timestamp":"2026-01-02T03:04:05.000000006Z","data":{"lease_id":"L-1"}}` {
		t.Fatalf("%s", b)
	}
}
