package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gokv-service/gokv/internal/client"
	"github.com/gokv-service/gokv/internal/kv"
)

// command is one of gokvctl's commands.
type command struct {
	name string
	run  func(ctx context.Context, a *app, args []string) error
}

var commands = []command{
	{"get", get},
	{"put", put},
	{"delete", del},
	{"ls", ls},
	{"buckets", buckets},
	{"watch", watch},
	{"txn", txn},
	{"backup", backupCmd},
	{"restore", restoreCmd},
}

func get(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	info := fs.Bool("i", false, "print the ETag, Content-Type and Gokv-Expires-At to stderr")
	pos, err := a.parse(fs, "BUCKET KEY", args, 2, 2)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	e, err := c.GetEntry(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	if *info {
		fmt.Fprintf(a.stderr, "ETag: %s\nContent-Type: %s\n", e.ETag, e.ContentType)
		if !e.ExpiresAt.IsZero() {
			fmt.Fprintf(a.stderr, "Gokv-Expires-At: %s\n", e.ExpiresAt.Format(time.RFC3339))
		}
	}
	if _, err := a.stdout.Write(e.Value); err != nil {
		return fmt.Errorf("write the value: %w", err)
	}
	return nil
}

func put(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	var opts client.PutOptions
	fs.DurationVar(&opts.TTL, "ttl", 0, fmt.Sprintf("expire the key after this long, %s to %s (10 years); default never", kv.MinTTL, kv.MaxTTL))
	fs.StringVar(&opts.IfMatch, "if-match", "", `store only if the key's ETag is this (12 or "12"), or * for any existing key`)
	fs.StringVar(&opts.IfNoneMatch, "if-none-match", "", "* stores only if the key does not exist")
	fs.StringVar(&opts.ContentType, "content-type", "", "the value's media type (default: the server's, application/octet-stream)")
	pos, err := a.parse(fs, "BUCKET KEY [FILE|-]", args, 2, 3)
	if err != nil {
		return err
	}
	if opts.TTL != 0 && (opts.TTL < kv.MinTTL || opts.TTL > kv.MaxTTL) {
		return usageErrorf("put: --ttl must be from %s to %s (10 years), got %s", kv.MinTTL, kv.MaxTTL, opts.TTL)
	}
	if opts.IfNoneMatch != "" && opts.IfNoneMatch != "*" {
		return usageErrorf("put: --if-none-match takes only *, got %q", opts.IfNoneMatch)
	}
	opts.IfMatch = etag(opts.IfMatch)
	source := "-"
	if len(pos) == 3 {
		source = pos[2]
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	value, err := a.readInput(source)
	if err != nil {
		return err
	}
	r, err := c.PutWith(ctx, pos[0], pos[1], value, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, r.ETag)
	return nil
}

func del(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	var opts client.DeleteOptions
	fs.StringVar(&opts.IfMatch, "if-match", "", `delete only if the key's ETag is this (12 or "12")`)
	pos, err := a.parse(fs, "BUCKET KEY", args, 2, 2)
	if err != nil {
		return err
	}
	opts.IfMatch = etag(opts.IfMatch)
	c, err := a.client()
	if err != nil {
		return err
	}
	return c.DeleteWith(ctx, pos[0], pos[1], opts)
}

func ls(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	var opts client.ListOptions
	fs.StringVar(&opts.Prefix, "prefix", "", "only keys that start with this")
	fs.StringVar(&opts.Delimiter, "delimiter", "", "roll up the keys that contain this after the prefix into one prefix each, e.g. /")
	fs.IntVar(&opts.Limit, "limit", 0, fmt.Sprintf("keys plus prefixes per page, 1 to %d (default: the server's, %d)", kv.MaxListLimit, kv.DefaultListLimit))
	fs.StringVar(&opts.Cursor, "cursor", "", "start at this next cursor of an earlier page")
	all := fs.Bool("all", false, "follow the next cursor to the last page")
	asJSON := fs.Bool("json", false, "print the page as JSON (with --all, everything as one page)")
	pos, err := a.parse(fs, "BUCKET", args, 1, 1)
	if err != nil {
		return err
	}
	if err := checkLimit(fs, opts.Limit); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var whole client.ListPage
	for {
		page, err := c.List(ctx, pos[0], opts)
		if err != nil {
			return err
		}
		switch {
		case *asJSON && *all:
			whole.Items = append(whole.Items, page.Items...)
			whole.Prefixes = append(whole.Prefixes, page.Prefixes...)
		case *asJSON:
			return printJSON(a.stdout, page)
		default:
			printListing(a.stdout, page)
		}
		if page.NextCursor == "" {
			break
		}
		if !*all {
			fmt.Fprintf(a.stderr, "next page: --cursor %s\n", page.NextCursor)
			return nil
		}
		opts.Cursor = page.NextCursor
	}
	if *asJSON {
		if whole.Items == nil {
			whole.Items = []client.Item{}
		}
		return printJSON(a.stdout, whole)
	}
	return nil
}

// printListing prints a page's keys and prefixes together in byte order,
// one a line, a prefix followed by a tab and "(prefix)".
func printListing(w io.Writer, page client.ListPage) {
	type entry struct {
		name   string
		prefix bool
	}
	entries := make([]entry, 0, len(page.Items)+len(page.Prefixes))
	for _, it := range page.Items {
		entries = append(entries, entry{it.Key, false})
	}
	for _, p := range page.Prefixes {
		entries = append(entries, entry{p, true})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, e := range entries {
		if e.prefix {
			fmt.Fprintf(w, "%s\t(prefix)\n", e.name)
		} else {
			fmt.Fprintln(w, e.name)
		}
	}
}

func buckets(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("buckets", flag.ContinueOnError)
	limit := fs.Int("limit", 0, fmt.Sprintf("names per page, 1 to %d (default: the server's, %d)", kv.MaxListLimit, kv.DefaultListLimit))
	cursor := fs.String("cursor", "", "start at this next cursor of an earlier page")
	all := fs.Bool("all", false, "follow the next cursor to the last page")
	if _, err := a.parse(fs, "", args, 0, 0); err != nil {
		return err
	}
	if err := checkLimit(fs, *limit); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	for {
		page, err := c.Buckets(ctx, *limit, *cursor)
		if err != nil {
			return err
		}
		for _, name := range page.Buckets {
			fmt.Fprintln(a.stdout, name)
		}
		if page.NextCursor == "" {
			return nil
		}
		if !*all {
			fmt.Fprintf(a.stderr, "next page: --cursor %s\n", page.NextCursor)
			return nil
		}
		*cursor = page.NextCursor
	}
}

func watch(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	var opts client.WatchOptions
	fs.StringVar(&opts.Prefix, "prefix", "", "only keys that start with this")
	fs.Uint64Var(&opts.Since, "since", 0, "replay the changes after this version (an ETag without quotes) first")
	fs.BoolVar(&opts.Values, "values", false, "include the values of put events (base64)")
	pos, err := a.parse(fs, "BUCKET", args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	err = c.Watch(ctx, pos[0], opts, func(e client.Event) error { return enc.Encode(e) })
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil // interrupted, the way a watch is meant to end
	case err == nil:
		return errors.New("the server ended the watch")
	}
	return err
}

func txn(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("txn", flag.ContinueOnError)
	pos, err := a.parse(fs, "FILE|-", args, 1, 1)
	if err != nil {
		return err
	}
	in, err := a.readInput(pos[0])
	if err != nil {
		return err
	}
	var req struct {
		Ops []client.TxnOp `json:"ops"`
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	// A misspelt field would otherwise be dropped, changing what the
	// transaction does.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return usageErrorf("txn: %s is not a transaction: %v", pos[0], err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return usageErrorf("txn: %s has more after the transaction's JSON object", pos[0])
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	results, err := c.Txn(ctx, req.Ops)
	var te *client.TxnError
	if errors.As(err, &te) && te.Op >= 0 && te.Op < len(req.Ops) {
		op := req.Ops[te.Op]
		return fmt.Errorf("txn op %d (%s %s %s) failed: %w", te.Op, op.Op, op.Bucket, op.Key, te.Err)
	}
	if err != nil {
		return err
	}
	for i, r := range results {
		op := req.Ops[i]
		fields := []string{strconv.Itoa(i), op.Op, op.Bucket, op.Key}
		if r.ETag != "" {
			fields = append(fields, r.ETag)
		}
		if !r.ExpiresAt.IsZero() {
			fields = append(fields, r.ExpiresAt.Format(time.RFC3339))
		}
		fmt.Fprintln(a.stdout, strings.Join(fields, "\t"))
	}
	return nil
}

// parse parses fs's flags wherever they stand among args, so that
// `put b k --ttl 1m` works as well as `put --ttl 1m b k`, and returns the
// other arguments, of which there must be min to max. After "--" all are
// arguments.
func (a *app) parse(fs *flag.FlagSet, synopsis string, args []string, min, max int) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gokvctl [--url URL] [--token-file FILE] %s [flags] %s\n\nFlags:\n", fs.Name(), synopsis)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(a.stderr)
				fs.Usage()
				return nil, errCommandHelp
			}
			return nil, usageErrorf("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < min:
		return nil, usageErrorf("%s: missing arguments; usage: gokvctl %s [flags] %s", fs.Name(), fs.Name(), synopsis)
	case len(pos) > max:
		return nil, usageErrorf("%s: unexpected argument %q; usage: gokvctl %s [flags] %s", fs.Name(), pos[max], fs.Name(), synopsis)
	}
	return pos, nil
}

// readInput reads a file named on the command line, or stdin for "-".
func (a *app) readInput(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return b, nil
}

// checkLimit refuses a --limit the server would, before asking it.
func checkLimit(fs *flag.FlagSet, limit int) error {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "limit" })
	if set && (limit < 1 || limit > kv.MaxListLimit) {
		return usageErrorf("%s: --limit must be from 1 to %d, got %d", fs.Name(), kv.MaxListLimit, limit)
	}
	return nil
}

// etag returns an ETag as If-Match wants it: quoted, unless it is "*" or
// already quoted, so that the version alone (12) works too.
func etag(s string) string {
	if s == "" || s == "*" || strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `W/"`) {
		return s
	}
	return strconv.Quote(s)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
