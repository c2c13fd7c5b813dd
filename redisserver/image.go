package redisserver

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// The image built from the local binary is FROM scratch: redis-server, the
// shared libraries ldd lists for it (the dynamic loader included), an empty
// writable /data (the working directory) and the directories redisserver
// copies its files into. No shell, no user database, nothing else.
const (
	imageLayoutVersion = "1" // part of the tag's hash: bump when the layout changes
	imageBinaryPath    = "/usr/bin/redis-server"
	containerDataDir   = "/data"
	containerConfDir   = "/etc/redisserver"
	containerSockDir   = "/run/redisserver"
	containerPort      = 6379
	imageLockName      = "justredis-redisserver-image.lock"
)

// imageDockerfile builds the image from the context's rootfs/.
const imageDockerfile = `FROM scratch
COPY rootfs/ /
WORKDIR ` + containerDataDir + `
ENTRYPOINT ["` + imageBinaryPath + `"]
`

// binaryImage describes the image for one local binary.
type binaryImage struct {
	version string            // redis version, "7.0.15"
	files   map[string]string // path in the image → file on the host
	tag     string            // DefaultImageRepository:<version>-<hash>
}

var (
	// binaryImages caches inspectBinary by binary path and file identity.
	binaryImages sync.Map // string → *binaryImage
	// imageMu serialises this process's image checks and builds.
	imageMu sync.Mutex
	// imagesReady holds the tags known to exist; guarded by imageMu.
	imagesReady = map[string]bool{}
)

// containerImage returns the image a container server runs: the one opts
// name, which must be present locally, or the one built from the local
// binary.
func containerImage(ctx context.Context, cli *testcontainers.DockerClient, opts *Options) (string, error) {
	if img := opts.Container.Image; img != "" {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			if isNotFound(err) {
				return "", fmt.Errorf("%w: %s (redisserver never pulls; leave ContainerOptions.Image empty to build one from the local redis-server)", ErrImageNotFound, img)
			}
			return "", fmt.Errorf("redisserver: inspect image %s: %w", img, err)
		}
		return img, nil
	}
	bin, err := findBinary(opts.Binary)
	if err != nil {
		return "", err
	}
	bi, err := inspectBinary(ctx, bin)
	if err != nil {
		return "", err
	}
	if _, err := ensureImage(ctx, cli, bi); err != nil {
		return "", err
	}
	return bi.tag, nil
}

// ensureImage builds bi's image unless its tag exists, and reports whether
// it built it. Builds are serialised in the process by imageMu and across
// processes by a file lock, and the tag is checked again under the lock, so
// parallel tests and parallel test binaries build it once.
func ensureImage(ctx context.Context, cli *testcontainers.DockerClient, bi *binaryImage) (built bool, err error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	if imagesReady[bi.tag] {
		return false, nil
	}
	exists := func() (bool, error) {
		_, err := cli.ImageInspect(ctx, bi.tag)
		if err == nil {
			return true, nil
		}
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("redisserver: inspect image %s: %w", bi.tag, err)
	}
	ok, err := exists()
	if err != nil {
		return false, err
	}
	if !ok {
		unlock, err := lockFile(ctx, filepath.Join(os.TempDir(), imageLockName))
		if err != nil {
			return false, err
		}
		defer unlock()
		if ok, err = exists(); err != nil {
			return false, err
		}
		if !ok {
			if err := buildImage(ctx, cli, bi); err != nil {
				return false, err
			}
			built = true
		}
	}
	imagesReady[bi.tag] = true
	return built, nil
}

// buildImage builds bi's image with the classic builder (no BuildKit
// session, nothing pulled: the base is scratch).
func buildImage(ctx context.Context, cli *testcontainers.DockerClient, bi *binaryImage) error {
	buildCtx, err := imageContext(bi)
	if err != nil {
		return err
	}
	labels := map[string]string{LabelMarker: "image", LabelRedisVersion: bi.version}
	res, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), client.ImageBuildOptions{
		Tags:        []string{bi.tag},
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		Dockerfile:  "Dockerfile",
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrImageBuild, bi.tag, err)
	}
	defer res.Body.Close()
	// The build reports progress and errors as a stream of JSON messages.
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%w: %s: reading the build output: %w", ErrImageBuild, bi.tag, err)
		}
		out.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("%w: %s: %s\n%s", ErrImageBuild, bi.tag, msg.Error, out.String())
		}
	}
	if _, err := cli.ImageInspect(ctx, bi.tag); err != nil {
		return fmt.Errorf("%w: %s not there after the build: %w\n%s", ErrImageBuild, bi.tag, err, out.String())
	}
	return nil
}

