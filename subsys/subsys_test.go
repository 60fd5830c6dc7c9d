package subsys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
)

type answer struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
}

// serve answers every request with what it was, on a unix socket as the
// daemon's API.
func serve(t *testing.T) ClientFunc {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		api.WriteJSON(w, http.StatusOK, answer{Method: r.Method, Path: r.URL.Path, Body: string(b)})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return func() (*api.Client, error) { return api.NewUnixClient(sock), nil }
}

func run(t *testing.T, c *cobra.Command, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetArgs(args)
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func text(w io.Writer, a answer) error {
	_, err := fmt.Fprintf(w, "%s %s %q\n", a.Method, a.Path, a.Body)
	return err
}

// TestGetAndPostCmd: the one-request commands send what they say and
// print the answer as text, or as the API's JSON with --json.
func TestGetAndPostCmd(t *testing.T) {
	client := serve(t)
	get := func() *cobra.Command { return GetCmd(&cobra.Command{Use: "status"}, client, "/v1/x", text) }
	if out := run(t, get()); out != "GET /v1/x \"\"\n" {
		t.Errorf("get: %q", out)
	}
	var a answer
	if out := run(t, get(), "--json"); json.Unmarshal([]byte(out), &a) != nil || a.Method != "GET" || a.Path != "/v1/x" {
		t.Errorf("get --json: %q", out)
	}
	post := PostCmd(&cobra.Command{Use: "stop ID", Args: cobra.ExactArgs(1)}, client,
		func(args []string) string { return "/v1/things/" + args[0] + "/stop" }, text)
	if out := run(t, post, "7"); out != "POST /v1/things/7/stop \"{}\\n\"\n" && out != "POST /v1/things/7/stop \"{}\"\n" {
		t.Errorf("post: %q", out)
	}
}

type conf struct{ N int }

func (c *conf) Validate() error {
	if c.N < 0 {
		return errors.New("thing: n must not be negative")
	}
	return nil
}

// TestValidate: a section's own Validate errors lose the section's name
// (the config error adds it back once).
func TestValidate(t *testing.T) {
	v := Validate[conf]("thing")
	if err := v(&conf{N: 1}); err != nil {
		t.Fatal(err)
	}
	err := v(&conf{N: -1})
	if err == nil || strings.Contains(err.Error(), "thing: thing") || !strings.Contains(err.Error(), "n must not be negative") {
		t.Fatalf("Validate: %v", err)
	}
}
