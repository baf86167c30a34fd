package lincheck

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// History is the record of operations of concurrent clients, with call
// and return times from the monotonic clock. It is safe for concurrent
// use.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History {
	return &History{start: time.Now()}
}

// Now is the time to record as a call or a return: nanoseconds since the
// history began, on the monotonic clock, so that a wall clock step cannot
// reorder operations.
func (h *History) Now() int64 {
	return int64(time.Since(h.start))
}

// Add records that client called in at call and got out at ret. An
// operation of unknown outcome is recorded as returning at Infinity,
// whatever ret says: its effect may land at any time after its call.
func (h *History) Add(client int, in Input, call int64, out Output, ret int64) {
	if out.Outcome == Unknown {
		ret = Infinity
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// Len is the number of operations recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// ErrNotLinearizable: no order of the operations explains what the
// clients saw.
var ErrNotLinearizable = errors.New("history is not linearizable")

// Check checks the history for linearizability within timeout. When it
// is not, the error names an HTML file it left in dir ("" for the
// system's temporary directory) that shows porcupine's longest partial
// linearizations. A check that runs out of time is an error too, since
// it proved nothing.
func (h *History) Check(timeout time.Duration, dir string) error {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("linearizability check of %d operations: no answer within %s", len(ops), timeout)
	}
	err := fmt.Errorf("%d operations: %w", len(ops), ErrNotLinearizable)
	f, ferr := os.CreateTemp(dir, "gokv-lincheck-*.html")
	if ferr != nil {
		return errors.Join(err, fmt.Errorf("write visualization: %w", ferr))
	}
	defer f.Close()
	if verr := porcupine.Visualize(Model, info, f); verr != nil {
		return errors.Join(err, fmt.Errorf("write visualization to %s: %w", f.Name(), verr))
	}
	return fmt.Errorf("%w; visualization: %s", err, f.Name())
}
