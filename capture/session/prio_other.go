//go:build !linux

package session

func lowerPriority() {}
