// Package taptest is the tap packages' test topology: a core with two
// bypass ports between two peer namespaces (Line), for tests of
// tap/tapcore and tap/tapsvc.
package taptest
