// Package hatest holds the HA tests' fixtures (Linux): the namespaces of
// the pair's topology (clients, two switches, two appliances with a peer
// link and a witness link, servers), and test-failing wrappers of
// ha/hatraffic (echo servers, a long byte-checked TCP stream with idle
// connections beside it, a reset counter).
package hatest
