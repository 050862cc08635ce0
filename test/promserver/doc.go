// Package promserver runs a real Prometheus (Debian's prometheus
// package) on a loopback port for mlsync's drift tests, scraping the
// given targets every second.
//
//	srv, err := promserver.Start(t.TempDir(), "127.0.0.1:9101")
//	defer srv.Close()
//	srv.URL // http://127.0.0.1:<port>
package promserver
