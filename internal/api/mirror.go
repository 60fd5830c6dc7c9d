package api

import "time"

// MirrorSession is one client's hold on a port (GET /v1/mirror/sessions).
// A connected client that holds no port is listed with an empty Port.
type MirrorSession struct {
	ID       uint64    `json:"id"`
	Client   string    `json:"client"`   // remote address
	Identity string    `json:"identity"` // the credential it authenticated with
	Port     string    `json:"port"`
	Mode     string    `json:"mode"` // exclusive or monitor
	Since    time.Time `json:"since"`
	// Counters of this session's channel: to the client (frames the port
	// received, and for monitors sent) and from it (frames sent on the port).
	FramesToClient    uint64  `json:"frames_to_client"`
	BytesToClient     uint64  `json:"bytes_to_client"`
	FramesFromClient  uint64  `json:"frames_from_client"`
	BytesFromClient   uint64  `json:"bytes_from_client"`
	DroppedToClient   uint64  `json:"dropped_to_client"`
	DroppedFromClient uint64  `json:"dropped_from_client"`
	RTTMicros         float64 `json:"rtt_us"` // last tunnel round trip, 0 before the first
}

// MirrorPort is one port as the mirror service sees it (GET /v1/mirror/ports).
type MirrorPort struct {
	Name       string `json:"name"`
	Registered bool   `json:"registered"`
	Link       string `json:"link"` // up, down or missing
	SpeedMbps  uint32 `json:"speed_mbps"`
	Duplex     string `json:"duplex"`
	MTU        int    `json:"mtu"`
	MAC        string `json:"mac"`
	Holder     string `json:"holder,omitempty"` // the client holding it for transmit
	Monitors   int    `json:"monitors"`
}
