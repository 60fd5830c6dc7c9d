package api

import "net/url"

// Paths of the control API. The server's routes, the client, the CLI and
// the console all name them from here, so a path is written once.
const (
	PathStatus   = "/v1/status"
	PathConfig   = "/v1/config"
	PathMetrics  = "/metrics"
	PathPorts    = "/v1/ports"
	PathCaptures = "/v1/captures"
	PathReplay   = "/v1/replay"
	// PathAppliance is the box itself: management NIC, config source, daemon restarts, boot times.
	PathAppliance = "/v1/appliance"
	pathServices  = "/v1/services/"
)

// Route patterns (http.ServeMux syntax) of the same paths, for the server
// and the services that add routes.
const (
	RouteStatus         = "GET " + PathStatus
	RouteConfig         = "GET " + PathConfig
	RouteMetrics        = "GET " + PathMetrics
	RouteServiceLogs    = "GET " + pathServices + "{name}/logs"
	RouteServiceRestart = "POST " + pathServices + "{name}/restart"
	RoutePorts          = "GET " + PathPorts
	RouteCaptureStart   = "POST " + PathCaptures
	RouteCaptureList    = "GET " + PathCaptures
	RouteCapture        = "GET " + PathCaptures + "/{id}"
	RouteCaptureStop    = "POST " + PathCaptures + "/{id}/stop"
	RouteReplay         = "POST " + PathReplay
	RouteAppliance      = "GET " + PathAppliance
	// RouteConfigApply validates, applies and stores a configuration (YAML body).
	RouteConfigApply = "POST " + PathConfig
)

// ServiceLogsPath is the path of a service's log ring (RouteServiceLogs).
func ServiceLogsPath(service string) string { return pathServices + url.PathEscape(service) + "/logs" }

// ServiceRestartPath is the path that restarts a service (RouteServiceRestart).
func ServiceRestartPath(service string) string {
	return pathServices + url.PathEscape(service) + "/restart"
}

// CapturePath is the path of one capture session (RouteCapture).
func CapturePath(id string) string { return PathCaptures + "/" + url.PathEscape(id) }

// CaptureStopPath is the path that stops a capture session (RouteCaptureStop).
func CaptureStopPath(id string) string { return CapturePath(id) + "/stop" }
