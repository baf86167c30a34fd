package api

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/gokv-service/gokv/internal/badgerstore"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{badgerstore.ErrNotFound, http.StatusNotFound},
		{badgerstore.ErrInvalidBucket, http.StatusBadRequest},
		{badgerstore.ErrInvalidKey, http.StatusBadRequest},
		{badgerstore.ErrInvalidContentType, http.StatusBadRequest},
		{errBadBody, http.StatusBadRequest},
		{errValueTooLarge, http.StatusRequestEntityTooLarge},
		{badgerstore.ErrNoSpace, http.StatusInsufficientStorage},
		{badgerstore.ErrClosed, http.StatusServiceUnavailable},
		{fmt.Errorf("get: %w", badgerstore.ErrCorrupt), http.StatusInternalServerError},
		{fmt.Errorf("get: %w", badgerstore.ErrFailed), http.StatusServiceUnavailable},
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
