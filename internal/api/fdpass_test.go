//go:build unix

package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestPassedDescriptors: a descriptor passed with a request reaches the
// handler (ReceivedFile) and reads as the client's file; one the handler
// does not take is closed with the connection, so a client cannot make the
// daemon hold descriptors.
func TestPassedDescriptors(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	l, err := api.ListenUnix(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /take", func(w http.ResponseWriter, r *http.Request) {
		f, err := api.ReceivedFile(r, "x")
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, err)
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
		api.WriteJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("POST /ignore", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{})
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.ServeWith(ctx, l, mux, slog.New(slog.DiscardHandler), api.ServeOptions{}) }()
	defer func() { cancel(); <-done }()

	file := filepath.Join(dir, "data")
	if err := os.WriteFile(file, []byte("the user's bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cl := api.NewUnixClient(sock)
	defer cl.Close()
	if err := cl.PostFile(ctx, "/take", f, struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "the user's bytes" {
		t.Fatalf("handler read %q", s)
	}
	// Without the header, nothing is handed out.
	if err := cl.Post(ctx, "/take", struct{}{}, nil); err == nil {
		t.Fatal("a request without a descriptor got one")
	}
	before := openFDs(t)
	for range 20 {
		if err := cl.PostFile(ctx, "/ignore", f, struct{}{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after 20 unclaimed ones, %d before", openFDs(t), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
