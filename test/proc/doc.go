// Package proc holds what the test harnesses that run a real server
// process (Gitea, Prometheus) share: waiting until it answers its health
// endpoint, or reporting its log when it exits first.
package proc
