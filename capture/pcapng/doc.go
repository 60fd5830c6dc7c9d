// Package pcapng writes and reads the capture files of wirebox.
//
// The writer produces pcapng through gopacket's pcapgo: nanosecond
// timestamps, one interface description block per port carrying the port's
// name and its timestamp source, and the direction flag on every enhanced
// packet block. Files rotate by size and by age, the oldest beyond a keep
// count are removed, and output may be compressed with zstd or gzip.
//
// A file on disk is always readable: bytes reach the file only in whole
// pcapng blocks, each chunk written with a single write(2) or writev(2).
// WritePackets (the capture sessions' path) writes uncompressed frames
// from where they lie, the pool's memory: block headers and trailers are
// encoded into a small buffer and interleaved with the frames' data in
// one writev, and nothing of a batch is held once it returns. A
// compressed chunk is an independent zstd frame or gzip member, and
// concatenated frames/members are themselves a valid stream. If the
// process is killed, every closed file is complete and the current one ends
// after its last complete chunk; only the unwritten chunk in memory is lost
// (bounded by ChunkSize and FlushInterval). One window remains: the kernel
// checks for a fatal signal between the pages of one write, so a SIGKILL
// that lands while a chunk is being copied can cut the file inside it.
// That is repaired afterwards: while a file is written, a locked, empty
// marker ".NAME.writing" sits beside it; RepairDir (the capture service
// runs it on its directory at every start) finds markers whose writer
// died, cuts each file back to its last whole block, zstd frame or gzip
// member, and salvages the whole blocks of a compressed file's cut last
// frame by compressing them again, so nothing that reached the disk whole
// is lost.
//
// tshark 4.0 misreads files of several zstd frames (also those the zstd
// tool writes); our reader and `zstd -d` read them.
//
// The readers (Open, NewReader) accept pcap with microsecond or nanosecond
// timestamps and pcapng, plain, gzip or zstd compressed, detected by magic.
package pcapng
