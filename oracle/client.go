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

	"google.golang.org/protobuf/proto"

	"github.com/hexfield/hexfield/wire"
)

// Client calls an oracle's HTTP API; the hexfield CLI and the devnet use
// it. Errors from the oracle come back as *APIError.
type Client struct {
	// BaseURL is e.g. "http://127.0.0.1:8080".
	BaseURL string
	// HTTP is the client to use; nil = http.DefaultClient.
	HTTP *http.Client
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

// Registry returns the oracle's registry settings: fees, NetID, DevAddr
// prefix and whether hotspots need a maker's approval.
func (c *Client) Registry(ctx context.Context) (RegistryInfo, error) {
	var out struct {
		Registry RegistryInfo `json:"registry"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/oracle", nil, &out)
	return out.Registry, err
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
func (c *Client) Routes(ctx context.Context) ([]Route, error) { return c.OrgRoutes(ctx, "") }

// OrgRoutes lists the routes of org (every route when org is empty).
func (c *Client) OrgRoutes(ctx context.Context, org string) ([]Route, error) {
	var out []Route
	path := "/v1/routes"
	if org != "" {
		path += "?org=" + url.QueryEscape(org)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Route returns one route.
func (c *Client) Route(ctx context.Context, id string) (Route, error) {
	var out Route
	err := c.do(ctx, http.MethodGet, "/v1/routes/"+url.PathEscape(id), nil, &out)
	return out, err
}

// OrgChange submits a signed organization or route change to the endpoint
// that takes it.
func (c *Client) OrgChange(ctx context.Context, req OrgChangeRequest) (OrgChangeResult, error) {
	var env wire.Envelope
	var ch wire.OrgChange
	if err := proto.Unmarshal(req.Envelope, &env); err != nil {
		return OrgChangeResult{}, fmt.Errorf("org change: %w", err)
	}
	if err := proto.Unmarshal(env.GetBody(), &ch); err != nil {
		return OrgChangeResult{}, fmt.Errorf("org change: %w", err)
	}
	method, path := http.MethodPost, "/v1/orgs/"+url.PathEscape(ch.GetOrg())
	switch op := ch.GetOp().(type) {
	case *wire.OrgChange_Create:
		path = "/v1/orgs"
	case *wire.OrgChange_PutRoute:
		method, path = http.MethodPut, "/v1/routes/"+url.PathEscape(op.PutRoute.GetId())
	case *wire.OrgChange_DeleteRoute:
		method, path = http.MethodDelete, "/v1/routes/"+url.PathEscape(op.DeleteRoute)
	}
	var out OrgChangeResult
	err := c.do(ctx, method, path, req, &out)
	return out, err
}

// Org returns an organization with its payer's balance and lock state.
func (c *Client) Org(ctx context.Context, id string) (Organization, error) {
	var out Organization
	err := c.do(ctx, http.MethodGet, "/v1/orgs/"+url.PathEscape(id), nil, &out)
	return out, err
}

// OrgsOf lists the organizations key owns, pays for or is a delegate of.
func (c *Client) OrgsOf(ctx context.Context, key wire.PublicKey) ([]Organization, error) {
	var out []Organization
	err := c.do(ctx, http.MethodGet, "/v1/orgs?key="+key.String(), nil, &out)
	return out, err
}

// FreeDevAddr asks for the lowest free run of count DevAddr blocks.
func (c *Client) FreeDevAddr(ctx context.Context, count int) (FreeDevAddr, error) {
	var out FreeDevAddr
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/devaddr/free?count=%d", count), nil, &out)
	return out, err
}

// DCBalance returns a wallet's data credits and its newest limit ledger
// entries.
func (c *Client) DCBalance(ctx context.Context, wallet wire.PublicKey, limit int) (DCBalance, error) {
	var out DCBalance
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/dc/%s?limit=%d", wallet, limit), nil, &out)
	return out, err
}

// DCPurchase returns how treasury transaction sig was credited.
func (c *Client) DCPurchase(ctx context.Context, sig string) (DCPurchase, error) {
	var out DCPurchase
	err := c.do(ctx, http.MethodGet, "/v1/dc/purchases/"+url.PathEscape(sig), nil, &out)
	return out, err
}

// Grant submits an operator-signed data-credit grant.
func (c *Client) Grant(ctx context.Context, req GrantRequest) (GrantResult, error) {
	var out GrantResult
	err := c.do(ctx, http.MethodPost, "/v1/dc/grants", req, &out)
	return out, err
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
