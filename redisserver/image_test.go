package redisserver

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLdd(t *testing.T) {
	t.Parallel()
	glibc := `	linux-vdso.so.1 (0x00007ffc8a5f2000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f05802f3000)
	libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f057fb57000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f057f41e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f05803f6000)
`
	libs, err := parseLdd(glibc)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"/lib/x86_64-linux-gnu/libm.so.6",
		"/lib/x86_64-linux-gnu/libssl.so.3",
		"/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2",
	}, libs)

	musl := `	/lib/ld-musl-x86_64.so.1 (0x7f1c2b3c4000)
	libc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f1c2b3c4000)
`
	libs, err = parseLdd(musl)
	require.NoError(t, err)
	assert.Equal(t, []string{"/lib/ld-musl-x86_64.so.1"}, libs)

	for _, static := range []string{"\tstatically linked\n", "\tnot a dynamic executable\n"} {
		libs, err = parseLdd(static)
		require.NoError(t, err)
		assert.Empty(t, libs)
		assert.True(t, isStatic(static))
	}

	_, err = parseLdd("\tlibfoo.so.1 => not found\n")
	assert.Error(t, err)
}

func TestParseRedisVersion(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "7.0.15", parseRedisVersion("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n"))
	assert.Equal(t, "7.4.0-rc1", parseRedisVersion("Redis server v=7.4.0-rc1 sha=1"))
	assert.Empty(t, parseRedisVersion("redis-server: command not found"))
}

func TestImageContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := writeFile(t, dir, "redis-server", "binary")
	lib := writeFile(t, dir, "libc.so.6", "library")
	ctx, err := imageContext(&binaryImage{files: map[string]string{imageBinaryPath: bin, "/lib/x86_64-linux-gnu/libc.so.6": lib}})
	require.NoError(t, err)

	entries := map[string]string{}
	modes := map[string]int64{}
	tr := tar.NewReader(bytes.NewReader(ctx))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		entries[hdr.Name] = string(body)
		modes[hdr.Name] = hdr.Mode
	}
	assert.Equal(t, imageDockerfile, entries["Dockerfile"])
	assert.Contains(t, imageDockerfile, "FROM scratch")
	assert.Equal(t, "binary", entries["rootfs/usr/bin/redis-server"])
	assert.Equal(t, "library", entries["rootfs/lib/x86_64-linux-gnu/libc.so.6"])
	assert.Contains(t, entries, "rootfs/lib/x86_64-linux-gnu/")
	assert.EqualValues(t, 0o777, modes["rootfs/data/"], "the data directory must be writable by any user")
	assert.Contains(t, entries, "rootfs/etc/redisserver/")
}
