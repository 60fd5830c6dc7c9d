module github.com/wirebox/wirebox

go 1.26.0

require (
	github.com/gopacket/gopacket v1.7.7
	github.com/klauspost/compress v1.20.3
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
)
