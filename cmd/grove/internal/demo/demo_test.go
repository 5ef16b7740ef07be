package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDemoRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, Options{}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"restarted it as",
		"transform <", "publish   <",
		"gave up",
		"reverse start order: publish, transform, ingest",
		"0 processes left alive",
		"after the heal every node holds 12",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "ingest    <") || !strings.Contains(out.String(), "kept") {
		t.Errorf("rest_for_one step did not keep ingest:\n%s", out.String())
	}
}
