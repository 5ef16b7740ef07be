package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCartConvergesAfterThePartition(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	after := out.String()[strings.Index(out.String(), "After the heal"):]
	if n := strings.Count(after, "[book×2 mug×1 pen×3]"); n != 3 {
		t.Fatalf("want every node at [book×2 mug×1 pen×3]:\n%s", out.String())
	}
}
