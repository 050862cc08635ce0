// Package gitea runs a real Gitea, headless on loopback, for mlsync's
// pull-request tests: built once from the Go module proxy by build.sh
// into the cache directory, started with a SQLite database in a temp
// dir, an admin user and an API token.
//
//	if !gitea.Available() { require.Missing(t, "the Gitea binary", "...", nil) }
//	srv, err := gitea.Start(t.TempDir())
//	defer srv.Close()
//	url, err := srv.CreateRepo("specs", seedDir)
package gitea
