package evidence

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"strings"
	"testing"
)

func pngBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckSniffsTheContentNotTheName(t *testing.T) {
	p := pngBytes(t)
	f, err := Check("../../etc/kitchen.jpeg", bytes.NewReader(p), MaxBytes)
	if err != nil || f.Type != "image/png" || f.Name != "kitchen.png" || len(f.SHA256) != 64 || f.Size != int64(len(p)) {
		t.Fatalf("a PNG named .jpeg: %+v %v", f, err)
	}
	if f, err := Check("report.pdf", strings.NewReader("%PDF-1.7\n..."), MaxBytes); err != nil || f.Type != "application/pdf" {
		t.Fatalf("a PDF: %+v %v", f, err)
	}
	for name, body := range map[string]string{
		"photo.jpg":   "<html><script>alert(1)</script></html>",
		"invoice.pdf": "MZ\x90\x00 an executable",
		"notes.png":   "just text",
	} {
		if _, err := Check(name, strings.NewReader(body), MaxBytes); err != ErrType {
			t.Errorf("%s holding %q: want ErrType, got %v", name, body[:8], err)
		}
	}
	if _, err := Check("big.png", bytes.NewReader(append(p, make([]byte, 100)...)), int64(len(p))); err != ErrTooLarge {
		t.Errorf("too large: %v", err)
	}
	if _, err := Check("empty.png", bytes.NewReader(nil), MaxBytes); err != ErrEmpty {
		t.Errorf("empty: %v", err)
	}
}

func TestStoreKeepsAFileOnceByItsHash(t *testing.T) {
	ctx := context.Background()
	url, err := DefaultURL(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := Check("a.png", bytes.NewReader(pngBytes(t)), MaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Put(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Fatalf("files stored: %d %v", n, err)
	}
	got, err := s.Get(ctx, f.SHA256)
	if err != nil || !bytes.Equal(got, f.Data) {
		t.Fatalf("read back: %v", err)
	}
}
