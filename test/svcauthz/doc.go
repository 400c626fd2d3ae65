// Package svcauthz holds the services' authorization matrix: every operation of the order,
// payment and inventory services, as their OpenAPI documents list them, called with every
// kind of bearer token (none, forged, expired, another service's, a public-API user's, and
// each service identity's own), over real PostgreSQL. Each cell must get the status the
// written policy says; a refusal must be a problem that leaks nothing, carry its
// WWW-Authenticate challenge and write nothing.
package svcauthz
