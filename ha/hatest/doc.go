// Package hatest holds the HA tests' fixtures (Linux): the namespaces of
// the pair's topology (clients, two switches, two appliances with a peer
// link and a witness link, servers), echo servers, and a long
// byte-checked TCP stream with idle connections beside it.
package hatest
