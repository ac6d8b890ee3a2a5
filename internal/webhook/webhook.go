// Package webhook is what depositflow's webhooks are made of, apart from
// delivering them: the event types and what each carries, the events' IDs,
// signing secrets, and signatures the Standard Webhooks way
// (https://www.standardwebhooks.com):
//
//	webhook-id:        the event's ID, the same for every attempt
//	webhook-timestamp: the attempt's time, in seconds since the epoch
//	webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
//
// with one v1 signature per valid secret, separated by spaces, while a
// rotated secret still works. A secret is "whsec_" and the base64 of its key.
//
// Events are written by the activities in the transaction of the fact they
// report (an outbox) and delivered by a Temporal workflow per endpoint and
// lease (workflows/webhook.go, activities/webhooks.go).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event types an endpoint subscribes to.
const (
	TypeRefundDue      = "refund.due"       // a refund is payable to a tenant (or a payee)
	TypeInvoiceDue     = "invoice.due"      // a balance beyond the deposit is invoiced
	TypeStageChanged   = "stage.changed"    // the deposit moved to another stage
	TypeDisputeOpened  = "dispute.opened"   // accepted, never emitted: depositflow has no disputes yet
	TypeDeadlineAtRisk = "deadline.at_risk" // a statutory deadline is a week away or less and the manager was reminded
)

// Types are the event types, in the order a lease meets them.
var Types = []string{TypeStageChanged, TypeDeadlineAtRisk, TypeRefundDue, TypeInvoiceDue, TypeDisputeOpened}

// ParseTypes reads a comma-separated list of event types ("all" is every
// one), without duplicates.
func ParseTypes(s string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return slices.Clone(Types), nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(Types, t) {
			return nil, fmt.Errorf("unknown event type %q: choose among %s (or all)", t, strings.Join(Types, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("give the event types, e.g. refund.due,invoice.due (or all)")
	}
	return out, nil
}

// EventID is the ID of the event that reports a fact: the same fact (its
// type and its key, such as a refund's idempotency key) is the same event,
// whoever writes it and however often.
func EventID(typ, fact string) string {
	sum := sha256.Sum256([]byte(typ + "\x00" + fact))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// NewSecret is a new signing secret: 256 random bits.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// key is a secret's HMAC key. Its error never quotes the secret.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || !strings.HasPrefix(secret, SecretPrefix) || len(k) == 0 {
		return nil, errors.New("a signing secret is whsec_ and base64")
	}
	return k, nil
}

// Sign is one Standard Webhooks signature ("v1,<base64>") of a message.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Headers are a message's Standard Webhooks headers, signed with every
// secret given (the current one, then one being rotated out).
func Headers(secrets []string, id string, at time.Time, body []byte) (map[string]string, error) {
	var sigs []string
	for _, s := range secrets {
		sig, err := Sign(s, id, at, body)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return nil, errors.New("no signing secret")
	}
	return map[string]string{
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(at.Unix(), 10),
		"webhook-signature": strings.Join(sigs, " "),
	}, nil
}

// Body is what is POSTed: the Standard Webhooks envelope around the
// event's data. It is built from the stored event, so every attempt sends
// the same bytes.
func Body(typ string, at time.Time, data json.RawMessage) ([]byte, error) {
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{typ, at.UTC().Format(time.RFC3339Nano), data})
}

// CheckURL refuses what is not an http or https URL with a host, and a URL
// that carries credentials (user:password@): a secret in a URL ends up in
// logs and lists. It returns the URL as it will be called.
func CheckURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", errors.New("not a URL: write https://host/path")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("the URL must be http:// or https://, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("the URL has no host")
	case u.User != nil:
		return "", errors.New("the URL carries credentials (user:password@): the endpoint checks the signature instead")
	case u.Fragment != "":
		return "", errors.New("the URL has a #fragment, which is never sent")
	}
	return u.String(), nil
}

// Shown is a URL as logs, lists and errors show it: without its query,
// which may carry a token.
func Shown(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	shown := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		shown += "?..."
	}
	return shown
}
