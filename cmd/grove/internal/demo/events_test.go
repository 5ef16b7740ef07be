package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestEventSourcingStep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	d := &demo{w: &out, start: time.Now()}
	if err := d.eventSourcing(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"transfers settled: 2 completed, 1 refused",
		"total 300",
		"replayed 14 events", "time travel: bob had 100 at version 1",
		"is a no-op (0 new events)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
