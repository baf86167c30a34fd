package api

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{kv.ErrNotFound, http.StatusNotFound},
		{kv.ErrInvalidBucket, http.StatusBadRequest},
		{kv.ErrInvalidKey, http.StatusBadRequest},
		{kv.ErrInvalidContentType, http.StatusBadRequest},
		{errBadBody, http.StatusBadRequest},
		{errValueTooLarge, http.StatusRequestEntityTooLarge},
		{kv.ErrNoSpace, http.StatusInsufficientStorage},
		{kv.ErrClosed, http.StatusServiceUnavailable},
		{fmt.Errorf("get: %w", kv.ErrCorrupt), http.StatusInternalServerError},
		{fmt.Errorf("get: %w", kv.ErrFailed), http.StatusServiceUnavailable},
		{fmt.Errorf("etcd get: %w: no leader", kv.ErrUnavailable), http.StatusServiceUnavailable},
		{fmt.Errorf("apply: %w", kv.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{io.ErrUnexpectedEOF, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got, _ := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if _, msg := statusOf(io.ErrUnexpectedEOF); msg != "internal error" {
		t.Errorf("a server fault is shown to the client as %q", msg)
	}
}
