package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestGetReserving: reserve is asked for at least the value's size, and
// its refusal is Get's error, for values in the LSM tree and in the value
// log alike.
func TestGetReserving(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	errNoRoom := errors.New("no room")
	for _, size := range []int{10, 100 << 10} {
		value := make([]byte, size)
		mustPut(t, s, "b", "k", Entry{ContentType: "text/plain", Value: value})
		tests := []struct {
			name    string
			reserve error
		}{
			{"granted", nil},
			{"refused", errNoRoom},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d bytes %s", size, tt.name), func(t *testing.T) {
				var asked int64
				e, err := s.Get(context.Background(), "b", "k", func(n int64) error {
					asked = n
					return tt.reserve
				})
				if !errors.Is(err, tt.reserve) {
					t.Fatalf("GetReserving of %d bytes = %v, want %v", size, err, tt.reserve)
				}
				if err == nil && len(e.Value) != size {
					t.Errorf("got %d bytes, want %d", len(e.Value), size)
				}
				if asked < int64(size) {
					t.Errorf("reserved %d bytes for a value of %d", asked, size)
				}
			})
		}
	}
}
