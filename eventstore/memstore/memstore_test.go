package memstore_test

import (
	"testing"

	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/memstore"
	"github.com/grovedev/grove/eventstore/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return memstore.New() })
}
