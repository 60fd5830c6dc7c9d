// Package api is wirebox's control API: the HTTP/JSON server the daemon
// serves on a local unix socket (and, when enabled, on TCP with TLS and a
// bearer token), its wire types, and the client used by the CLI and console.
//
// Endpoints:
//
//	GET  /v1/status                     Status
//	GET  /v1/services/{name}/logs       Logs (?follow=1 streams NDJSON LogEntry lines; ?since=SEQ)
//	POST /v1/services/{name}/restart    202 Accepted
//	GET  /v1/config                     the effective configuration (YAML)
//	GET  /metrics                       Prometheus text format
//
// Subsystems add their own routes under /v1/ through Routes.
package api
