//go:build !unix

package redisserver

import "context"

// lockFile does nothing without flock: concurrent builds from several
// processes then race, and the last one's image keeps the tag (the
// in-process lock still serialises a process's own builds).
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	return func() {}, nil
}
