// Package kmod reads a kernel's module tree the way depmod does (modinfo
// from the .ko files, symbol-level dependency order, depmod's topological
// sort) to pick the modules an image needs and write their modules.dep
// byte for byte as depmod would, and parses modules.dep into a load order
// at boot. It uses only the standard library so the guest binary stays
// small.
package kmod
