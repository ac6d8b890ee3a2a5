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
	for _, kind := range Kinds {
		r, err := Render(kind, goldenData(kind))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, kind+".html"), []byte(r.HTML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
