// Package gomemlimit sets the Go runtime's soft memory limit (GOMEMLIMIT) from the container's
// memory limit, or the host's memory when there is none, so that the garbage collector works
// harder before the kernel's OOM killer would step in.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package gomemlimit
