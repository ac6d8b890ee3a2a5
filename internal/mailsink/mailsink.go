// Package mailsink is a real SMTP server that keeps every message it receives,
// for tests (which read the actual MIME message) and for `deposits dev` (which
// shows the messages on a small web page). It accepts any sender and recipient
// and never relays.
package mailsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one received message, exactly as it came over the wire.
type Message struct {
	From     string
	To       []string
	Raw      []byte
	Received time.Time
}

// Header parses the message's header.
func (m Message) Header() (mail.Header, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return nil, err
	}
	return msg.Header, nil
}

// Sink is a running SMTP server.
type Sink struct {
	Addr string // host:port it listens on

	srv *smtp.Server
	dir string

	mu       sync.Mutex
	msgs     []Message
	changed  chan struct{} // closed and replaced on every new message
	refusing bool
	hangUp   HangUp
}

// HangUp says when the server drops a connection on purpose, to show what a
// client does with a message it cannot know the fate of.
type HangUp int

const (
	HangUpNever       HangUp = iota
	HangUpBeforeReply        // keep the message, drop the connection before answering 250
	HangUpAfterReply         // answer 250, then drop the connection
)

// Start listens on addr ("127.0.0.1:0" for a free port). When dir is not empty
// every message is also written there as an .eml file.
func Start(addr, dir string) (*Sink, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	s := &Sink{Addr: addr, dir: dir, changed: make(chan struct{})}
	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sink) listen() error {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.Addr = l.Addr().String()
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// Close stops the server: connections are refused until Restart.
func (s *Sink) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	return srv.Close()
}

// Restart listens again on the same address, keeping what was received.
func (s *Sink) Restart() error { return s.listen() }

// Messages returns a copy of what was received so far, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until match accepts some received message and returns it.
func (s *Sink) WaitFor(timeout time.Duration, match func(Message) bool) (Message, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if match(m) {
				s.mu.Unlock()
				return m, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return Message{}, fmt.Errorf("no matching message within %s (%d received)", timeout, len(s.Messages()))
		}
	}
}

// SetRefusing makes the server answer every message with a temporary failure,
// as a mail server that is down for maintenance would.
func (s *Sink) SetRefusing(refuse bool) {
	s.mu.Lock()
	s.refusing = refuse
	s.mu.Unlock()
}

// SetHangUp makes the server drop every connection that delivers a message,
// before or after its answer (HangUpNever to stop).
func (s *Sink) SetHangUp(h HangUp) {
	s.mu.Lock()
	s.hangUp = h
	s.mu.Unlock()
}

func (s *Sink) hangingUp() HangUp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hangUp
}

func (s *Sink) add(m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refusing {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mail sink is refusing messages"}
	}
	s.msgs = append(s.msgs, m)
	if s.dir != "" {
		name := filepath.Join(s.dir, fmt.Sprintf("%s-%04d.eml", m.Received.UTC().Format("20060102T150405"), len(s.msgs)))
		if err := os.WriteFile(name, m.Raw, 0o644); err != nil {
			return err
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

type backend struct{ s *Sink }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{sink: b.s, conn: c.Conn()}, nil
}

type session struct {
	sink     *Sink
	conn     net.Conn
	from     string
	to       []string
	accepted bool // a message was kept since the last reset
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(s.to) == 0 {
		return errors.New("no recipients")
	}
	if err := s.sink.add(Message{From: s.from, To: s.to, Raw: raw, Received: time.Now()}); err != nil {
		return err
	}
	s.accepted = true
	if s.sink.hangingUp() == HangUpBeforeReply {
		_ = s.conn.Close()
	}
	return nil
}

// Reset runs after the answer to a message has been written (and on RSET).
// The net.Conn is closed directly: go-smtp holds its connection lock here.
func (s *session) Reset() {
	if s.accepted && s.sink.hangingUp() == HangUpAfterReply {
		_ = s.conn.Close()
	}
	s.from, s.to, s.accepted = "", nil, false
}
func (s *session) Logout() error { return nil }
