# A Grove node in an image of its own binary and nothing else.
# Build the static binary first (no C library is needed):
#   CGO_ENABLED=0 go build -trimpath -o deploy/grove ./cmd/grove
#   docker build -t grove .
# or simply `make image`.
FROM scratch
COPY deploy/grove /grove
EXPOSE 4370 4371
ENTRYPOINT ["/grove", "node"]
CMD ["--listen", "0.0.0.0:4370", "--admin", "0.0.0.0:4371"]
