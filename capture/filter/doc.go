// Package filter compiles tcpdump filter expressions (pcap-filter(7)
// syntax) to classic BPF, in pure Go, for Ethernet ports.
//
// The program can be attached to a socket in the kernel (Program.Raw) or
// run in the engine (Program.Match). The supported language, checked
// against tcpdump's own verdicts in the tests, is:
//
//	proto qualifiers: ether ip ip6 arp rarp tcp udp sctp icmp icmp6 igmp ...
//	direction:        src dst "src or dst" "src and dst"
//	types:            host net (a.b.c.d/len, a.b.c, "mask m") port portrange
//	others:           vlan [id]  less N  greater N  broadcast  multicast
//	                  [ether|ip|ip6] proto N   ether proto \ip
//	relations:        proto[expr:size] and len with + - * / % & | ^ << >>
//	                  and = == != < <= > >=, constants such as tcpflags,
//	                  tcp-syn, icmptype, icmp-echo
//	logic:            not ! and && or || ( ), where "and" and "or" have
//	                  equal precedence and associate left to right, and
//	                  a bare value repeats the last qualifiers
//	                  ("port 80 or 443").
//
// Host names are not resolved (no DNS from a filter); port names come from
// a small built-in table. vlan follows libpcap's rule for saved files: each
// vlan keyword shifts the offsets of everything after it by four bytes.
// Errors name the column of the offending token.
//
// Verdicts equal tcpdump's (checked on a table of expressions and on random
// combinations) with one known difference: on a frame shorter than a field
// the expression reads (a runt, or a frame cut by a snaplen before
// filtering), libpcap's optimizer can settle "... or ip" before reaching
// the load that would run past the end, where this compiler, which does not
// reorder tests, rejects the frame. libpcap also refuses expressions its
// optimizer proves can never match ("expression rejects all packets"); we
// compile them, and they match nothing.
package filter
