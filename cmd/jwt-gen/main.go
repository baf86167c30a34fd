// Command jwt-gen mints a bearer token for gokv and prints it on stdout.
//
// The secret comes from --secret or, better, from the JWT_SECRET
// environment variable, so that it never appears on a command line (a
// Kubernetes Job takes it from a Secret).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// maxExpiresIn caps --expires-in unless --allow-long-lived is given. A
// bearer token cannot be revoked short of rotating JWT_SECRET, which
// revokes every token, so a leaked one should die on its own: a quarter
// covers a credential rotated quarterly, where flag.Duration alone would
// mint tokens valid for 292 years.
const maxExpiresIn = 90 * 24 * time.Hour

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, time.Now()))
}

// run returns the exit code: 0 on success, 2 for bad usage, 1 when the
// token cannot be minted. Only a token ever goes to stdout; an error is one
// line on stderr, and -h prints the usage.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("jwt-gen", flag.ContinueOnError)
	// Silent while parsing: a parse error is reported in one line below.
	fs.SetOutput(io.Discard)
	secret := fs.String("secret", "", "HMAC secret, at least 32 bytes (default: $JWT_SECRET; prefer the variable, flags show up in ps)")
	expiresIn := fs.Duration("expires-in", time.Hour, fmt.Sprintf("lifetime of the token, e.g. 15m, 24h; at most %s (90 days) without --allow-long-lived", maxExpiresIn))
	allowLongLived := fs.Bool("allow-long-lived", false, "allow --expires-in beyond 90 days")
	subject := fs.String("subject", "", "sub claim: who holds the token")
	issuer := fs.String("issuer", "", "iss claim (must match the server's JWT_ISSUER if that is set)")
	audience := fs.String("audience", "", "aud claim (must match the server's JWT_AUDIENCE if that is set)")
	var scope auth.Scope
	fs.Func("scope", "restrict the token to read, write and/or admin; repeat it or separate words with spaces or commas (default: read and write, no admin)", func(v string) error {
		s, err := auth.ParseScope(strings.ReplaceAll(v, ",", " "))
		if err != nil {
			return err
		}
		scope |= s
		return nil
	})
	var buckets []string
	fs.Func("bucket", "restrict the token to this bucket, or to the buckets starting with a prefix when it ends in '*'; repeatable (default: every bucket)", func(v string) error {
		if err := auth.CheckBucketPattern(v); err != nil {
			return err
		}
		buckets = append(buckets, v)
		return nil
	})
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: jwt-gen [flags]")
		fmt.Fprintln(fs.Output(), "Prints one HS256 token for gokv on stdout. The secret is read from $JWT_SECRET unless --secret is given.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return 0
		}
		return usageError(stderr, err.Error())
	}
	if *showVersion {
		fmt.Fprintln(stdout, version)
		return 0
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *secret == "" {
		*secret = getenv("JWT_SECRET")
	}
	if *secret == "" {
		return usageError(stderr, "no secret: set JWT_SECRET or pass --secret")
	}
	if err := auth.CheckSecret([]byte(*secret)); err != nil {
		return usageError(stderr, fmt.Sprintf("secret %v", err))
	}
	if *expiresIn <= 0 {
		return usageError(stderr, fmt.Sprintf("--expires-in must be positive, got %s", *expiresIn))
	}
	if *expiresIn > maxExpiresIn && !*allowLongLived {
		return usageError(stderr, fmt.Sprintf("--expires-in must be at most %s (90 days) unless --allow-long-lived is given, got %s", maxExpiresIn, *expiresIn))
	}
	token, err := auth.Mint([]byte(*secret), auth.Claims{
		Subject:   *subject,
		Issuer:    *issuer,
		Audience:  *audience,
		ExpiresIn: *expiresIn,
		Scope:     scope,
		Buckets:   buckets,
	}, now)
	if err != nil {
		fmt.Fprintf(stderr, "jwt-gen: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}

// usageError reports bad usage in one line and returns its exit code.
func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "jwt-gen: %s (jwt-gen -h for help)\n", msg)
	return 2
}
