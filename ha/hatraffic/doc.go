// Package hatraffic is the traffic of the HA failover tests and of
// bench/ha, without the testing package: TCP and UDP echo servers in a
// namespace, a long byte-checked TCP stream that records its longest
// stall, idle connections that echo a line each, and a tcpdump reset
// counter. ha/hatest wraps it for tests (failing the test on an error);
// bench/ha and the QEMU pair test call it directly.
package hatraffic
