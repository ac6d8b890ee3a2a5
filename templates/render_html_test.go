package templates

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteHTML writes every email's HTML part to $EMAIL_HTML_DIR, so that a
// person (or a headless browser) can look at them: make email-screenshots.
func TestWriteHTML(t *testing.T) {
	dir := os.Getenv("EMAIL_HTML_DIR")
	if dir == "" {
		t.Skip("set EMAIL_HTML_DIR to write the rendered emails")
	}
	for name, c := range goldenCases() {
		r, err := Render(c.kind, c.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".html"), []byte(r.HTML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
