package redisserver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Servers keep their files in private directories under os.TempDir(),
// named dirPrefix+random. Each holds an owner file with the creating
// process's identity (the labels of owner.go), so that directories left by
// a test binary killed before its cleanup are removed by the next process
// that creates one.
const (
	dirPrefix     = "redisserver-"
	ownerFileName = "owner.json"
)

var reapDirsOnce sync.Once

// makeServerDir creates a private directory for a server and records its
// owner in it. The first call in a process removes orphaned directories.
// The path is absolute, also when $TMPDIR is not: the server runs in the
// directory, and its redis.conf names the directory.
func makeServerDir() (string, error) {
	reapDirsOnce.Do(reapOrphanDirs)
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	dir = abs
	body, err := json.Marshal(ownerLabels("dir"))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ownerFileName), body, 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// reapOrphanDirs removes the server directories whose creator is gone.
// Directories without a readable owner file are left alone.
func reapOrphanDirs() {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), dirPrefix) {
			continue
		}
		dir := filepath.Join(os.TempDir(), e.Name())
		body, err := os.ReadFile(filepath.Join(dir, ownerFileName))
		if err != nil {
			continue
		}
		var labels map[string]string
		if json.Unmarshal(body, &labels) != nil || !ownerGone(labels) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}
