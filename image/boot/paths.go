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
