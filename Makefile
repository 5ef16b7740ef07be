# Grove's everyday commands. CI runs .ci/run, which calls the same steps.
GO        ?= go
STATICCHECK = $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages with concurrency, run under the race detector.
RACE_PKGS ?= $(shell for d in proc statem supervisor registry names distsup entity node resilience agent cluster discovery replica pubsub pg presence eventstore eventsourcing faultkit transport codec hlc clock internal cmd/grove/internal raft kv lease; do [ -d $$d ] && echo ./$$d/...; done)

.PHONY: test race lint fmt bench fuzz demo image

test:
	$(GO) test ./...

race:
	$(GO) test -race -count=1 $(RACE_PKGS)

lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) run ./cmd/grove bench local
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./...

demo:
	$(GO) run ./cmd/grove demo

image:
	CGO_ENABLED=0 $(GO) build -trimpath -o deploy/grove ./cmd/grove
	docker build -t grove:dev .
