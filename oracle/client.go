package oracle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hexfield/hexfield/wire"
)

// Client calls an oracle's HTTP API; the hexfield CLI and the devnet use
// it. Errors from the oracle come back as *APIError.
type Client struct {
	// BaseURL is e.g. "http://127.0.0.1:8090".
	BaseURL string
	// HTTP is the client to use; nil = http.DefaultClient.
	HTTP *http.Client
	// AdminToken is sent as a bearer token on route changes.
	AdminToken string
	// PageSize is the limit asked for per page by listing calls
	// (HotspotsOf); 0 = the oracle's default.
	PageSize int
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Code == "" {
			eb = errorBody{Code: "http_" + fmt.Sprint(resp.StatusCode), Message: strings.TrimSpace(string(b))}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// Onboard submits a signed onboarding request.
func (c *Client) Onboard(ctx context.Context, req OnboardRequest) (HotspotInfo, error) {
	var out HotspotInfo
	err := c.do(ctx, http.MethodPost, "/v1/hotspots", req, &out)
	return out, err
}

// Assert submits a signed location assertion.
func (c *Client) Assert(ctx context.Context, hotspot wire.PublicKey, req AssertRequest) (HotspotInfo, error) {
	var out HotspotInfo
	err := c.do(ctx, http.MethodPost, "/v1/hotspots/"+hotspot.String()+"/location", req, &out)
	return out, err
}

// Hotspot returns a hotspot's status.
func (c *Client) Hotspot(ctx context.Context, hotspot wire.PublicKey) (HotspotStatus, error) {
	var out HotspotStatus
	err := c.do(ctx, http.MethodGet, "/v1/hotspots/"+hotspot.String(), nil, &out)
	return out, err
}

// HotspotsPage returns one page of owner's hotspots: cursor "" is the
// first page, limit 0 the oracle's default.
func (c *Client) HotspotsPage(ctx context.Context, owner wire.PublicKey, cursor string, limit int) (HotspotPage, error) {
	q := url.Values{"owner": {owner.String()}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var out HotspotPage
	err := c.do(ctx, http.MethodGet, "/v1/hotspots?"+q.Encode(), nil, &out)
	return out, err
}

// HotspotsOf returns every hotspot of owner, following the page cursors.
func (c *Client) HotspotsOf(ctx context.Context, owner wire.PublicKey) ([]HotspotInfo, error) {
	var out []HotspotInfo
	seen := map[string]bool{}
	cursor := ""
	for {
		p, err := c.HotspotsPage(ctx, owner, cursor, c.PageSize)
		if err != nil {
			return out, err
		}
		out = append(out, p.Hotspots...)
		if p.NextCursor == "" {
			return out, nil
		}
		if seen[p.NextCursor] {
			return out, fmt.Errorf("hotspots of %s: the oracle returned cursor %q twice", owner, p.NextCursor)
		}
		seen[p.NextCursor] = true
		cursor = p.NextCursor
	}
}

// Routes lists every route.
func (c *Client) Routes(ctx context.Context) ([]Route, error) {
	var out []Route
	err := c.do(ctx, http.MethodGet, "/v1/routes", nil, &out)
	return out, err
}

// PutRoute creates or replaces a route.
func (c *Client) PutRoute(ctx context.Context, r Route) (Route, error) {
	var out Route
	err := c.do(ctx, http.MethodPut, "/v1/routes/"+url.PathEscape(r.ID), r, &out)
	return out, err
}

// DeleteRoute removes a route.
func (c *Client) DeleteRoute(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/routes/"+url.PathEscape(id), nil, nil)
}

// Epoch returns an epoch's state and manifest, with the proof for owner
// when owner is not zero.
func (c *Client) Epoch(ctx context.Context, n uint64, owner wire.PublicKey) (EpochResponse, error) {
	var out EpochResponse
	path := fmt.Sprintf("/v1/epochs/%d", n)
	if !owner.IsZero() {
		path += "?owner=" + owner.String()
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// IsCode reports whether err is an *APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}
