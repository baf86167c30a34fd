package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gokv-service/gokv/internal/check"
	"github.com/gokv-service/gokv/internal/client"
)

// runCheck is `gokv check`: it proves that a running gokv works end to
// end (a request without a token is refused; a fresh key is written, read
// back, replaced and deleted) and returns 0 only if every step behaved.
// The token is minted from $JWT_SECRET (with $JWT_ISSUER and $JWT_AUDIENCE
// when set, as the server expects) or taken from $GOKV_TOKEN.
func runCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gokv check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://localhost:8080", "base URL of the gokv server")
	bucket := fs.String("bucket", "gokv-check", "bucket to write the check's key in")
	wait := fs.Duration("wait", time.Minute, "how long to wait for /readyz before checking")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for the check itself")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gokv check [flags]")
		fmt.Fprintln(stderr, "Checks a running gokv end to end. Needs $JWT_SECRET or $GOKV_TOKEN.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gokv check: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	token, err := client.TokenFromEnv(getenv, "gokv-check", 0, 5*time.Minute)
	if err != nil {
		fmt.Fprintf(stderr, "gokv check: %v\n", err)
		return 2
	}

	c := client.New(*url, token, nil)
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	if err := c.WaitReady(ctx, time.Second); err != nil {
		fmt.Fprintf(stderr, "gokv check: FAIL: %v\n", err)
		return 1
	}
	ctx, cancel = context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := check.RoundTrip(ctx, c, *bucket, stdout); err != nil {
		fmt.Fprintf(stderr, "gokv check: FAIL: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "PASS %s\n", *url)
	return 0
}
