// Package evidence checks and stores the files people attach to a lease:
// photos, receipts, invoices, inspection reports (images and PDF). A file
// is read whole (up to MaxBytes), its type found from its content (never
// from its name), hashed with SHA-256, and stored once under its hash
// through gocloud.dev/blob: a local directory by default, S3, GCS or Azure
// Blob Storage by URL in production (DEPOSITS_BLOB_URL: s3://bucket?region=...,
// gs://bucket, azblob://container). A refused file is never written. What a
// file is evidence of is a row in PostgreSQL (migration 014); files never
// enter a workflow's history.
package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// The drivers DEPOSITS_BLOB_URL may name.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// MaxBytes is the largest file accepted: 10 MiB, a phone's photo or a
// scanned report.
const MaxBytes = 10 << 20

// Types are the content types accepted, as sniffed from a file's first bytes.
var Types = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}

// Refusals of a file; nothing is stored for either.
var (
	ErrTooLarge = fmt.Errorf("the file is larger than %d MiB", MaxBytes>>20)
	ErrType     = errors.New("the file is not an image (JPEG, PNG, GIF, WebP) or a PDF")
	ErrEmpty    = errors.New("the file is empty")
)

// File is a checked file, ready to store.
type File struct {
	Name   string // a safe display name, from the name it was sent with
	Type   string // sniffed from the content
	Size   int64
	SHA256 string // hex
	Data   []byte
}

// Check reads a file whole, refusing one larger than max bytes or of a
// type other than Types, and hashes it.
func Check(name string, r io.Reader, max int64) (File, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return File{}, err
	}
	switch {
	case int64(len(data)) > max:
		return File{}, ErrTooLarge
	case len(data) == 0:
		return File{}, ErrEmpty
	}
	typ := Sniff(data)
	if typ == "" {
		return File{}, ErrType
	}
	sum := sha256.Sum256(data)
	return File{Name: SafeName(name, typ), Type: typ, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Data: data}, nil
}

// Sniff is a file's type from its content (the WHATWG sniffing rules of
// net/http), or "" when it is not one of Types.
func Sniff(data []byte) string {
	typ, _, _ := strings.Cut(http.DetectContentType(data), ";")
	for _, t := range Types {
		if t == typ {
			return t
		}
	}
	return ""
}

// SafeName keeps a file name's base, printable, at most 100 characters,
// with the extension of its sniffed type.
func SafeName(name, typ string) string {
	name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) && r != '"' && r != '/' {
			return r
		}
		return '_'
	}, name)
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "application/pdf": ".pdf"}[typ]
	base := strings.TrimSuffix(name, filepath.Ext(name))
	if base == "" || base == "." || base == "_" {
		base = "file"
	}
	if len(base) > 96 {
		base = base[:96]
	}
	if strings.EqualFold(filepath.Ext(name), ext) || (ext == ".jpg" && strings.EqualFold(filepath.Ext(name), ".jpeg")) {
		return base + filepath.Ext(name)
	}
	return base + ext
}

// Store keeps files by their hash in a bucket.
type Store struct {
	bucket *blob.Bucket
}

// DefaultURL is a local directory's bucket URL (fileblob), made if missing.
func DefaultURL(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return "file://" + filepath.ToSlash(abs) + "?create_dir=1&no_tmp_dir=1", nil
}

// URLFromEnv is DEPOSITS_BLOB_URL, or a local directory under dataDir.
func URLFromEnv(dataDir string) (string, error) {
	if u := os.Getenv("DEPOSITS_BLOB_URL"); u != "" {
		return u, nil
	}
	return DefaultURL(filepath.Join(dataDir, "blobs"))
}

// Open opens the bucket at a URL.
func Open(ctx context.Context, url string) (*Store, error) {
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("opening the evidence store %s: %w", redact(url), err)
	}
	return &Store{bucket: b}, nil
}

// redact drops a URL's query (it may carry credentials) from messages.
func redact(url string) string {
	u, _, _ := strings.Cut(url, "?")
	return u
}

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

func key(sha string) string { return "sha256/" + sha[:2] + "/" + sha }

// Put stores a checked file under its hash; one already there is kept.
func (s *Store) Put(ctx context.Context, f File) error {
	k := key(f.SHA256)
	if ok, err := s.bucket.Exists(ctx, k); err != nil {
		return err
	} else if ok {
		return nil
	}
	return s.bucket.Upload(ctx, k, bytes.NewReader(f.Data), &blob.WriterOptions{ContentType: f.Type})
}

// Get reads a stored file by its hash.
func (s *Store) Get(ctx context.Context, sha string) ([]byte, error) {
	if len(sha) != 64 {
		return nil, errors.New("not a SHA-256")
	}
	b, err := s.bucket.ReadAll(ctx, key(sha))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("file %s is not in the evidence store", sha[:12])
	}
	return b, err
}

// Count is how many files the store holds (for tests: a refused upload
// stores nothing).
func (s *Store) Count(ctx context.Context) (int, error) {
	n := 0
	it := s.bucket.List(nil)
	for {
		_, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
