// Package snmp is the agent's protocol engine: its own BER reader and
// writer for SNMP messages (v1, v2c, v3), the command responder
// (GET, GETNEXT, GETBULK and all-or-nothing SET per RFC 3416, SNMPv1 per
// RFC 3584), and the User-based Security Model (RFC 3414) with SHA-2
// authentication (RFC 7860) and AES privacy (RFC 3826). Keys are localized
// with gosnmp's USM functions; every authenticated request's HMAC is
// verified here, before anything else is done with it.
package snmp
