# The deposits binary: CLI, worker and migrations in one image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/deposits ./cmd/deposits

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/deposits /usr/local/bin/deposits
ENTRYPOINT ["/usr/local/bin/deposits"]
CMD ["worker"]
