package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/client"
)

func TestPutGetDelete(t *testing.T) {
	srv := apitest.Start(t)
	c := client.New(srv.URL, srv.Token, nil)
	ctx := context.Background()

	for _, key := range []string{"plain", "a/b/c", "a+b c%", "ünï:cødé"} {
		created, err := c.Put(ctx, "b", key, []byte("v1"), "text/plain")
		if err != nil || !created {
			t.Fatalf("Put(%q) = %v, %v; want created", key, created, err)
		}
		if created, err := c.Put(ctx, "b", key, []byte("v2"), "application/json"); err != nil || created {
			t.Fatalf("second Put(%q) = %v, %v; want replaced", key, created, err)
		}
		value, ct, err := c.Get(ctx, "b", key)
		if err != nil || string(value) != "v2" || ct != "application/json" {
			t.Fatalf("Get(%q) = %q, %q, %v", key, value, ct, err)
		}
		if e, err := srv.Store.Get(context.Background(), "b", key, nil); err != nil || string(e.Value) != "v2" {
			t.Fatalf("the store has %q under %q: %v", e.Value, key, err)
		}
		if err := c.Delete(ctx, "b", key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
		if _, _, err := c.Get(ctx, "b", key); !client.IsStatus(err, http.StatusNotFound) {
			t.Fatalf("Get after Delete(%q): %v, want 404", key, err)
		}
	}
}

func TestErrorsCarryStatusAndMessage(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()

	_, err := client.New(srv.URL, "not-a-token", nil).Put(ctx, "b", "k", nil, "")
	if !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("Put with a bad token: %v, want 401", err)
	}
	_, err = client.New(srv.URL, srv.Token, nil).Put(ctx, "bad:bucket", "k", nil, "")
	var se *client.StatusError
	if !client.IsStatus(err, http.StatusBadRequest) || !errors.As(err, &se) || se.Message == "" {
		t.Errorf("Put to a bad bucket: %v, want 400 with the server's message", err)
	}
	if err := client.New(srv.URL, srv.Token, nil).GetWithoutToken(ctx, "b", "k"); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("GetWithoutToken: %v, want 401", err)
	}
}

func TestWaitReady(t *testing.T) {
	srv := apitest.Start(t)
	c := client.New(srv.URL, srv.Token, nil)

	srv.Ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.WaitReady(ctx, 50*time.Millisecond); err == nil {
		t.Fatal("WaitReady returned nil while /readyz answers 503")
	}

	go func() {
		time.Sleep(100 * time.Millisecond)
		srv.Ready.Store(true)
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx, 20*time.Millisecond); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
}
