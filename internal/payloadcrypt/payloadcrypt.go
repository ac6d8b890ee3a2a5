// Package payloadcrypt encrypts what depositflow hands Temporal: workflow
// inputs, activity arguments and results, signals, queries, memos and the
// Web UI's summaries all carry tenants' names, email addresses and money,
// and Temporal stores them in its history. With a key ring configured every
// payload leaves the process sealed with AES-256-GCM under the ring's
// current key, the key's ID beside it in the payload's metadata, so that a
// rotated ring (a new current key, the old ones kept for reading) still
// opens every history written before.
//
// Keys come from DEPOSITS_PAYLOAD_KEYS ("ID:BASE64,ID:BASE64", the first one
// current) or from the file DEPOSITS_PAYLOAD_KEYS_FILE (one "ID BASE64" per
// line, the first one current, # comments), never from a flag. Each key is
// 32 random bytes: `head -c 32 /dev/urandom | base64`.
package payloadcrypt

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// The payload metadata a sealed payload carries.
const (
	// Encoding marks a sealed payload (metadata "encoding").
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that sealed it.
	MetadataKeyID = "encryption-key-id"
)

// Environment variables the key ring is read from.
const (
	EnvKeys     = "DEPOSITS_PAYLOAD_KEYS"
	EnvKeysFile = "DEPOSITS_PAYLOAD_KEYS_FILE"
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Codec seals and opens payloads with a key ring. It is a
// converter.PayloadCodec: wrap the SDK's data converter with DataConverter,
// or serve it to the Web UI with converter.NewPayloadCodecHTTPHandler.
type Codec struct {
	current string
	keys    map[string]cipher.AEAD
	ids     []string // in the order given, the current one first
}

// FromEnv reads the key ring from the environment: nil (and no error) when
// neither variable is set, so that a deployment without keys runs as
// before; an error for a ring that is set but unusable.
func FromEnv() (*Codec, error) {
	spec, file := strings.TrimSpace(os.Getenv(EnvKeys)), os.Getenv(EnvKeysFile)
	switch {
	case spec != "" && file != "":
		return nil, fmt.Errorf("set %s or %s, not both", EnvKeys, EnvKeysFile)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeysFile, err)
		}
		var entries []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			id, key, ok := strings.Cut(strings.Join(strings.Fields(line), " "), " ")
			if !ok {
				return nil, fmt.Errorf("%s: a line is not \"ID BASE64\"", EnvKeysFile)
			}
			entries = append(entries, id+":"+key)
		}
		return Parse(strings.Join(entries, ","))
	case spec != "":
		return Parse(spec)
	}
	return nil, nil
}

// Parse builds a codec from "ID:BASE64,ID:BASE64", the first key current.
// Errors never include key material.
func Parse(spec string) (*Codec, error) {
	c := &Codec{keys: map[string]cipher.AEAD{}}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("payload keys: each entry is ID:BASE64, the ID of letters, digits, '.', '_' or '-' (at most 64)")
		}
		if _, dup := c.keys[id]; dup {
			return nil, fmt.Errorf("payload keys: key ID %q appears twice", id)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("payload keys: key %q is not 32 bytes in base64 (make one with: head -c 32 /dev/urandom | base64)", id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("payload keys: key %q: %v", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("payload keys: key %q: %v", id, err)
		}
		c.keys[id] = aead
		c.ids = append(c.ids, id)
	}
	if len(c.ids) == 0 {
		return nil, fmt.Errorf("payload keys: no key given")
	}
	c.current = c.ids[0]
	return c, nil
}

// CurrentKeyID is the ID of the key new payloads are sealed with.
func (c *Codec) CurrentKeyID() string { return c.current }

// KeyIDs are every key the ring opens, the current one first.
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.ids...) }

// DataConverter is base (the SDK's default when nil) sealing every payload.
func (c *Codec) DataConverter(base converter.DataConverter) converter.DataConverter {
	if base == nil {
		base = converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(base, c)
}

// Encode seals each payload whole (its metadata too: the encoding names the
// type) under the current key. The key ID is the sealed data's associated
// data, so a payload cannot be passed off as sealed by another key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("payload encryption: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("payload encryption: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode opens sealed payloads with the key they name and passes the others
// through unchanged: histories written before encryption was turned on
// still replay. A sealed payload whose key the ring lacks, or whose bytes
// were altered, is an error, never a silent pass.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("payload decryption: the key ring lacks key %q (keep retired keys in the ring while histories sealed with them exist)", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, fmt.Errorf("payload decryption: a payload sealed with key %q is truncated", id)
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("payload decryption: a payload sealed with key %q does not open (altered, or another key of that name)", id)
		}
		var opened commonpb.Payload
		if err := proto.Unmarshal(plain, &opened); err != nil {
			return nil, fmt.Errorf("payload decryption: %w", err)
		}
		out[i] = &opened
	}
	return out, nil
}
