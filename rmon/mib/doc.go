// Package mib is the agent's MIB tree: objects keyed by numeric OIDs
// ([]uint32), registered as subtrees whose handlers answer exact (Get) and
// successor (Next) lookups, so a GETNEXT or GETBULK costs a binary search
// over the registrations plus one search inside the handler, never a scan
// of every instance. SETs run in a transaction (Txn): every varbind is
// staged and checked first, then all are committed, or none.
package mib
