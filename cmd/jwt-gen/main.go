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
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, time.Now()))
}

// run returns the exit code: 0 on success, 2 for bad usage, 1 when the
// token cannot be minted. Only a token ever goes to stdout.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("jwt-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", "", "HMAC secret, at least 32 bytes (default: $JWT_SECRET; prefer the variable, flags show up in ps)")
	expiresIn := fs.Duration("expires-in", time.Hour, "lifetime of the token, e.g. 15m, 24h")
	subject := fs.String("subject", "", "sub claim: who holds the token")
	issuer := fs.String("issuer", "", "iss claim (must match the server's JWT_ISSUER if that is set)")
	audience := fs.String("audience", "", "aud claim (must match the server's JWT_AUDIENCE if that is set)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: jwt-gen [flags]")
		fmt.Fprintln(stderr, "Prints one HS256 token for gokv on stdout. The secret is read from $JWT_SECRET unless --secret is given.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version)
		return 0
	}
	if fs.NArg() > 0 {
		return usageError(fs, stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *secret == "" {
		*secret = getenv("JWT_SECRET")
	}
	if *secret == "" {
		return usageError(fs, stderr, "no secret: set JWT_SECRET or pass --secret")
	}
	if *expiresIn <= 0 {
		return usageError(fs, stderr, fmt.Sprintf("--expires-in must be positive, got %s", *expiresIn))
	}
	token, err := auth.Mint([]byte(*secret), auth.Claims{
		Subject:   *subject,
		Issuer:    *issuer,
		Audience:  *audience,
		ExpiresIn: *expiresIn,
	}, now)
	if err != nil {
		return usageError(fs, stderr, err.Error())
	}
	fmt.Fprintln(stdout, token)
	return 0
}

func usageError(fs *flag.FlagSet, stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "jwt-gen: %s\n\n", msg)
	fs.Usage()
	return 2
}
