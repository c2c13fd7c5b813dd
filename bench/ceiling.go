package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Ceiling is redis-benchmark with 50 connections and 64 commands in flight
// on each: as fast as the server goes on this machine with a client that
// does nothing but pipeline.
const (
	ceilingName     = "redis-benchmark"
	ceilingPipeline = 64
	ceilingConns    = 50
)

// ceilingTimeout bounds one redis-benchmark run: it retries forever when it
// cannot connect.
func ceilingTimeout(n int) time.Duration {
	return 2*time.Minute + time.Duration(n)*10*time.Microsecond
}

// runCeiling runs redis-benchmark -t set,get -P 64 -c 50 against addr with
// values of size bytes and n requests per test, and returns the two rates;
// opsPerSec is their average.
func runCeiling(ctx context.Context, bin, addr string, size, n int) (trial, error) {
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		return trial{}, fmt.Errorf("ceiling: bad address %q", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, ceilingTimeout(n))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port,
		"-t", "set,get", "-P", strconv.Itoa(ceilingPipeline), "-c", strconv.Itoa(ceilingConns),
		"-n", strconv.Itoa(n), "-d", strconv.Itoa(size), "--csv", "-q")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return trial{}, fmt.Errorf("ceiling: %s: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	set, get, err := parseCeiling(stdout.Bytes())
	if err != nil {
		return trial{}, err
	}
	return trial{
		opsPerSec:    2 / (1/set + 1/get), // the rate of SET and GET alternating
		allocsPerOp:  math.NaN(),
		bytesPerOp:   math.NaN(),
		gcPer10k:     math.NaN(),
		cmdsPerWrite: math.NaN(),
		clientCPU:    math.NaN(),
		serverCPU:    math.NaN(),
		setRPS:       set,
		getRPS:       get,
	}, nil
}

// parseCeiling reads the rps of SET and GET from redis-benchmark --csv:
//
//	"test","rps","avg_latency_ms",...
//	"SET","1709401.75","1.560",...
//	"GET","1562499.88","1.653",...
func parseCeiling(out []byte) (set, get float64, err error) {
	r := csv.NewReader(bytes.NewReader(out))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return 0, 0, fmt.Errorf("ceiling: reading redis-benchmark's CSV: %w", err)
	}
	rpsCol := 1
	set, get = math.NaN(), math.NaN()
	for _, rec := range recs {
		if len(rec) == 0 {
			continue
		}
		if rec[0] == "test" {
			for i, f := range rec {
				if f == "rps" {
					rpsCol = i
				}
			}
			continue
		}
		if len(rec) <= rpsCol {
			continue
		}
		v, perr := strconv.ParseFloat(rec[rpsCol], 64)
		if perr != nil {
			continue
		}
		switch rec[0] {
		case "SET":
			set = v
		case "GET":
			get = v
		}
	}
	if math.IsNaN(set) || math.IsNaN(get) {
		return 0, 0, errors.New("ceiling: no SET and GET rates in redis-benchmark's output: " + strings.TrimSpace(string(out)))
	}
	return set, get, nil
}
