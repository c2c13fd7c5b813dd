package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The files -out writes.
const (
	csvName = "results.csv"
	pngName = "results.png"
)

// writeFiles writes results.csv and results.png into dir.
func (r *report) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := r.writeCSV(filepath.Join(dir, csvName)); err != nil {
		return fmt.Errorf("writing the CSV: %w", err)
	}
	if err := r.writePNG(filepath.Join(dir, pngName)); err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	return nil
}

// csvHeader names the CSV's columns: one row per client (or ceiling) and
// configuration; every row repeats the date and the machine.
var csvHeader = []string{
	"date", "machine", "mode", "value_bytes", "goroutines", "client", "client_config",
	"trials", "ops_per_sec_median", "ops_per_sec_min", "ops_per_sec_max",
	"allocs_per_op_median", "cmds_per_write_median", "ours_over_this",
	"client_cpu_us_per_op_median", "server_cpu_us_per_op_median",
	"set_rps_median", "get_rps_median", "trials_ops_per_sec",
	"gc_per_10k_ops_median",
}

func (r *report) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(csvHeader)
	num := func(x float64, prec int) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	for _, k := range r.keys() {
		for _, c := range r.participants() {
			res := r.find(k, c)
			if res == nil {
				continue
			}
			s := res.summary()
			label, conf := r.labels[c], r.settings[c]
			ratio := math.NaN()
			switch c {
			case ceilingName:
				label = displayName(c)
				conf = fmt.Sprintf("-c %d -P %d -t set,get; ops/s = harmonic mean of SET and GET", ceilingConns, ceilingPipeline)
			case floorName:
				label, conf = displayName(c), floorSetting
			}
			switch c {
			case ours:
			case floorName:
				ratio = r.floorRatio(k) // our client's CPU per op ÷ the floor's
			default:
				ratio = r.ratio(k, c)
			}
			trials := make([]string, len(s.opsPerSecPerTrials))
			for i, x := range s.opsPerSecPerTrials {
				trials[i] = num(x, 0)
			}
			_ = w.Write([]string{
				r.date, r.machine, k.mode, strconv.Itoa(k.size), strconv.Itoa(k.conc), label, conf,
				strconv.Itoa(s.n), num(s.median, 0), num(s.min, 0), num(s.max, 0),
				num(s.allocs, 3), num(s.cmdsPerWrite, 2), num(ratio, 3),
				num(s.clientCPU, 3), num(s.serverCPU, 3),
				num(s.setRPS, 0), num(s.getRPS, 0), strings.Join(trials, ";"),
				num(s.gcPer10k, 3),
			})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
