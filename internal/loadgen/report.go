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
	switch r.Workload {
	case Mixed:
		workload = fmt.Sprintf("mixed, %.0f%% reads", 100*r.ReadRatio)
	case Txn:
		workload = fmt.Sprintf("txn, %d puts each", r.TxnOps)
	}
	fmt.Fprintf(&b, "workload    %s, %d B values, %d keys, %d connections\n", workload, r.ValueSize, r.Keys, r.Concurrency)
	if r.Target != TargetGokv || r.Servers > 1 {
		fmt.Fprintf(&b, "target      %s, %d servers\n", r.Target, r.Servers)
	}
	if r.PreloadSecs > 0 {
		fmt.Fprintf(&b, "preload     %d keys in %.2f s\n", r.Keys, r.PreloadSecs)
	}
	fmt.Fprintf(&b, "requests    %d in %.2f s (%d reads, %d writes)\n", r.Requests, r.Seconds, r.Reads, r.Writes)
	fmt.Fprintf(&b, "throughput  %.0f req/s", r.Throughput)
	if r.Workload == Txn {
		fmt.Fprintf(&b, ", %.0f puts/s", r.OpsPerSecond)
	}
	b.WriteString("\n")
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

// WriteText writes r for people, a few aligned lines.
func (r WatchResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "workload    watch, %d watchers, PUTs of %d B at %.0f/s\n", r.Watchers, r.ValueSize, r.Rate)
	fmt.Fprintf(&b, "connect     %d watches in %.2f s\n", r.Watchers, r.ConnectSecs)
	fmt.Fprintf(&b, "writes      %d in %.2f s (%.0f/s), %d failed\n", r.Writes, r.WriteSecs, r.WriteRate, r.WriteErrors)
	fmt.Fprintf(&b, "delivered   %d events in %.2f s (%.0f events/s)\n", r.Delivered, r.Seconds, r.EventRate)
	l := r.Latency
	fmt.Fprintf(&b, "latency     p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   max %.3f ms   mean %.3f ms (PUT sent to event received)\n",
		l.P50, l.P90, l.P99, l.Max, l.Mean)
	fmt.Fprintf(&b, "watchers    %d complete, %d missed events, %d reset\n", r.Complete, r.Missed, r.Reset)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem     %s\n", p)
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
