# One image for every component; the container's command picks the subcommand
# (api, service NAME, worker --pool NAME, migrate, seed).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sagaflow ./cmd/sagaflow

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sagaflow /usr/local/bin/sagaflow
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/sagaflow"]
