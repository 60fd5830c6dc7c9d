// Package capturetest has test fixtures for code on the capture core: a
// core on its own pool that must get every frame back by the end of the
// test. (The capture package's own tests cannot import it.)
package capturetest
