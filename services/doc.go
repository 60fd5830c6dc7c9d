// Package services is wirebox's supervisor. Every subsystem runs as a
// Service: started in dependency order, stopped in reverse, probed for
// health, restarted with capped, jittered exponential backoff when it fails
// or panics, and marked failed (with its last error) when it keeps failing.
// Each service has a bounded ring of its slog records for the API and
// console.
package services
