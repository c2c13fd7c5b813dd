//go:build linux

package redisserver

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// portOwner reports who listens on TCP port (any address, IPv4 or IPv6, in
// this process's network namespace, which the binary backend's servers
// share): the process pid, which leads its process group (see
// setProcAttrs), or a process of that group, or another process, or
// nobody.
func portOwner(pid, port int) portOwnership {
	inodes, err := listeningInodes(port)
	if err != nil {
		return portOwnerUnknown
	}
	if len(inodes) == 0 {
		return portOwnerNobody
	}
	held, err := holdsSocket(pid, inodes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Gone: not the holder, but its group may still be there.
	case err != nil:
		return portOwnerUnknown
	case held:
		return portOwnerThisRun
	}
	// A wrapper script that runs redis-server as its child (no exec).
	held, err = groupHoldsSocket(pid, inodes)
	switch {
	case err != nil:
		return portOwnerUnknown
	case held:
		return portOwnerThisRun
	}
	return portOwnerOther
}

// listeningInodes returns the inodes of the TCP sockets listening on port,
// from /proc/self/net/tcp and tcp6.
func listeningInodes(port int) (map[string]bool, error) {
	inodes := map[string]bool{}
	for _, name := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(name, "6") {
			continue // no IPv6
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if inode, ok := listenerInode(sc.Text(), port); ok {
				inodes[inode] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return inodes, nil
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// listenerInode returns the inode of the socket of line, a line of
// /proc/net/tcp or tcp6, if it listens on port. The fields are:
// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
// uid timeout inode ..., with local_address as hex "ADDR:PORT".
func listenerInode(line string, port int) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != tcpListen {
		return "", false
	}
	i := strings.LastIndexByte(f[1], ':')
	if i < 0 {
		return "", false
	}
	p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
	if err != nil || int(p) != port || f[9] == "0" {
		return "", false
	}
	return f[9], true
}

// holdsSocket reports whether process pid has one of the sockets inodes
// open.
func holdsSocket(pid int, inodes map[string]bool) (bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
			return true, nil
		}
	}
	return false, nil
}

// groupHoldsSocket reports whether a process of process group pgid has one
// of the sockets inodes open.
func groupHoldsSocket(pgid int, inodes map[string]bool) (bool, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pgid {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil || statProcessGroup(string(stat)) != pgid {
			continue // gone meanwhile, or another group's
		}
		if held, err := holdsSocket(pid, inodes); err == nil && held {
			return true, nil
		}
	}
	return false, nil
}

// statProcessGroup returns the process group (field 5) of the text of
// /proc/<pid>/stat, or -1.
func statProcessGroup(stat string) int {
	pgrp, err := strconv.Atoi(statField(stat, 5))
	if err != nil {
		return -1
	}
	return pgrp
}
