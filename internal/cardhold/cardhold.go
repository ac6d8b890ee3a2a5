// Package cardhold takes a security deposit as an authorization hold on the
// tenant's card (seed 004, "Security Deposit Hold"): place the hold, place
// it again before the card network lets it lapse, capture what is kept and
// let the rest go, cancel it when nothing is kept, and refund a card
// payment. Provider is the seam; Stripe is the provider (PaymentIntents with
// capture_method=manual, partial capture by amount_to_capture, cancel,
// Refunds), every call under an idempotency key the caller makes from the
// lease and the step, so a retried call is the same call to the provider.
package cardhold

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// Hold is a hold as the provider answered: the PaymentIntent and what it holds.
type Hold struct {
	ID          string `json:"id"` // the PaymentIntent, pi_...
	Status      string `json:"status"`
	AmountCents int64  `json:"amount_cents"`
}

// Capture is what a capture took from a hold: the payment by card.
type Capture struct {
	PaymentIntentID string `json:"payment_intent_id"`
	ChargeID        string `json:"charge_id,omitempty"` // ch_..., the card payment
	AmountCents     int64  `json:"amount_cents"`
}

// Refund is a refund sent back to a card.
type Refund struct {
	ID          string `json:"id"` // re_...
	Status      string `json:"status"`
	AmountCents int64  `json:"amount_cents"`
}

// PlaceIn is a hold to place.
type PlaceIn struct {
	PaymentMethod string // pm_..., the tenant's card
	AmountCents   int64
	Currency      string // ISO 4217, any case
	Description   string
	LeaseID       string // kept with the hold as metadata
	Key           string // idempotency key: the lease and the step
}

// Provider is what the deposit engine needs of a card processor.
type Provider interface {
	Place(ctx context.Context, in PlaceIn) (Hold, error)
	Cancel(ctx context.Context, paymentIntentID, key string) (Hold, error)
	Capture(ctx context.Context, paymentIntentID string, amountCents int64, key string) (Capture, error)
	Refund(ctx context.Context, paymentIntentID string, amountCents int64, key string) (Refund, error)
}

// Error is a provider's refusal or failure, worded without the secret key.
type Error struct {
	Op        string // place, cancel, capture, refund
	Status    int    // the provider's HTTP status; 0 when it was not reached
	Type      string // card_error, invalid_request_error, api_error, ...
	Code      string // card_declined, ...
	Message   string
	Retryable bool // worth trying again (the provider was away or failed)
}

func (e *Error) Error() string {
	s := "card provider: " + e.Op
	if e.Status != 0 {
		s += fmt.Sprintf(" refused (HTTP %d", e.Status)
		if e.Code != "" {
			s += ", " + e.Code
		} else if e.Type != "" {
			s += ", " + e.Type
		}
		s += ")"
	} else {
		s += " failed"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Config is how to reach Stripe: the secret key and, for tests against
// stripe-mock, another API base.
type Config struct {
	SecretKey string
	APIBase   string // empty: Stripe's own
	Timeout   time.Duration
}

// ConfigFromEnv reads STRIPE_SECRET_KEY and STRIPE_API_BASE. ok is false
// when no key is set: card holds are then unavailable, and say so.
func ConfigFromEnv() (c Config, ok bool) {
	c = Config{SecretKey: os.Getenv("STRIPE_SECRET_KEY"), APIBase: os.Getenv("STRIPE_API_BASE")}
	return c, c.SecretKey != ""
}

// Stripe is the Provider on Stripe's API.
type Stripe struct {
	client *stripe.Client
	key    string
}

// NewStripe is a Stripe provider. The key is kept only to strike it from
// any error text; the library's own logging is off, so nothing logs it.
func NewStripe(c Config) (*Stripe, error) {
	if c.SecretKey == "" {
		return nil, errors.New("card holds need STRIPE_SECRET_KEY")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	retries := int64(0) // Temporal retries the activity, under the same key
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: timeout},
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: &retries,
	}
	if c.APIBase != "" {
		u := strings.TrimRight(c.APIBase, "/")
		cfg.URL = &u
	}
	backends := &stripe.Backends{
		API: stripe.GetBackendWithConfig(stripe.APIBackend, cfg), Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg), MeterEvents: stripe.GetBackendWithConfig(stripe.MeterEventsBackend, cfg),
	}
	return &Stripe{client: stripe.NewClient(c.SecretKey, stripe.WithBackends(backends)), key: c.SecretKey}, nil
}

