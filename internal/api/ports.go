package api

// Ports is the body of GET /v1/ports: the capture core's pool and ports.
type Ports struct {
	Pool      PoolStatus       `json:"pool"`
	Ports     []PortStatus     `json:"ports"`
	Consumers []ConsumerStatus `json:"consumers"`
}

// PoolStatus describes the one buffer pool.
type PoolStatus struct {
	Frames    int `json:"frames"`
	FrameSize int `json:"frame_size"`
	Free      int `json:"free"`
	// Pages is the memory behind it: huge pages (hugetlbfs, or transparent
	// ones advised) or 4 KiB pages, as tap.Pool.Pages says.
	Pages string `json:"pages,omitempty"`
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
	TimestampSource string `json:"timestamp_source"`
	Link            string `json:"link"` // up or down
	// The interface's facts (netlink, ethtool), refreshed on every link
	// change: index (0 while absent), MAC, MTU, speed in Mb/s (0 when the
	// driver does not say), duplex (full, half, unknown), netlink's
	// operational state ("absent" while the interface does not exist), and
	// when the core last saw a change.
	IfIndex    int    `json:"ifindex"`
	MAC        string `json:"mac"`
	MTU        int    `json:"mtu"`
	SpeedMbps  int    `json:"speed_mbps"`
	Duplex     string `json:"duplex"`
	OperState  string `json:"oper_state"`
	LastChange string `json:"last_change,omitempty"` // RFC 3339
	// Attached reports whether the port's engine runs; it stops while the
	// interface is absent and starts again when it returns. EngineStarts
	// counts its starts; Missed counts frames the interface itself counted
	// while no engine ran.
	Attached     bool   `json:"attached"`
	EngineStarts uint64 `json:"engine_starts"`
	Missed       uint64 `json:"missed"`
	// TxKicks counts the system calls that handed sent frames to the
	// kernel (batched: far fewer than tx_packets when sending in bulk).
	TxKicks     uint64             `json:"tx_kicks"`
	Error       string             `json:"error,omitempty"`
	Subscribers []SubscriberStatus `json:"subscribers"`
}

// SubscriberStatus is one subscription on a port.
type SubscriberStatus struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`           // read-only or owner
	Hook      string `json:"hook,omitempty"` // owners: ingress or egress
	Exclusive bool   `json:"exclusive,omitempty"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
}

// ConsumerStatus is one user of the core (a service, a session, a tap
// application): the frame references it holds now, and how many were
// given back for it when it closed holding them.
type ConsumerStatus struct {
	Name      string `json:"name"`
	Owner     uint32 `json:"owner"`
	Held      int    `json:"held"`
	Reclaimed uint64 `json:"reclaimed"`
}
