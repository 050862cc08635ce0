package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mlsync/mlsync/gitsource/webhook"
	"github.com/mlsync/mlsync/reconciler"
)

// metricsRegistry holds the daemon's metrics, served at /metrics.
var metricsRegistry *prometheus.Registry

// serve starts the HTTP endpoints: /metrics, /healthz and /readyz on
// --metrics-addr, the push webhook at /hooks/git on --webhook-addr (the
// same server when the addresses are equal). It returns a function that
// shuts them down.
func (c *runConfig) serve(ctx context.Context, rec *reconciler.Reconciler, log *slog.Logger) (func(), error) {
	muxes := map[string]*http.ServeMux{}
	mux := func(addr string) *http.ServeMux {
		if m, ok := muxes[addr]; ok {
			return m
		}
		m := http.NewServeMux()
		muxes[addr] = m
		return m
	}
	if c.metricsAddr != "" {
		m := mux(c.metricsAddr)
		m.Handle("/metrics", promhttp.HandlerFor(metricsRegistry, promhttp.HandlerOpts{}))
		m.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		m.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !rec.Ready() {
				http.Error(w, "not ready: no revision applied yet", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		})
	}
	if c.webhookAddr != "" {
		secret, err := os.ReadFile(c.webhookKey)
		if err != nil {
			return nil, fmt.Errorf("reading webhook secret: %w", err)
		}
		ref := "refs/heads/" + c.opts.Ref.Branch
		if c.opts.Ref.Branch == "" {
			ref = "" // tags and semver: any push may move them
		}
		mux(c.webhookAddr).Handle("/hooks/git", &webhook.Handler{
			Secret: []byte(strings.TrimRight(string(secret), "\r\n")),
			Ref:    ref,
			OnPush: func(ev webhook.Event) {
				log.Info("webhook push", "provider", string(ev.Provider), "ref", ev.Ref, "after", ev.After)
				rec.Trigger()
			},
		})
	}
	var servers []*http.Server
	for addr, m := range muxes {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		srv := &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		log.Info("serving", "addr", l.Addr().String(), "metrics", addr == c.metricsAddr, "webhook", addr == c.webhookAddr)
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server failed", "addr", addr, "error", err)
			}
		}()
	}
	return func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(shutdown)
		}
	}, nil
}
