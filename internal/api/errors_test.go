package api

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/gokv-service/gokv/internal/storage"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{storage.ErrNotFound, http.StatusNotFound},
		{storage.ErrInvalidBucket, http.StatusBadRequest},
		{storage.ErrInvalidKey, http.StatusBadRequest},
		{storage.ErrInvalidContentType, http.StatusBadRequest},
		{errBadBody, http.StatusBadRequest},
		{errValueTooLarge, http.StatusRequestEntityTooLarge},
		{storage.ErrNoSpace, http.StatusInsufficientStorage},
		{storage.ErrClosed, http.StatusServiceUnavailable},
		{fmt.Errorf("get: %w", storage.ErrCorrupt), http.StatusInternalServerError},
		{fmt.Errorf("get: %w", storage.ErrFailed), http.StatusServiceUnavailable},
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
