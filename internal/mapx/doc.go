// Package mapx holds the map idioms the subsystems would otherwise write
// again: a map of pointers whose entries are made on first use.
package mapx
