//go:build !linux

package redisserver

// portOwner reports who listens on TCP port: it cannot be told here.
func portOwner(pid, port int) portOwnership { return portOwnerUnknown }
