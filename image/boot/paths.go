package boot

// Where things live inside the image; image.Build puts them there.
const (
	GuestConfig     = "/etc/wirebox/config.yaml" // embedded defaults
	GuestTLSCert    = "/etc/wirebox/tls/server.pem"
	GuestTLSKey     = "/etc/wirebox/tls/server-key.pem"
	GuestToken      = "/etc/wirebox/token"
	GuestBinary     = "/bin/wirebox"
	GuestAPIPort    = 8443 // the TCP control API listener in the guest
	GuestSNMPPort   = 161
	GuestMirrorPort = 7471
)

// DataLabel is the file system label of the persistent data partition.
const DataLabel = "wirebox-data"

// DataMount is where the data partition is mounted.
const DataMount = "/data"

// Environment the boot process gives the daemon it keeps running.
const (
	EnvDaemonRestarts = "WIREBOX_DAEMON_RESTARTS"  // how often it was restarted
	EnvDaemonLastExit = "WIREBOX_DAEMON_LAST_EXIT" // how the previous one ended
	EnvBootFile       = "WIREBOX_BOOT_FILE"        // the boot phases (JSON)
)

// BootFile is where the boot process writes its phases for the daemon.
const BootFile = "/run/wirebox/boot.json"

// StateDir is the daemon's store of applied configurations on the data
// partition.
const StateDir = DataMount + "/wirebox"
