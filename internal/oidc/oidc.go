// Package oidc verifies tokens of a trusted OIDC issuer, first of all the
// cluster's own service-account tokens, against the issuer's published
// keys (JWKS), and turns their subject into an auth.Grant by a Policy.
// Keys are fetched from the issuer's discovery document, cached, refetched
// in the background and on a token naming an unknown kid (rate-limited),
// never per request. It plugs into auth.Verifier, which sends it every
// token that is not HS256 and caches what it accepts.
package oidc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/gokv-service/gokv/internal/auth"
)

// Methods are the only signing algorithms accepted: what Kubernetes and
// most issuers sign with. Pinning them is what stops "alg: none" and
// HS256 tokens keyed with a public key (alg confusion).
var Methods = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}

// Defaults of the timings in Options.
const (
	// DefaultRefreshInterval: how often the JWKS is refetched in the
	// background. Issuers publish a new key before they sign with it,
	// and the unknown-kid refetch covers one that did not.
	DefaultRefreshInterval = 10 * time.Minute
	// DefaultRefetchInterval: at most one refetch per this long for
	// tokens naming a kid the JWKS lacks, so that made-up kids cannot
	// turn gokv into a load generator against the issuer.
	DefaultRefetchInterval = 30 * time.Second
	// fetchTimeout bounds one fetch of the discovery document or JWKS;
	// a request whose token triggers a refetch waits for it at most this long.
	fetchTimeout = 5 * time.Second
	// Retries of the first fetch, which may fail while the issuer is
	// unreachable (gokv starts anyway), back off between these.
	retryMin = time.Second
	retryMax = 30 * time.Second
	// maxDiscoveryBytes bounds the discovery document read.
	maxDiscoveryBytes = 1 << 20
)

