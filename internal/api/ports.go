package api

// Ports is the body of GET /v1/ports: the capture core's pool and ports.
type Ports struct {
	Pool  PoolStatus   `json:"pool"`
	Ports []PortStatus `json:"ports"`
}

// PoolStatus describes the one buffer pool.
type PoolStatus struct {
	Frames    int `json:"frames"`
	FrameSize int `json:"frame_size"`
	Free      int `json:"free"`
}

// PortStatus is one port's counters. Counters are totals since the port
// was opened.
type PortStatus struct {
	Name      string `json:"name"`
	Mode      string `json:"mode"` // passive or bypass
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxErrors  uint64 `json:"tx_errors"`
	// RxDroppedKernel counts frames the kernel dropped before the engine
	// saw them (PACKET_STATISTICS, AF_XDP socket statistics).
	RxDroppedKernel uint64 `json:"rx_dropped_kernel"`
	// RxDroppedPool counts frames lost because the pool had no free frame
	// (passive ports; on bypass ports the kernel drops such frames for want
	// of a fill-ring buffer and they count in RxDroppedKernel).
	RxDroppedPool uint64 `json:"rx_dropped_pool"`
	// Unclaimed counts bypass frames no consumer took and no forward port sent.
	Unclaimed uint64 `json:"unclaimed"`
	// TimestampSource is the clock of the latest frame: hardware, kernel,
	// xdp, engine or transmit ("none" before the first frame).
	TimestampSource string             `json:"timestamp_source"`
	Link            string             `json:"link"` // up or down
	Error           string             `json:"error,omitempty"`
	Subscribers     []SubscriberStatus `json:"subscribers"`
}

// SubscriberStatus is one consumer of a port.
type SubscriberStatus struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // read-only or owner
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
}
