//go:build tools

// Package tools keeps istioctl in go.mod/go.sum.
// (istiod, pilot/cmd/pilot-discovery, is not listed: its dependency
// github.com/agentgateway/agentgateway/api is not served by the module proxy here.)
package tools

import _ "istio.io/istio/istioctl/cmd/istioctl"
