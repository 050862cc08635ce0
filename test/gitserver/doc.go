// Package gitserver serves real bare Git repositories over smart HTTP for
// mlsync's tests and demo. Requests go to `git http-backend` through
// net/http/cgi, exactly as a Git host's HTTP front end would run it, with
// push enabled and optional basic auth. Checkout drives the git CLI the
// way a user pushing spec changes would.
//
//	srv, err := gitserver.Start(gitserver.Options{})
//	defer srv.Close()
//	url, err := srv.CreateRepo("specs", "examples/fraud")
//	co, err := gitserver.Clone(ctx, t.TempDir(), url)
//	co.Write("models/fraud.cue", data); co.CommitAndPush(ctx, "bump replicas")
package gitserver
