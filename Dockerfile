# A Grove node in an image of its own binary and nothing else.
# Build the static binary first (no C library is needed):
#   CGO_ENABLED=0 go build -trimpath -o deploy/grove ./cmd/grove
#   docker build -t grove .
# or simply `make image`.
# The admin API listens on all interfaces, so the node requires a token for it
# (everything but /healthz and /readyz): run with GROVE_ADMIN_TOKEN, or
# GROVE_ADMIN_TOKEN_FILE naming a mounted secret, beside GROVE_COOKIE:
#   docker run -e GROVE_NAME=grove@ -e GROVE_COOKIE=... -e GROVE_ADMIN_TOKEN=... grove
FROM scratch
COPY deploy/grove /grove
EXPOSE 4370 4371
ENTRYPOINT ["/grove", "node"]
CMD ["--listen", "0.0.0.0:4370", "--admin", "0.0.0.0:4371"]
