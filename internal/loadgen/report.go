package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteText writes r for people, a few aligned lines.
func (r Result) WriteText(w io.Writer) error {
	var b strings.Builder
	workload := string(r.Workload)
	if r.Workload == Mixed {
		workload = fmt.Sprintf("mixed, %.0f%% reads", 100*r.ReadRatio)
	}
	fmt.Fprintf(&b, "workload    %s, %d B values, %d keys, %d connections\n", workload, r.ValueSize, r.Keys, r.Concurrency)
	if r.PreloadSecs > 0 {
		fmt.Fprintf(&b, "preload     %d keys in %.2f s\n", r.Keys, r.PreloadSecs)
	}
	fmt.Fprintf(&b, "requests    %d in %.2f s (%d reads, %d writes)\n", r.Requests, r.Seconds, r.Reads, r.Writes)
	fmt.Fprintf(&b, "throughput  %.0f req/s\n", r.Throughput)
	l := r.Latency
	fmt.Fprintf(&b, "latency     p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   max %.3f ms   mean %.3f ms\n",
		l.P50, l.P90, l.P99, l.Max, l.Mean)
	fmt.Fprintf(&b, "statuses    %s\n", counts(r.Statuses))
	if r.Errors == 0 {
		b.WriteString("errors      0\n")
	} else {
		fmt.Fprintf(&b, "errors      %d: %s\n", r.Errors, counts(r.ErrorsBy))
		if r.FirstError != "" {
			fmt.Fprintf(&b, "first error %s\n", r.FirstError)
		}
	}
	fmt.Fprintf(&b, "client cpu  %.0f%% of one core\n", r.ClientCPU)
	_, err := io.WriteString(w, b.String())
	return err
}

// counts formats {"404": 3, "200": 10} as "200: 10, 404: 3".
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
