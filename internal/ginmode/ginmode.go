// Package ginmode keeps an invalid GIN_MODE from crashing gokv before it
// can say what is wrong.
//
// Gin reads GIN_MODE while its package is initialised and panics on an
// unknown value, before main runs. This package imports only os, so Go
// initialises it before Gin (which needs net/http, and so os, first): its
// init hides an invalid value from Gin, and Restore puts it back for
// gokv's own configuration check to report as one clear line.
package ginmode

import "os"

const envVar = "GIN_MODE"

var hidden *string

func init() {
	v, ok := os.LookupEnv(envVar)
	if !ok || valid(v) {
		return
	}
	hidden = &v
	os.Unsetenv(envVar)
}

func valid(mode string) bool {
	switch mode {
	case "", "debug", "release", "test":
		return true
	}
	return false
}

// Restore sets GIN_MODE back to the invalid value init hid, if any. Call
// it first thing in main, after Gin has been initialised.
func Restore() {
	if hidden != nil {
		os.Setenv(envVar, *hidden)
	}
}
