// Package faults holds gokv's fault tests, and nothing else: gokv under
// concurrent load while its processes are killed (the Badger backend) or
// the etcd members under it are (the etcd backend), with every
// acknowledged write read back and the history checked for
// linearizability by lincheck. docs/faults.md reports what they found.
//
// The tests run briefly in `make test`; GOKV_FAULTS_DURATION (a Go
// duration, e.g. 2m) makes each run its load that long, as `make faults`
// does.
package faults
