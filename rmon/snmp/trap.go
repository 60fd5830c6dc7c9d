package snmp

import (
	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

var (
	sysUpTimeOID   = mib.MustOID("1.3.6.1.2.1.1.3.0")
	snmpTrapOIDOID = mib.MustOID("1.3.6.1.6.3.1.1.4.1.0")
)

// EncodeV2Trap builds an SNMPv2c notification (RFC 3416 SNMPv2-Trap-PDU):
// sysUpTime.0 and snmpTrapOID.0 first, then vbs.
func EncodeV2Trap(community string, requestID int32, uptime uint64, trapOID mib.OID, vbs []VarBind) []byte {
	all := append([]VarBind{
		{sysUpTimeOID, mib.TimeTicks(uptime)},
		{snmpTrapOIDOID, mib.ObjectID(trapOID)},
	}, vbs...)
	return encodeCommunity(V2c, []byte(community), &PDU{Type: gosnmp.SNMPv2Trap, RequestID: requestID, VarBinds: all})
}
