// Package pcapng writes and reads the capture files of wirebox.
//
// The writer produces pcapng through gopacket's pcapgo: nanosecond
// timestamps, one interface description block per port carrying the port's
// name and its timestamp source, and the direction flag on every enhanced
// packet block. Files rotate by size and by age, the oldest beyond a keep
// count are removed, and output may be compressed with zstd or gzip.
//
// A file on disk is always readable: bytes reach the file only in whole
// chunks that end on a pcapng block boundary, each written with a single
// write(2). A compressed chunk is an independent zstd frame or gzip member,
// and concatenated frames/members are themselves a valid stream. If the
// process is killed, every closed file is complete and the current one ends
// after its last complete chunk; only the unwritten chunk in memory is lost
// (bounded by ChunkSize and FlushInterval).
//
// The readers (Open, NewReader) accept pcap with microsecond or nanosecond
// timestamps and pcapng, plain, gzip or zstd compressed, detected by magic.
package pcapng
