package depositclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
)

// File is one file to upload as evidence.
type File struct {
	Name string
	Data []byte
}

// Upload sends fields and files (parts named "file") as multipart/form-data
// to a path, as POST /v1/leases/{lease_id}/evidence takes them. It is not
// retried: storing the same file on the same subject again changes nothing,
// so a caller cut off may simply send it again.
func (c *Client) Upload(ctx context.Context, path string, fields map[string]string, files []File) (Response, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		if v != "" {
			if err := mw.WriteField(k, v); err != nil {
				return Response{}, err
			}
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile("file", f.Name)
		if err != nil {
			return Response{}, err
		}
		if _, err := w.Write(f.Data); err != nil {
			return Response{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return Response{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Server+path, &body)
	if err != nil {
		return Response{}, err
	}
	hr.Header.Set("Content-Type", mw.FormDataContentType())
	hr.Header.Set("Accept", "application/json, application/problem+json")
	if c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		return Response{}, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.Server, rootCause(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Response{}, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.Server, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Header: resp.Header, Body: b}, nil
	}
	return Response{}, refusal(resp, b)
}
