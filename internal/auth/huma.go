package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
)

// SchemeName names the bearer security scheme in the OpenAPI documents.
const SchemeName = "bearer"

// realm names the protection space in WWW-Authenticate challenges.
const realm = "sagaflow"

// Requirement is what an operation asks of its caller: a public token holding one of
// Scopes, or a service token from one of Callers.
type Requirement struct {
	Scopes  []string
	Callers []string
}

func (r Requirement) allows(p Principal) bool {
	if p.Unauthenticated {
		return true
	}
	if p.Service {
		return slices.Contains(r.Callers, p.Subject)
	}
	return len(r.Scopes) == 0 && len(r.Callers) == 0 || p.HasAny(r.Scopes...)
}

func (r Requirement) describe() string {
	switch {
	case len(r.Callers) > 0:
		return "Callers: " + strings.Join(r.Callers, ", ") + " (service tokens)."
	case len(r.Scopes) > 0:
		return "Scopes: " + strings.Join(r.Scopes, " or ") + "."
	}
	return "Any valid token."
}

const metadataKey = "sagaflow.auth"

// Protect marks op as needing a bearer token that meets req, declares the scheme on it and
// adds its 401 and 403 answers.
func Protect(op huma.Operation, req Requirement) huma.Operation {
	op.Security = []map[string][]string{{SchemeName: {}}}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[metadataKey] = req
	op.Errors = append(slices.Clone(op.Errors), http.StatusUnauthorized)
	if len(req.Scopes) > 0 || len(req.Callers) > 0 {
		op.Errors = append(op.Errors, http.StatusForbidden)
	}
	if op.Description != "" {
		op.Description += "\n\n"
	}
	op.Description += "Authorization: " + req.describe()
	return op
}

// Declare adds the bearer scheme to api's document and the WWW-Authenticate header to the
// 401 and 403 answers of every protected operation registered after it.
func Declare(api huma.API, description string) {
	oapi := api.OpenAPI()
	if oapi.Components.SecuritySchemes == nil {
		oapi.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	oapi.Components.SecuritySchemes[SchemeName] = &huma.SecurityScheme{
		Type:         "http",
		Scheme:       "bearer",
		BearerFormat: "JWT",
		Description:  description,
	}
	oapi.OnAddOperation = append(oapi.OnAddOperation, func(_ *huma.OpenAPI, op *huma.Operation) {
		if len(op.Security) == 0 {
			return
		}
		for _, status := range []string{"401", "403"} {
			r := op.Responses[status]
			if r == nil {
				continue
			}
			if r.Headers == nil {
				r.Headers = map[string]*huma.Param{}
			}
			r.Headers["WWW-Authenticate"] = &huma.Param{
				Description: "RFC 6750 challenge: error=\"invalid_token\" for a token that is not valid, error=\"insufficient_scope\" with the scope needed",
				Required:    true,
				Schema:      &huma.Schema{Type: huma.TypeString},
			}
		}
	})
}

// TokenVerifier checks a bearer token.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (Principal, error)
}

// Guard enforces each protected operation's Requirement.
type Guard struct {
	verifier TokenVerifier
	// off lets every request through (Unprotected). A guard without a verifier that is not
	// off refuses every token: a missing verifier never means "no authentication".
	off    bool
	logger *slog.Logger
}

// NewGuard returns a guard verifying tokens with v.
func NewGuard(v TokenVerifier, logger *slog.Logger) *Guard {
	return &Guard{verifier: v, logger: logger}
}

// Unprotected returns a guard that lets every request through as an Unauthenticated
// principal. For local use only: callers log a warning at every start.
func Unprotected(logger *slog.Logger) *Guard {
	return &Guard{off: true, logger: logger}
}

// Install adds the guard's middleware to api. Install it before any middleware that needs
// the caller (rate limits are per subject).
func (g *Guard) Install(api huma.API) {
	api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		g.check(api, ctx, next)
	})
}

func (g *Guard) check(api huma.API, ctx huma.Context, next func(huma.Context)) {
	req, protected := ctx.Operation().Metadata[metadataKey].(Requirement)
	if !protected {
		next(ctx)
		return
	}
	if g.off {
		next(huma.WithValue(ctx, principalKey{}, Principal{Unauthenticated: true}))
		return
	}
	raw, present := bearerToken(ctx.Header("Authorization"))
	if !present {
		ctx.SetHeader("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", realm))
		_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "a bearer token is required (Authorization: Bearer <token>)")
		return
	}
	p, err := g.verify(ctx.Context(), raw)
	if err != nil {
		reason := ReasonMalformed
		var te *TokenError
		if errors.As(err, &te) {
			reason = te.Reason
		}
		g.logger.InfoContext(ctx.Context(), "token refused", "operation", ctx.Operation().OperationID, "reason", reason, "error", err.Error())
		ctx.SetHeader("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\", error_description=\"the token is not valid\"", realm))
		_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "the bearer token is not valid")
		return
	}
	if !req.allows(p) {
		g.logger.InfoContext(ctx.Context(), "caller not allowed", "operation", ctx.Operation().OperationID, "subject", p.Subject, "service", p.Service)
		ctx.SetHeader("WWW-Authenticate", insufficientScope(req.Scopes))
		_ = huma.WriteErr(api, ctx, http.StatusForbidden, "the token does not allow this operation")
		return
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}

func (g *Guard) verify(ctx context.Context, raw string) (Principal, error) {
	if g.verifier == nil {
		return Principal{}, refuse(ReasonUnknownKey, errors.New("the guard has no verifier"))
	}
	return g.verifier.Verify(ctx, raw)
}

// insufficientScope is the RFC 6750 challenge of a 403, naming the scopes that would do.
func insufficientScope(scopes []string) string {
	challenge := fmt.Sprintf("Bearer realm=%q, error=\"insufficient_scope\"", realm)
	if len(scopes) > 0 {
		challenge += fmt.Sprintf(", scope=%q", strings.Join(scopes, " "))
	}
	return challenge
}

// bearerToken reads "Bearer <token>" (the scheme is case-insensitive, RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Forbidden is the refusal of a handler that found the caller may not do what it asked
// (another customer's order is answered 404 instead, so its existence does not leak). It
// carries the insufficient_scope challenge every documented 403 has.
func Forbidden(detail string) error {
	return huma.ErrorWithHeaders(problem.New(http.StatusForbidden, problem.CodeForbidden, detail),
		http.Header{"WWW-Authenticate": {insufficientScope(nil)}})
}
