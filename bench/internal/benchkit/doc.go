// Package benchkit holds what the bench mains share: running set-up
// commands, named network namespaces with a common random suffix, veth
// pairs, and reading a process's CPU time from /proc.
package benchkit
