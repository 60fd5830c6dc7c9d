//go:build !linux

package session

func writerThread() {}
