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
	PathRMON     = "/v1/rmon"
	PathTaps     = "/v1/taps"
	PathMirror   = "/v1/mirror"
	// PathMirrorSessions lists the mirror's clients and what they hold.
	PathMirrorSessions = PathMirror + "/sessions"
	// PathMirrorPorts lists the ports as the mirror sees them.
	PathMirrorPorts = PathMirror + "/ports"
	pathServices    = "/v1/services/"
	PathHA          = "/v1/ha"
	PathHAFailover  = "/v1/ha/failover"
	// PathAppliance is the box itself: management NIC, config source, daemon restarts, boot times.
	PathAppliance = "/v1/appliance"
)

// Route patterns (http.ServeMux syntax) of the same paths, for the server
// and the services that add routes.
const (
	RouteStatus           = "GET " + PathStatus
	RouteConfig           = "GET " + PathConfig
	RouteMetrics          = "GET " + PathMetrics
	RouteServiceLogs      = "GET " + pathServices + "{name}/logs"
	RouteServiceRestart   = "POST " + pathServices + "{name}/restart"
	RoutePorts            = "GET " + PathPorts
	RouteCaptureStart     = "POST " + PathCaptures
	RouteCaptureList      = "GET " + PathCaptures
	RouteCapture          = "GET " + PathCaptures + "/{id}"
	RouteCaptureStop      = "POST " + PathCaptures + "/{id}/stop"
	RouteReplay           = "POST " + PathReplay
	RouteRMON             = "GET " + PathRMON
	RouteTaps             = "GET " + PathTaps
	RouteMirrorSessions   = "GET " + PathMirrorSessions
	RouteMirrorPorts      = "GET " + PathMirrorPorts
	RouteMirrorRegister   = "POST " + PathMirrorPorts + "/{name}/register"
	RouteMirrorUnregister = "POST " + PathMirrorPorts + "/{name}/unregister"
	RouteHA               = "GET " + PathHA
	RouteHAFailover       = "POST " + PathHAFailover
	RouteAppliance        = "GET " + PathAppliance
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

// MirrorRegisterPath is the path that registers a port for mirroring
// (RouteMirrorRegister).
func MirrorRegisterPath(port string) string {
	return PathMirrorPorts + "/" + url.PathEscape(port) + "/register"
}

// MirrorUnregisterPath is the path that withdraws a port from mirroring
// (RouteMirrorUnregister).
func MirrorUnregisterPath(port string) string {
	return PathMirrorPorts + "/" + url.PathEscape(port) + "/unregister"
}
