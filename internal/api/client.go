package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Client talks to a daemon's control API.
type Client struct {
	hc     *http.Client
	base   string // scheme://host, no trailing slash
	token  string
	where  string      // for error messages
	socket string      // the local socket, or "" for a remote client
	header http.Header // added to every request
}

// NewUnixClient returns a client for the local socket.
func NewUnixClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 4,
	}
	return &Client{hc: &http.Client{Transport: tr}, base: "http://wirebox", where: socket, socket: socket}
}

// Local reports whether the client talks to the local socket (where files
// can be handed over as descriptors: PostFile).
func (c *Client) Local() bool { return c.socket != "" }

// ClientTLS configures how NewRemoteClient verifies the daemon.
type ClientTLS struct {
	// CAFile is a PEM bundle to verify the daemon's certificate with (the
	// appliance's own CA, written by `wirebox image`); empty uses system roots.
	CAFile string
	// ServerName overrides the name checked in the certificate.
	ServerName string
}

// NewRemoteClient returns a client for a daemon's TLS API at base
// (https://host:port) authenticating with token.
func NewRemoteClient(base, token string, t ClientTLS) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("remote API address %q: want https://host:port", base)
	}
	if token == "" {
		return nil, errors.New("the remote API needs a token")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		if tc.RootCAs, err = LoadCertPool(t.CAFile); err != nil {
			return nil, err
		}
	}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConns: 4}
	return &Client{hc: &http.Client{Transport: tr}, base: strings.TrimRight(u.String(), "/"), token: token, where: u.Host}, nil
}

// LoadCertPool reads a PEM bundle of CA certificates to verify a server
// with: a remote daemon's, a mirror server's.
func LoadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificates", file)
	}
	return pool, nil
}

// ReadToken is a bearer token given on the command line: the token itself,
// or @FILE to read it from FILE (surrounding white space dropped).
func ReadToken(arg string) (string, error) {
	file, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return arg, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Where names the daemon the client talks to.
func (c *Client) Where() string { return c.where }

// HTTPError is a non-2xx answer.
type HTTPError struct {
	Code int
	Msg  string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Code) }

// IsNotFound reports whether err is a 404 from the API.
func IsNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Code == http.StatusNotFound
}

// Do sends a request and returns the response for 2xx answers; the caller closes the body.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		err = unwrapURL(err)
		if errors.Is(err, os.ErrPermission) && c.token == "" {
			return nil, fmt.Errorf("cannot reach the wirebox daemon at %s: %w (the socket is for root and its group: ask for membership of the group api.socket_group names, or use sudo)", c.where, err)
		}
		return nil, fmt.Errorf("cannot reach the wirebox daemon at %s: %w", c.where, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, &HTTPError{Code: resp.StatusCode, Msg: e.Error}
		}
		return nil, &HTTPError{Code: resp.StatusCode, Msg: strings.TrimSpace(string(b))}
	}
	return resp, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Get decodes the JSON answer to GET path into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON (nil for no body) and decodes the answer into out (nil to discard).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.call(ctx, http.MethodPost, path, in, out)
}

// Delete sends DELETE path and decodes the answer into out (nil to discard).
func (c *Client) Delete(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodDelete, path, nil, out)
}

// call sends in as JSON (nil: no body) and decodes the answer into out
// (nil: discarded).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.Do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.Get(ctx, PathStatus, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Restart asks the daemon to restart a service.
func (c *Client) Restart(ctx context.Context, service string) error {
	return c.Post(ctx, ServiceRestartPath(service), nil, nil)
}

// Logs returns a service's log ring from seq since on.
func (c *Client) Logs(ctx context.Context, service string, since uint64) (*Logs, error) {
	var l Logs
	if err := c.Get(ctx, fmt.Sprintf("%s?since=%d", ServiceLogsPath(service), since), &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// FollowLogs streams a service's log records from seq since on, calling fn
// for each, until ctx ends or fn returns an error.
func (c *Client) FollowLogs(ctx context.Context, service string, since uint64, fn func(LogEntry) error) error {
	resp, err := c.Do(ctx, http.MethodGet, fmt.Sprintf("%s?follow=1&since=%d", ServiceLogsPath(service), since), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("decoding log record: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("log stream: %w", err)
	}
	return errors.New("the daemon closed the log stream")
}

// Text fetches a non-JSON endpoint (such as /metrics or /v1/config).
func (c *Client) Text(ctx context.Context, path string) (string, error) {
	resp, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// WaitReady polls until the API answers or ctx ends.
func (c *Client) WaitReady(ctx context.Context) (*Status, error) {
	for {
		s, err := c.Status(ctx)
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the daemon: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
