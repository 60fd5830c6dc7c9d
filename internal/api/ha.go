package api

// HAStatus is GET /v1/ha: one node of the HA pair (or the forwarder
// alone) as `wirebox ha status` and the console's HA screen show it.
type HAStatus struct {
	Role         string       `json:"role"`      // active, standby or init
	PeerRole     string       `json:"peer_role"` // as the peer's last heartbeat said, or none
	Mode         string       `json:"mode,omitempty"`
	Peer         string       `json:"peer,omitempty"`
	PeerAlive    bool         `json:"peer_alive"`
	InSync       bool         `json:"in_sync"` // standby: holds the active's state; active: its standby does
	AddressOwner bool         `json:"address_owner"`
	LinkRTTNS    int64        `json:"link_rtt_ns"`
	Priority     uint8        `json:"priority,omitempty"`
	VIP          string       `json:"vip"`
	Connections  int          `json:"connections"`
	LastFailover *HAFailover  `json:"last_failover,omitempty"`
	Counters     HACounters   `json:"counters"`
	Link         HALinkCounts `json:"link"`
	Witness      HALinkCounts `json:"witness"`
}

// HAFailover is the last change of active node seen by this node.
type HAFailover struct {
	At         string `json:"at"` // RFC 3339
	Reason     string `json:"reason"`
	DurationNS int64  `json:"duration_ns"`
}

// HACounters count the forwarder's and the pair's work.
type HACounters struct {
	ConnsCreated    uint64 `json:"conns_created"`
	ConnsExpired    uint64 `json:"conns_expired"`
	Forwarded       uint64 `json:"forwarded"`
	Dropped         uint64 `json:"dropped"`
	Transmitted     uint64 `json:"transmitted"`
	NoNeighbour     uint64 `json:"no_neighbour"`
	MirrorSent      uint64 `json:"mirror_sent"`
	MirrorReceived  uint64 `json:"mirror_received"`
	ForwardedByPeer uint64 `json:"forwarded_by_peer"`
	Syncs           uint64 `json:"syncs"`
	SyncEntriesSent uint64 `json:"sync_entries_sent"`
	SyncEntriesRecv uint64 `json:"sync_entries_received"`
	Splits          uint64 `json:"splits"`
	GratuitousARP   uint64 `json:"gratuitous_arp"`
}

// HALinkCounts count one authenticated link's messages.
type HALinkCounts struct {
	Sent       uint64 `json:"sent"`
	SendErrors uint64 `json:"send_errors"`
	Received   uint64 `json:"received"`
	Forged     uint64 `json:"forged"`
	Replayed   uint64 `json:"replayed"`
	Malformed  uint64 `json:"malformed"`
	Stranger   uint64 `json:"stranger"`
}