// Place creates a PaymentIntent for the amount with manual capture and
// confirms it on the tenant's card: the amount is authorized, not taken.
func (s *Stripe) Place(ctx context.Context, in PlaceIn) (Hold, error) {
	p := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(in.AmountCents),
		Currency:           stripe.String(strings.ToLower(in.Currency)),
		PaymentMethod:      stripe.String(in.PaymentMethod),
		PaymentMethodTypes: []*string{stripe.String("card")},
		CaptureMethod:      stripe.String(string(stripe.PaymentIntentCaptureMethodManual)),
		Confirm:            stripe.Bool(true),
		Description:        stripe.String(in.Description),
		Metadata:           map[string]string{"lease_id": in.LeaseID, "step": in.Key},
	}
	p.SetIdempotencyKey(in.Key)
	pi, err := s.client.V1PaymentIntents.Create(ctx, p)
	if err != nil {
		return Hold{}, s.fail("place", err)
	}
	return holdOf(pi), nil
}

// Cancel lets a hold go: nothing is taken from the card.
func (s *Stripe) Cancel(ctx context.Context, id, key string) (Hold, error) {
	p := &stripe.PaymentIntentCancelParams{}
	p.SetIdempotencyKey(key)
	pi, err := s.client.V1PaymentIntents.Cancel(ctx, id, p)
	if err != nil {
		return Hold{}, s.fail("cancel", err)
	}
	return holdOf(pi), nil
}

// Capture takes amountCents of a hold; the provider releases the rest.
func (s *Stripe) Capture(ctx context.Context, id string, amountCents int64, key string) (Capture, error) {
	p := &stripe.PaymentIntentCaptureParams{AmountToCapture: stripe.Int64(amountCents)}
	p.SetIdempotencyKey(key)
	pi, err := s.client.V1PaymentIntents.Capture(ctx, id, p)
	if err != nil {
		return Capture{}, s.fail("capture", err)
	}
	c := Capture{PaymentIntentID: pi.ID, AmountCents: amountCents}
	if pi.LatestCharge != nil {
		c.ChargeID = pi.LatestCharge.ID
	}
	return c, nil
}

// Refund sends amountCents of a card payment back to the card.
func (s *Stripe) Refund(ctx context.Context, paymentIntentID string, amountCents int64, key string) (Refund, error) {
	p := &stripe.RefundCreateParams{PaymentIntent: stripe.String(paymentIntentID), Amount: stripe.Int64(amountCents)}
	p.SetIdempotencyKey(key)
	r, err := s.client.V1Refunds.Create(ctx, p)
	if err != nil {
		return Refund{}, s.fail("refund", err)
	}
	return Refund{ID: r.ID, Status: string(r.Status), AmountCents: amountCents}, nil
}

func holdOf(pi *stripe.PaymentIntent) Hold {
	return Hold{ID: pi.ID, Status: string(pi.Status), AmountCents: pi.Amount}
}

// fail words a provider error without the secret key: the library's own
// error text carries the whole response, and a transport error may carry
// the request.
func (s *Stripe) fail(op string, err error) error {
	e := &Error{Op: op, Retryable: true}
	var se *stripe.Error
	if errors.As(err, &se) {
		e.Status, e.Type, e.Code, e.Message = se.HTTPStatusCode, string(se.Type), string(se.Code), se.Msg
		// Refused for good: the card, the request or the key is wrong. The
		// provider's own failures (5xx) and rate limits are worth a retry.
		e.Retryable = se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusTooManyRequests || se.HTTPStatusCode == http.StatusConflict
	} else {
		e.Message = err.Error()
	}
	e.Message = Redact(e.Message, s.key)
	return e
}

// Redact strikes a secret (and its last characters, which providers echo)
// from a text.
func Redact(text, secret string) string {
	if secret == "" {
		return text
	}
	text = strings.ReplaceAll(text, secret, "[redacted]")
	if len(secret) > 8 {
		text = strings.ReplaceAll(text, secret[len(secret)-8:], "[redacted]")
	}
	return text
}
