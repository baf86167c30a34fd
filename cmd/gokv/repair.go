package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gokv-service/gokv/internal/badgerstore"
)

// runRepair is `gokv repair`: the explicit way out when gokv refuses to
// open a damaged database directory. Without flags it only reports what
// it found and what each flag would do; it changes only what a flag
// accepts, and moves what it takes out into DB_PATH/quarantine/.
func runRepair(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gokv repair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbPath := fs.String("db-path", getenv("DB_PATH"), "database directory (default $DB_PATH)")
	var opts badgerstore.RepairOptions
	fs.BoolVar(&opts.AcceptDataLoss, "accept-data-loss", false,
		"when the MANIFEST is lost, move every database file into quarantine and start empty")
	fs.BoolVar(&opts.AcceptWALLoss, "accept-wal-loss", false,
		"when a log is damaged before its end, quarantine it and keep its readable beginning")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gokv repair [flags]")
		fmt.Fprintln(stderr, "Reports the damage that keeps gokv from opening its database and, only with the flag")
		fmt.Fprintln(stderr, "accepting that loss, repairs it. Stop gokv first. Nothing is deleted: files taken out")
		fmt.Fprintln(stderr, "of the database are moved to DB_PATH/quarantine/<time>/.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *dbPath == "" {
		fmt.Fprintln(stderr, "gokv repair: set DB_PATH or --db-path, and no arguments")
		fs.Usage()
		return 2
	}
	if err := badgerstore.Repair(*dbPath, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "gokv repair: %v\n", err)
		return 1
	}
	return 0
}
