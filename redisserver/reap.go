package redisserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ReapOrphans removes the containers and networks that redisserver created
// in processes that are gone: test binaries killed before their cleanup ran
// (Ryuk, which would otherwise remove them, is disabled; see
// RyukDisabledEnv). A creator counts as gone when it ran on this host, in
// this process's PID namespace, and its process no longer exists (same PID
// and start time), or the machine rebooted since. Resources of live
// processes, of other PID namespaces (test runs in other containers) and
// of other hosts sharing the engine are left alone. It returns how many
// resources it removed.
//
// The container backend calls it once per process, at its first use, so
// orphans never outlive the next test run. That call is best effort: what
// it cannot remove (such as a network a live container still uses) is left
// for later and fails nothing. Call ReapOrphans yourself to clean up sooner,
// or to see those errors.
func ReapOrphans(ctx context.Context) (int, error) {
	cli, err := acquireDocker(ctx)
	if err != nil {
		return 0, err
	}
	defer releaseDocker()
	return reapOrphans(ctx, cli)
}

func reapOrphans(ctx context.Context, cli *testcontainers.DockerClient) (int, error) {
	filter := client.Filters{}.Add("label", LabelOwnerPID)
	removed := 0
	var errs []error
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return 0, fmt.Errorf("redisserver: list containers: %w", err)
	}
	for _, c := range ctrs.Items {
		if !ownerGone(c.Labels) {
			continue
		}
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if isRemovalInProgress(err) {
			continue // another process is reaping it
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			continue
		}
		removed++
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return removed, fmt.Errorf("redisserver: list networks: %w", err)
	}
	for _, n := range nets.Items {
		if !ownerGone(n.Labels) {
			continue
		}
		_, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("redisserver: reap orphans: %w", err)
	}
	return removed, nil
}

// isRemovalInProgress reports the engine's conflict for a container that is
// being removed by someone else.
func isRemovalInProgress(err error) bool {
	return err != nil && cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}
