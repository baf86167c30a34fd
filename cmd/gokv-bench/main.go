// Command gokv-bench loads a running gokv with GETs, PUTs or a mix of
// both and reports throughput, latency percentiles and errors by status,
// in the spirit of redis-benchmark. -target etcd-gateway sends the same
// reads and writes to etcd's JSON gateway instead, to compare gokv on
// etcd with what it replaces; -url takes several servers, to spread the
// load over replicas. Every run is bounded by -duration,
// -requests or both. Two workloads measure API v1: txn sends
// transactions of -txn-ops puts, and watch holds -watchers watches of
// the bucket open while it PUTs at -rate, checking that every watcher
// receives every event in order.
//
// The token is taken from $GOKV_TOKEN or minted from $JWT_SECRET (with
// $JWT_ISSUER and $JWT_AUDIENCE when set); never from the command line,
// where it would show in ps. It exits 0 when every request got the
// expected answer (for watch: every watcher every event), 1 when some did
// not or the run could not be made, and 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/gokv-service/gokv/internal/client"
	"github.com/gokv-service/gokv/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gokv-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := loadgen.Config{Progress: stderr}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "base URL of the gokv server, or several separated by commas to spread the connections over")
	target := fs.String("target", string(loadgen.TargetGokv), "API of the server: gokv, or etcd-gateway (etcd's JSON gateway, /v3/kv/range and /v3/kv/put, no token)")
	workload := fs.String("workload", "mixed", "get, put, mixed, txn or watch")
	fs.Float64Var(&cfg.ReadRatio, "read-ratio", 0.9, "share of GETs in the mixed workload, 0 to 1")
	fs.IntVar(&cfg.ValueSize, "value-size", 100, "size of every value written, in bytes")
	fs.IntVar(&cfg.Keys, "keys", 10000, "number of distinct keys, picked uniformly")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "connections, each with one request in flight")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the measured phase (0: bounded by -requests only)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "number of requests of the measured phase (0: bounded by -duration only)")
	fs.BoolVar(&cfg.Preload, "preload", true, "write every key once before measuring")
	fs.StringVar(&cfg.Bucket, "bucket", "bench", "bucket of the keys")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "limit for each request")
	fs.DurationVar(&cfg.ProgressInterval, "progress", time.Second, "interval of the progress line on stderr (0: none)")
	fs.IntVar(&cfg.TxnOps, "txn-ops", 128, "txn: puts in each transaction")
	fs.IntVar(&cfg.Watchers, "watchers", 1000, "watch: number of watches of the bucket")
	fs.Float64Var(&cfg.Rate, "rate", 200, "watch: PUTs per second while the watches run")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gokv-bench [flags]")
		fmt.Fprintln(stderr, "Loads a running gokv and reports throughput, latency and errors. Needs $GOKV_TOKEN or $JWT_SECRET.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gokv-bench: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	cfg.Workload = loadgen.Workload(*workload)
	cfg.Target = loadgen.Target(*target)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "gokv-bench: %v\n", err)
		return 2
	}
	// The etcd gateway takes no token.
	if cfg.Target == loadgen.TargetGokv {
		// The token must outlive the whole run.
		token, err := client.TokenFromEnv(getenv, "gokv-bench", 0, cfg.Duration+time.Hour)
		if err != nil {
			fmt.Fprintf(stderr, "gokv-bench: %v\n", err)
			return 2
		}
		cfg.Token = token
	}
	if cfg.Workload == loadgen.Watch {
		return runWatch(ctx, cfg, *asJSON, stdout, stderr)
	}

	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gokv-bench: %v\n", err)
		return 1
	}
	if *asJSON {
		err = json.NewEncoder(stdout).Encode(res)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gokv-bench: %v\n", err)
		return 1
	}
	if res.Errors > 0 {
		fmt.Fprintf(stderr, "gokv-bench: %d of %d requests failed\n", res.Errors, res.Requests)
		return 1
	}
	return 0
}

func runWatch(ctx context.Context, cfg loadgen.Config, asJSON bool, stdout, stderr io.Writer) int {
	res, err := loadgen.RunWatch(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gokv-bench: %v\n", err)
		return 1
	}
	if asJSON {
		err = json.NewEncoder(stdout).Encode(res)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gokv-bench: %v\n", err)
		return 1
	}
	if res.Failed() {
		fmt.Fprintf(stderr, "gokv-bench: %d of %d watchers did not receive every event, %d writes failed\n",
			res.Watchers-res.Complete, res.Watchers, res.WriteErrors)
		return 1
	}
	return 0
}