// Options configure a Verifier; the names of the settings they come from
// are in brackets.
type Options struct {
	// IssuerURL is the issuer, exactly as its tokens' iss says it
	// (OIDC_ISSUER_URL); its discovery document is at
	// IssuerURL/.well-known/openid-configuration.
	IssuerURL string
	// Audience must be one of the tokens' aud (OIDC_AUDIENCE).
	Audience string
	// JWKSURL, when set, is where the keys are fetched rather than the
	// discovery document's jwks_uri (OIDC_JWKS_URL). The Kubernetes API
	// server advertises its external address there, which a pod may not
	// reach or trust; its in-cluster name serves the same keys.
	JWKSURL string
	// CAFile, when set, holds the PEM certificates that the issuer's TLS
	// certificate must chain to, instead of the system's (OIDC_CA_FILE).
	CAFile string
	// TokenFile, when set, holds a bearer token sent with the fetches to
	// the issuer's and JWKSURL's hosts (OIDC_TOKEN_FILE): the Kubernetes
	// API server serves its keys only to authenticated callers. It is
	// read again for every fetch, since kubelet rotates projected tokens.
	TokenFile string
	// Policy turns a token's subject into a grant; required.
	Policy *Policy
	// Logger receives fetch failures and successes; required.
	Logger *slog.Logger
	// RefreshInterval and RefetchInterval default to DefaultRefreshInterval
	// and DefaultRefetchInterval.
	RefreshInterval time.Duration
	RefetchInterval time.Duration
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// Verifier verifies the tokens of one issuer. It is safe for concurrent
// use, and implements auth.IssuerVerifier.
type Verifier struct {
	opts   Options
	client *http.Client
	parser *jwt.Parser
	// ctx is New's: it ends the background refetches, and the refetch
	// a token naming an unknown kid triggers runs under it too, so that
	// none outlives the server.
	ctx context.Context
	// keys is nil until the discovery document and JWKS were fetched once.
	keys atomic.Pointer[issuerKeys]
}

type issuerKeys struct {
	keyfunc keyfunc.Keyfunc
	store   *keyStore
}

// New returns a Verifier and starts fetching the issuer's keys in the
// background until ctx is done. It does not wait for them: gokv starts
// while the issuer is unreachable, and until the keys come its tokens
// are refused with 401 (HS256 tokens work all along). Its errors are
// about the options, not the issuer.
func New(ctx context.Context, opts Options) (*Verifier, error) {
	if opts.Policy == nil {
		return nil, errors.New("no policy")
	}
	if opts.Audience == "" {
		return nil, errors.New("no audience")
	}
	issuer, err := url.Parse(opts.IssuerURL)
	if err != nil || issuer.Scheme != "https" || issuer.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an https URL", opts.IssuerURL)
	}
	authHosts := map[string]bool{issuer.Host: true}
	if opts.JWKSURL != "" {
		u, err := url.Parse(opts.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("JWKS URL %q is not an https URL", opts.JWKSURL)
		}
		authHosts[u.Host] = true
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.RefetchInterval <= 0 {
		opts.RefetchInterval = DefaultRefetchInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", opts.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = transport
	if opts.TokenFile != "" {
		rt = &bearerFromFile{next: transport, file: opts.TokenFile, hosts: authHosts}
	}
	v := &Verifier{
		opts: opts,
		// No redirects: the bearer token must not follow one to another host.
		client: &http.Client{Transport: rt, Timeout: fetchTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		parser: jwt.NewParser(
			jwt.WithValidMethods(Methods),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(auth.Leeway),
			jwt.WithIssuer(opts.IssuerURL),
			jwt.WithAudience(opts.Audience),
			jwt.WithTimeFunc(opts.Now),
		),
		ctx: ctx,
	}
	go v.fetchUntilLoaded(ctx)
	return v, nil
}

// fetchUntilLoaded fetches the discovery document and the JWKS, retrying
// with backoff until both succeed once; from then on jwkset refetches.
func (v *Verifier) fetchUntilLoaded(ctx context.Context) {
	log := v.opts.Logger.With("issuer", v.opts.IssuerURL)
	wait := retryMin
	for {
		// The refetches of a successful attempt run in its context; a
		// failed one's end with it.
		attempt, cancel := context.WithCancel(ctx)
		keys, jwksURL, err := v.load(attempt)
		if err == nil {
			context.AfterFunc(ctx, cancel)
			v.keys.Store(keys)
			log.Info("oidc: issuer keys loaded", "jwks_url", jwksURL, "keys", keys.store.count(ctx))
			return
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		log.Warn("oidc: cannot fetch the issuer's keys; its tokens get 401 until then", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// load fetches the discovery document, then the JWKS, and sets up the
// background and unknown-kid refetches, which run until ctx is done.
func (v *Verifier) load(ctx context.Context) (*issuerKeys, string, error) {
	jwksURL, err := v.discover(ctx)
	if err != nil {
		return nil, "", err
	}
	if v.opts.JWKSURL != "" {
		jwksURL = v.opts.JWKSURL
	}
	log := v.opts.Logger.With("issuer", v.opts.IssuerURL, "jwks_url", jwksURL)
	store := newKeyStore()
	remote, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:          v.client,
		Ctx:             ctx,
		HTTPTimeout:     fetchTimeout,
		RefreshInterval: v.opts.RefreshInterval,
		RefreshErrorHandler: func(_ context.Context, err error) {
			log.Warn("oidc: refetching the issuer's JWKS failed; the keys fetched before stay in use", "err", err)
		},
		Storage: store,
	})
	if err != nil {
		return nil, "", fmt.Errorf("fetch JWKS %s: %w", jwksURL, err)
	}
	if store.count(ctx) == 0 {
		return nil, "", fmt.Errorf("JWKS %s holds no key gokv can use", jwksURL)
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{jwksURL: remote},
		RefreshUnknownKID: rate.NewLimiter(rate.Every(v.opts.RefetchInterval), 1),
		// Also bounds the refetch itself, which runs under this wait's
		// context; a wait longer than this fails at once.
		RateLimitWaitMax: fetchTimeout,
	})
	if err != nil {
		return nil, "", fmt.Errorf("JWKS client: %w", err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client})
	if err != nil {
		return nil, "", fmt.Errorf("keyfunc: %w", err)
	}
	return &issuerKeys{keyfunc: kf, store: store}, jwksURL, nil
}

// discover fetches the issuer's discovery document and returns its
// jwks_uri, after checking that it names the configured issuer: a
// document for another issuer means a wrong OIDC_ISSUER_URL, whose
// tokens would all be refused for their iss.
func (v *Verifier) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(v.opts.IssuerURL, "/") + "/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("discovery request: %w", err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch discovery document: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch discovery document %s: status %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscoveryBytes)).Decode(&doc); err != nil {
		return "", fmt.Errorf("decode discovery document %s: %w", u, err)
	}
	if doc.Issuer != v.opts.IssuerURL {
		return "", fmt.Errorf("discovery document %s names issuer %q, not %q", u, doc.Issuer, v.opts.IssuerURL)
	}
	if j, err := url.Parse(doc.JWKSURI); err != nil || j.Scheme != "https" || j.Host == "" {
		return "", fmt.Errorf("discovery document %s: jwks_uri %q is not an https URL", u, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

// VerifyIssued checks token's signature against the issuer's keys, its
// algorithm, iss, aud, exp, nbf and iat, then asks the policy what its
// subject may do. An identity the policy does not name is ErrForbidden.
func (v *Verifier) VerifyIssued(token string) (auth.Verified, error) {
	keys := v.keys.Load()
	var life *auth.KeyLife
	ctx, cancel := context.WithTimeout(v.ctx, fetchTimeout)
	defer cancel()
	var claims jwt.RegisteredClaims
	parsed, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if keys == nil {
			return nil, errNoKeys
		}
		if kid, ok := t.Header["kid"].(string); ok {
			life = keys.store.life(ctx, kid)
		}
		return keys.keyfunc.KeyfuncCtx(ctx)(t)
	})
	if err != nil {
		return auth.Verified{}, fmt.Errorf("%w: %w: %w", auth.ErrInvalidToken, auth.Reason(err, v.opts.Audience, claims.Audience), err)
	}
	// RFC 7515 §4.1.11, as for HS256 tokens: gokv understands no extension.
	if crit, ok := parsed.Header["crit"]; ok {
		return auth.Verified{}, fmt.Errorf("%w: %w: crit header %v names extensions gokv does not understand",
			auth.ErrInvalidToken, auth.ErrInvalidClaims, crit)
	}
	grant, ok := v.opts.Policy.Grant(claims.Subject)
	if !ok {
		return auth.Verified{}, fmt.Errorf("%w: no policy names subject %q", auth.ErrForbidden, claims.Subject)
	}
	return auth.Verified{Grant: grant, Expires: claims.ExpiresAt.Add(auth.Leeway), Key: life}, nil
}

// bearerFromFile adds the token in file to requests for hosts, reading
// it for each request. Other hosts (a jwks_uri elsewhere) never see it.
type bearerFromFile struct {
	next  http.RoundTripper
	file  string
	hosts map[string]bool
}

func (b *bearerFromFile) RoundTrip(req *http.Request) (*http.Response, error) {
	if !b.hosts[req.URL.Host] {
		return b.next.RoundTrip(req)
	}
	token, err := os.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("read token for the issuer: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return b.next.RoundTrip(req)
}