// imageContext returns the build context: the Dockerfile and rootfs/.
func imageContext(bi *binaryImage) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(hdr *tar.Header, body []byte) error {
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(imageDockerfile)), Typeflag: tar.TypeReg}, []byte(imageDockerfile)); err != nil {
		return nil, err
	}
	dirs := []struct {
		path string
		mode int64
	}{
		{"rootfs/", 0o755},
		{"rootfs/tmp/", 0o1777},
		{"rootfs" + containerDataDir + "/", 0o777},
		{"rootfs" + containerConfDir + "/", 0o755},
		{"rootfs" + containerSockDir + "/", 0o777},
	}
	for _, d := range dirs {
		if err := add(&tar.Header{Name: d.path, Mode: d.mode, Typeflag: tar.TypeDir}, nil); err != nil {
			return nil, err
		}
	}
	// Parent directories of the files, then the files (symlinks resolved).
	paths := make([]string, 0, len(bi.files))
	for p := range bi.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	made := map[string]bool{}
	for _, p := range paths {
		var parents []string
		for d := filepath.Dir(p); d != "/" && !made[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
			made[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := add(&tar.Header{Name: "rootfs" + parents[i] + "/", Mode: 0o755, Typeflag: tar.TypeDir}, nil); err != nil {
				return nil, err
			}
		}
		body, err := os.ReadFile(bi.files[p])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrImageBuild, err)
		}
		if err := add(&tar.Header{Name: "rootfs" + p, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}, body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// inspectBinary finds bin's version and libraries, and hashes them into the
// image tag. Results are cached per binary (path, size and modification
// time).
func inspectBinary(ctx context.Context, bin string) (*binaryImage, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w: an image can only be built from a Linux redis-server; set ContainerOptions.Image", ErrImageBuild)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImageBuild, err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", bin, fi.Size(), fi.ModTime().UnixNano())
	if v, ok := binaryImages.Load(key); ok {
		return v.(*binaryImage), nil
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s --version: %w", ErrImageBuild, bin, err)
	}
	version := parseRedisVersion(string(out))
	if version == "" {
		return nil, fmt.Errorf("%w: %s --version said %q", ErrImageBuild, bin, strings.TrimSpace(string(out)))
	}
	lddOut, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	libs, perr := parseLdd(string(lddOut))
	if err != nil && perr == nil && len(libs) == 0 && !isStatic(string(lddOut)) {
		perr = fmt.Errorf("ldd %s: %w: %s", bin, err, strings.TrimSpace(string(lddOut)))
	}
	if perr != nil {
		return nil, fmt.Errorf("%w: %w", ErrImageBuild, perr)
	}
	bi := &binaryImage{version: version, files: map[string]string{imageBinaryPath: bin}}
	for _, lib := range libs {
		bi.files[lib] = lib // copied to the path the loader looks it up at
	}
	h := sha256.New()
	io.WriteString(h, "redisserver image layout "+imageLayoutVersion+"\n"+imageDockerfile)
	paths := make([]string, 0, len(bi.files))
	for p := range bi.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f, err := os.Open(bi.files[p])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrImageBuild, err)
		}
		io.WriteString(h, "\n"+p+"\n")
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrImageBuild, err)
		}
	}
	bi.tag = DefaultImageRepository + ":" + version + "-" + hex.EncodeToString(h.Sum(nil))[:12]
	binaryImages.Store(key, bi)
	return bi, nil
}

var redisVersionRE = regexp.MustCompile(`\bv=([0-9][0-9A-Za-z.\-]*)`)

// parseRedisVersion returns the version in the output of redis-server
// --version ("Redis server v=7.0.15 sha=..."), or "".
func parseRedisVersion(out string) string {
	m := redisVersionRE.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// isStatic reports whether ldd said the binary has no dynamic dependencies.
func isStatic(out string) bool {
	return strings.Contains(out, "statically linked") || strings.Contains(out, "not a dynamic executable")
}

// parseLdd returns the absolute library paths in ldd's output (glibc and
// musl formats), the dynamic loader included, without duplicates. Virtual
// libraries (linux-vdso) have no path and are skipped; a library ldd could
// not find is an error.
func parseLdd(out string) ([]string, error) {
	var libs []string
	seen := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || isStatic(line) {
			continue
		}
		if strings.Contains(line, "=> not found") {
			return nil, fmt.Errorf("ldd: library missing: %s", line)
		}
		path := line
		if _, after, ok := strings.Cut(line, "=>"); ok {
			path = strings.TrimSpace(after)
		}
		if i := strings.Index(path, " ("); i >= 0 {
			path = path[:i]
		}
		path = strings.TrimSpace(path)
		if !strings.HasPrefix(path, "/") || seen[path] {
			continue
		}
		seen[path] = true
		libs = append(libs, path)
	}
	return libs, nil
}
