package api

// Taps is the body of GET /v1/taps: the tap socket and the applications
// connected to it (NetTap rings, docs/TAP-ABI.md), then the daemon's own
// in-process applications on the same rings.
type Taps struct {
	Socket string   `json:"socket"`
	Quota  int      `json:"quota"` // frames one application may hold
	Apps   []TapApp `json:"apps"`
	// Totals over applications that are gone: disconnected for breaking
	// the rules (bad index, double return, impossible ring index), and
	// frame references given back to the pool when an application ended.
	Violations uint64 `json:"violations"`
	Reclaimed  uint64 `json:"reclaimed"`
	Closed     uint64 `json:"closed"`
}

// TapApp is one connected application.
type TapApp struct {
	ID      uint32 `json:"id"`
	PID     int    `json:"pid"`
	UID     int    `json:"uid"`
	Command string `json:"command"` // /proc/<pid>/comm
	Name    string `json:"name"`    // what it said in hello
	// InProcess marks an application inside the daemon (a subsystem's
	// in-process attachment, such as a mirror client's exclusive channel):
	// its ID is its own numbering, its PID the daemon's.
	InProcess bool  `json:"in_process,omitempty"`
	Taps      []Tap `json:"taps"`
	// Held is the frames in the application's hands now (detoured or
	// allocated, not yet reverted or deallocated).
	Held        int64  `json:"held"`
	Detoured    uint64 `json:"detoured"`
	Reverted    uint64 `json:"reverted"`
	Allocated   uint64 `json:"allocated"`
	Deallocated uint64 `json:"deallocated"`
	// Dropped counts frames its taps did not get because it held its
	// quota or its queue was full: they went on as if reverted.
	Dropped uint64 `json:"dropped"`
}

// Tap is one tap of an application.
type Tap struct {
	Handle   uint32 `json:"handle"`
	Port     string `json:"port"`
	Kind     string `json:"kind"` // input, output, bypass
	Order    int    `json:"order"`
	Detoured uint64 `json:"detoured"`
	Dropped  uint64 `json:"dropped"`
}
