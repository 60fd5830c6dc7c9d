package services

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestLogRingKeepsLastAndCountsDropped(t *testing.T) {
	r := NewLogRing(3)
	log := slog.New(&ringHandler{ring: r})
	for i := range 5 {
		log.Info("m", "i", i)
	}
	entries, dropped, next := r.Since(0)
	if len(entries) != 3 || dropped != 2 || next != 5 {
		t.Fatalf("Since(0) = %d entries, dropped %d, next %d", len(entries), dropped, next)
	}
	if entries[0].Attrs["i"] != "2" || entries[0].Seq != 2 {
		t.Errorf("oldest kept = %+v", entries[0])
	}
	entries, dropped, _ = r.Since(4)
	if len(entries) != 1 || dropped != 0 || entries[0].Attrs["i"] != "4" {
		t.Errorf("Since(4) = %+v, %d", entries, dropped)
	}
}

func TestLogRingGroupsAndWait(t *testing.T) {
	r := NewLogRing(10)
	log := slog.New(&ringHandler{ring: r}).With("svc", "x").WithGroup("g").With("a", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Wait(ctx, 0) }()
	log.Warn("hi", slog.Group("h", "b", 2))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e, _, _ := r.Since(0)
	want := map[string]string{"svc": "x", "g.a": "1", "g.h.b": "2"}
	for k, v := range want {
		if e[0].Attrs[k] != v {
			t.Errorf("attr %s = %q, want %q (all: %v)", k, e[0].Attrs[k], v, e[0].Attrs)
		}
	}
	if e[0].Level != "WARN" {
		t.Errorf("level = %q", e[0].Level)
	}
	short, c2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer c2()
	if err := r.Wait(short, 5); err == nil {
		t.Error("Wait for a record that never comes returned nil")
	}
}
