package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultCookieFile reads the cookie from ~/.grove.cookie when no
// secret is given, so that it shows in no command line, and asks for one
// when that file is missing too.
func TestDefaultCookieFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cfg := Config{Name: "a@h", Listen: "127.0.0.1:0", Admin: DefaultAdmin}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "secret is required") {
		t.Fatalf("no secret anywhere: %v", err)
	}
	if err := os.WriteFile(filepath.Join(home, ".grove.cookie"), []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = Config{Name: "a@h", Listen: "127.0.0.1:0", Admin: DefaultAdmin}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if s, err := cfg.secret(); err != nil || string(s) != "from-the-file" {
		t.Fatalf("secret %q %v", s, err)
	}
	// A secret given otherwise wins over the default file.
	cfg = Config{Name: "a@h", Listen: "127.0.0.1:0", Admin: DefaultAdmin, Cookie: "flag"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if s, _ := cfg.secret(); string(s) != "flag" {
		t.Fatalf("secret %q", s)
	}
}
