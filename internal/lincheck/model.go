// Package lincheck records what concurrent clients of gokv did and checks
// the record two ways: the history of reads, writes and If-Match
// increments must be linearizable (porcupine, the checker etcd's
// robustness tests use), and every acknowledged write must read back.
// The fault tests drive gokv with its Workload while they kill processes.
package lincheck

import (
	"fmt"
	"math"

	"github.com/anishathalye/porcupine"
)

// Kind says what an operation does.
type Kind uint8

// The operations of the model.
const (
	// Get reads a key: Output.Value is its value, "" when it is absent.
	Get Kind = iota + 1
	// Put writes Input.Value unconditionally.
	Put
	// CAS writes Input.Value only if the key still holds Input.From (""
	// for absent): the PUT with If-Match (If-None-Match: * for an absent
	// key) of a read-modify-write.
	CAS
)

// Input is what a client asked for.
type Input struct {
	Kind Kind
	Key  string
	// Value is what Put and CAS write.
	Value string
	// From is the value CAS read, whose version its If-Match names.
	From string
}

// Outcome is what a client learnt of a write.
type Outcome uint8

// The outcomes.
const (
	// OK: the server acknowledged the operation (2xx, or 404 for a Get).
	OK Outcome = iota + 1
	// Refused: a CAS failed its condition (412); it wrote nothing.
	Refused
	// Unknown: no clear answer came (a timeout, a 5xx, a connection
	// that broke): the write may have been applied, now or later.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Refused:
		return "412"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Output is what a client got back.
type Output struct {
	Outcome Outcome
	// Value is what a Get read; "" when the key is absent.
	Value string
}

// Infinity is the return time of an operation whose outcome is unknown:
// it may take effect at any moment after its call, including after
// everything else (which is the same as never).
const Infinity = math.MaxInt64

// Model is a set of registers keyed by key, each holding a string (""
// for absent). It is sound only when no two writes of a key write the
// same value, as the Workload ensures (unique values, counters that only
// grow): then a value names one version, and a CAS that conditions on the
// version it read is a CAS on the value it read.
//
// An operation of unknown outcome is given an infinite return time and
// applies whenever its condition holds: one that never took effect is
// linearized after everything else, where applying changes nothing any
// other operation saw. This is how etcd's robustness tests treat
// requests that failed without an answer.
var Model = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		return step(state.(string), input.(Input), output.(Output))
	},
	DescribeOperation: func(input, output any) string {
		return describe(input.(Input), output.(Output))
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// step is the sequential specification of one register.
func step(state string, in Input, out Output) (bool, string) {
	switch in.Kind {
	case Get:
		return out.Value == state, state
	case Put:
		return out.Outcome != Refused, in.Value
	case CAS:
		holds := state == in.From
		switch out.Outcome {
		case OK:
			return holds, in.Value
		case Refused:
			return !holds, state
		default:
			if holds {
				return true, in.Value
			}
			return true, state
		}
	}
	return false, state
}

// partitionByKey checks each key on its own: registers are independent,
// and small partitions keep porcupine's search short.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(Input).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

func describe(in Input, out Output) string {
	switch in.Kind {
	case Get:
		return fmt.Sprintf("get(%s) -> %q", in.Key, out.Value)
	case Put:
		return fmt.Sprintf("put(%s, %q) %s", in.Key, in.Value, out.Outcome)
	case CAS:
		return fmt.Sprintf("cas(%s, %q -> %q) %s", in.Key, in.From, in.Value, out.Outcome)
	}
	return fmt.Sprintf("%+v -> %+v", in, out)
}
