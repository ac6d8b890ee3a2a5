package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	gomail "github.com/wneessen/go-mail"
)

// Mailer sends email over SMTP with go-mail. One connection per message: the
// engine sends a handful of emails per lease, spread over weeks, so a pooled
// connection would only ever be stale.
type Mailer struct {
	host     string
	port     int
	tls      gomail.TLSPolicy
	implicit bool // smtps://: TLS from the first byte
	user     string
	pass     string
	From     *mail.Address
	Domain   string // right-hand side of our Message-IDs
}

// NewMailer reads an SMTP URL: smtp://[user:pass@]host:port sends with
// STARTTLS when the server offers it (add ?tls=none to never try, or
// ?tls=required to insist); smtps:// uses TLS from the start. from is the
// sender, "Name <addr>" or a bare address.
func NewMailer(smtpURL, from string) (*Mailer, error) {
	u, err := url.Parse(smtpURL)
	if err != nil {
		// url's own error quotes the URL, password and all: say only what is wrong.
		return nil, fmt.Errorf("SMTP_URL is not a URL: write smtp://[user:password@]host:port")
	}
	// Every message below names the URL without its password.
	shown := u.Redacted()
	m := &Mailer{host: u.Hostname(), tls: gomail.TLSOpportunistic}
	switch u.Scheme {
	case "smtp":
		m.port = 25
	case "smtps":
		m.port, m.implicit, m.tls = 465, true, gomail.TLSMandatory
	default:
		return nil, fmt.Errorf("SMTP_URL %q: use smtp://host:port or smtps://host:port", shown)
	}
	if m.host == "" {
		return nil, fmt.Errorf("SMTP_URL %q has no host", shown)
	}
	if p := u.Port(); p != "" {
		if m.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_URL %q: bad port", shown)
		}
	}
	switch u.Query().Get("tls") {
	case "":
	case "none":
		m.tls = gomail.NoTLS
	case "required":
		m.tls = gomail.TLSMandatory
	default:
		return nil, fmt.Errorf("SMTP_URL %q: tls= takes none or required", shown)
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	if m.From, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("MAIL_FROM %q: %w", from, err)
	}
	m.Domain = "depositflow.local"
	if _, d, ok := strings.Cut(m.From.Address, "@"); ok && d != "" {
		m.Domain = d
	}
	return m, nil
}

// Email is one message to send.
type Email struct {
	MessageID string // without angle brackets
	To        string
	ToName    string
	Cc        []string
	Subject   string
	Text      string
	HTML      string
	Date      time.Time
}

// ErrRejected marks a message the server refused for good (a bad recipient,
// say): sending it again will not help.
var ErrRejected = errors.New("the mail server rejected the message")

// ErrInDoubt marks a message that was written whole but whose answer never
// came (the connection dropped, the server went away): the server may have
// accepted it. SMTP cannot be asked, so the caller sends it again, the same
// message under the same Message-ID, which a mail client shows once.
var ErrInDoubt = errors.New("the mail server may have accepted the message")

// Send delivers one message. It returns as soon as the server accepted the
// message: what goes wrong after that (the reset between messages, the
// goodbye) does not make the message undelivered, and the caller records the
// delivery sooner for not waiting on it.
func (m *Mailer) Send(ctx context.Context, e Email) (err error) {
	// A span of the activity's trace; it names the message, not its recipient.
	ctx, span := otel.Tracer("depositflow/mail").Start(ctx, "smtp.send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("email.message_id", e.MessageID), attribute.String("server.address", m.host)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "not sent")
		}
		span.End()
	}()
	msg := gomail.NewMsg()
	if err := msg.FromFormat(m.From.Name, m.From.Address); err != nil {
		return fmt.Errorf("%w: sender: %v", ErrRejected, err)
	}
	if err := msg.AddToFormat(e.ToName, e.To); err != nil {
		return fmt.Errorf("%w: recipient %q: %v", ErrRejected, e.To, err)
	}
	if len(e.Cc) > 0 {
		if err := msg.Cc(e.Cc...); err != nil {
			return fmt.Errorf("%w: cc %v: %v", ErrRejected, e.Cc, err)
		}
	}
	msg.Subject(e.Subject)
	msg.SetMessageIDWithValue(e.MessageID)
	msg.SetDateWithValue(e.Date)
	// A boundary from the Message-ID instead of a random one: a message sent
	// again is then the same bytes. Safe while a message has one multipart
	// part (text and HTML alternatives, no attachments).
	sum := sha256.Sum256([]byte(e.MessageID))
	msg.SetBoundary("depositflow-" + hex.EncodeToString(sum[:16]))
	msg.SetBodyString(gomail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)

	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTLSPolicy(m.tls), gomail.WithTimeout(20 * time.Second)}
	if m.implicit {
		opts = append(opts, gomail.WithSSL())
	}
	if m.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(m.user), gomail.WithPassword(m.pass))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return err
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("dial failed: %w", err)
	}
	err = c.SendWithSMTPClient(conn, msg)
	// QUIT is a courtesy: it goes out while the caller records the delivery.
	go c.CloseWithSMTPClient(conn)
	if msg.IsDelivered() {
		return nil // an error here came after the server's 250 (the RSET)
	}
	var se *gomail.SendError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600:
		return fmt.Errorf("%w: %v", ErrRejected, err)
	case errors.As(err, &se) && se.Reason == gomail.ErrSMTPDataClose && se.ErrorCode() == 0:
		// The final dot went out and no answer came back.
		return fmt.Errorf("%w: %v", ErrInDoubt, err)
	}
	return err
}

// Addr is host:port, for messages.
func (m *Mailer) Addr() string { return net.JoinHostPort(m.host, strconv.Itoa(m.port)) }
