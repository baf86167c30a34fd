// Command gokvctl is a command-line client for gokv.
//
// Usage:
//
//	gokvctl [--url URL] [--token-file FILE] COMMAND [flags] ARGS
//
// The commands:
//
//	get BUCKET KEY              print the value (-i: ETag, Content-Type, expiry to stderr)
//	put BUCKET KEY [FILE|-]     store FILE or stdin; print the new ETag
//	delete BUCKET KEY           remove a key
//	ls BUCKET                   list keys, one a line; prefixes end with a tab and "(prefix)"
//	buckets                     list buckets, one a line
//	watch BUCKET                print changes as JSON lines until interrupted
//	txn FILE|-                  apply a transaction {"ops":[...]}; print one line per op
//	backup -o FILE              save a backup of the whole database to FILE (progress on stderr)
//	restore [--replace] FILE    load a backup; --replace replaces what the database holds
//
// `gokvctl COMMAND -h` lists a command's flags; they may come before or
// after its arguments, and "--" ends them.
//
// The server is --url, else $GOKV_URL, else http://localhost:8080. The
// token is read from --token-file, else $GOKV_TOKEN: never from a flag,
// which anyone on the machine could read with ps.
//
// Errors are one line on stderr, starting "gokvctl: ", with the server's
// message when it sent one. The exit code says what went wrong:
//
//	0  success (also when a watch is interrupted)
//	1  the server refused the request or could not be reached
//	2  bad usage: unknown command, missing argument, bad flag value, no token
//	3  a precondition failed: If-Match/If-None-Match (412), a txn's condition (409),
//	   a restore without --replace into a database that is not empty (409)
//	4  the server reset a watch: list the bucket again, then watch from there
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/gokv-service/gokv/internal/client"
)

// Exit codes; see the package comment.
const (
	exitOK = iota
	exitFailed
	exitUsage
	exitPrecondition
	exitWatchReset
)

const defaultURL = "http://localhost:8080"

const usage = `Usage: gokvctl [--url URL] [--token-file FILE] COMMAND [flags] ARGS

Commands:
  get BUCKET KEY              print the value (-i: ETag, Content-Type, expiry to stderr)
  put BUCKET KEY [FILE|-]     store FILE or stdin; print the new ETag
  delete BUCKET KEY           remove a key
  ls BUCKET                   list keys, one a line; prefixes end with a tab and "(prefix)"
  buckets                     list buckets, one a line
  watch BUCKET                print changes as JSON lines until interrupted
  txn FILE|-                  apply a transaction {"ops":[...]}; print one line per op
  backup -o FILE              save a backup of the whole database to FILE (progress on stderr)
  restore [--replace] FILE    load a backup; --replace replaces what the database holds

"gokvctl COMMAND -h" lists a command's flags.

The server is --url, else $GOKV_URL, else http://localhost:8080. The token is
read from --token-file, else $GOKV_TOKEN (never from a flag: ps shows flags).

Exit codes:
  0  success (also when a watch is interrupted)
  1  the server refused the request or could not be reached
  2  bad usage: unknown command, missing argument, bad flag value, no token
  3  a precondition failed: If-Match/If-None-Match (412), a txn's condition (409),
     a restore without --replace into a database that is not empty (409)
  4  the server reset a watch: list the bucket again, then watch from there

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// app is what every command works with.
type app struct {
	url, tokenFile string
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run runs one command and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("gokvctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.url, "url", "", "the server's URL (default: $GOKV_URL, else "+defaultURL+")")
	fs.StringVar(&a.tokenFile, "token-file", "", "read the bearer token from this file (default: $GOKV_TOKEN)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return exitOK
		}
		return report(stderr, usageErrorf("%v", err))
	}
	return report(stderr, a.dispatch(ctx, fs.Args()))
}

// errCommandHelp marks a command's -h, whose usage the command printed.
var errCommandHelp = fmt.Errorf("command %w", flag.ErrHelp)

func (a *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErrorf("no command")
	}
	name, args := args[0], args[1:]
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		return usageErrorf("unknown command %q", name)
	}
	return commands[i].run(ctx, a, args)
}

// client returns a client for the server, with the token from
// --token-file or $GOKV_TOKEN.
func (a *app) client() (*client.Client, error) {
	base := a.url
	if base == "" {
		base = a.getenv("GOKV_URL")
	}
	if base == "" {
		base = defaultURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("the server URL %q is not an http:// or https:// URL", base)
	}
	token := a.getenv("GOKV_TOKEN")
	if a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, usageErrorf("read the token: %v", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, usageErrorf("the token file %s is empty", a.tokenFile)
		}
	}
	if token == "" {
		return nil, usageErrorf("no token: set GOKV_TOKEN or pass --token-file")
	}
	return client.New(base, token, nil), nil
}

// usageError is bad usage, reported with a pointer to the help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// report prints err, if any, in one line and returns its exit code.
func report(stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, errCommandHelp) {
		return exitOK
	}
	var ue *usageError
	var te *client.TxnError
	code := exitFailed
	msg := err.Error()
	switch {
	case errors.As(err, &ue):
		code = exitUsage
		msg += " (gokvctl -h for help)"
	case errors.As(err, &te):
		code = exitPrecondition
	case client.IsStatus(err, http.StatusPreconditionFailed), client.IsStatus(err, http.StatusConflict):
		code = exitPrecondition
	case errors.Is(err, client.ErrWatchReset):
		code = exitWatchReset
	}
	// One line, whatever the server put in its message.
	msg = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(msg)
	fmt.Fprintf(stderr, "gokvctl: %s\n", msg)
	return code
}
