// Package nsrun runs a function inside a network namespace given by its
// path, on a thread of its own that dies afterwards, so nothing else ever
// runs there by accident. The core and the services that open sockets in a
// configured namespace use it; it has no dependency on the testing package.
package nsrun
