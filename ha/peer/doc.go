// Package peer is the HA pair's peer protocol: authenticated UDP messages
// between the two nodes (heartbeats, mirrored frames, state sync, planned
// switch-over, witness probes).
//
// Every message is
//
//	0   magic "WBHA"
//	4   version (1)
//	5   type
//	6   flags (reserved, 0)
//	8   epoch: the sender's incarnation (its start time, ns)
//	16  sequence number, per epoch, from 1
//	24  payload length
//	26  payload
//	..  HMAC-SHA256 over bytes 0 .. 26+length, with the pre-shared key
//
// all integers big-endian. A message with a wrong MAC is dropped and
// counted (Forged); one whose epoch is older than the newest seen from
// the peer, or whose sequence number was already seen or is older than
// the 1024-message window, is dropped and counted (Replayed). A peer
// that restarts starts a new epoch (a larger start time), which resets
// the window.
package peer
