package api

import "time"

// CaptureStart is the body of POST /v1/captures.
type CaptureStart struct {
	Ports      []string `json:"ports"`
	Filter     string   `json:"filter,omitempty"`
	Match      string   `json:"match,omitempty"`
	Direction  string   `json:"direction,omitempty"` // rx, tx, both (default)
	SnapLen    int      `json:"snaplen,omitempty"`
	RotateSize int64    `json:"rotate_size,omitempty"` // bytes
	RotateTime string   `json:"rotate_time,omitempty"` // Go duration, e.g. "10m"
	Keep       int      `json:"keep,omitempty"`
	Compress   string   `json:"compress,omitempty"` // zstd, gzip, none
	OutDir     string   `json:"out_dir"`
	Queue      int      `json:"queue,omitempty"`
	// OutFD: the output directory comes as a descriptor passed with the
	// request on the local socket (Client.PostFile), opened by the user;
	// OutDir only names it, capture.root does not apply, and the files
	// belong to the user.
	OutFD bool `json:"out_fd,omitempty"`
}

// CaptureSession is a capture session's state: the body of GET
// /v1/captures/{id}, an element of GET /v1/captures, and the answer to
// start and stop.
type CaptureSession struct {
	ID      string       `json:"id"`
	Config  CaptureStart `json:"config"`
	Started time.Time    `json:"started"`
	Running bool         `json:"running"`
	CaptureCounters
	Error string `json:"error,omitempty"`
}

// CaptureCounters is what a capture session has done so far: frames
// written and lost, and its files. The capture engine's session status
// embeds it too, so the API shows the counters as the engine keeps them.
type CaptureCounters struct {
	// Packets and Bytes written to files (bytes as captured, after snaplen).
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// DroppedQueue: frames the core dropped because this session's queue
	// was full (the disk was too slow). DroppedKernel: the kernel's drops on
	// the session's ports since the session started (port-wide).
	DroppedQueue  uint64 `json:"dropped_queue"`
	DroppedKernel uint64 `json:"dropped_kernel"`
	// Missed: frames the session's ports' interfaces counted while their
	// engines were stopped (interface gone, core service restarting) since
	// the session started; the session itself runs on.
	Missed uint64 `json:"missed"`
	// DroppedWrite: frames lost to write errors (disk full...).
	DroppedWrite uint64 `json:"dropped_write"`
	// Unmatched: frames the filter passed but the regex trigger did not select.
	Unmatched   uint64 `json:"unmatched"`
	Flows       int    `json:"flows,omitempty"`
	CurrentFile string `json:"current_file"`
	Files       uint64 `json:"files"`      // files opened
	FilesKept   int    `json:"files_kept"` // still on disk
}

// Replay is the body of POST /v1/replay.
type Replay struct {
	File string `json:"file"` // path on the appliance, or the name of the passed file
	// FD: the file comes as a descriptor passed with the request on the
	// local socket (Client.PostFile); File is then only its name, and the
	// capture root does not apply: the user's own permission opened it.
	FD    bool    `json:"fd,omitempty"`
	Port  string  `json:"port"`
	Speed float64 `json:"speed,omitempty"` // default 1; from 0.001 to 1e6
	Loop  int     `json:"loop,omitempty"`  // default 1; -1: until the request ends
	To    string  `json:"to,omitempty"`    // wire (default) or host
}

// ReplayReport answers POST /v1/replay once the replay has finished.
type ReplayReport struct {
	Sent        uint64  `json:"sent"`
	Bytes       uint64  `json:"bytes"`
	Padded      uint64  `json:"padded"`
	Late        uint64  `json:"late"`
	WorstLateNS int64   `json:"worst_late_ns"`
	Errors      uint64  `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	DurationNS  int64   `json:"duration_ns"`
	Speed       float64 `json:"speed"`
}
